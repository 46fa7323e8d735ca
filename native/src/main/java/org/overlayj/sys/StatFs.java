package org.overlayj.sys;

/** statfs(2) fields. */
public record StatFs(long type, long bsize, long blocks, long bfree, long bavail, long files, long ffree,
                     int fsid0, int fsid1, long namelen, long frsize, long flags) {
    public static final long ST_RDONLY = 1;
    public boolean readOnly() { return (flags & ST_RDONLY) != 0; }
}
