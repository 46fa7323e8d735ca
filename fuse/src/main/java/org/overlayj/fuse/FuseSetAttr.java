package org.overlayj.fuse;

/**
 * A SETATTR request (struct fuse_setattr_in). {@code valid} holds FATTR_* bits saying which fields count.
 */
public record FuseSetAttr(int valid, long fh, long size, long atime, int atimeNsec, long mtime, int mtimeNsec,
                          int mode, int uid, int gid) {
    public static final int MODE = 1, UID = 1 << 1, GID = 1 << 2, SIZE = 1 << 3, ATIME = 1 << 4, MTIME = 1 << 5,
            FH = 1 << 6, ATIME_NOW = 1 << 7, MTIME_NOW = 1 << 8, LOCKOWNER = 1 << 9, CTIME = 1 << 10,
            KILL_SUIDGID = 1 << 11;

    public boolean has(int bit) { return (valid & bit) != 0; }
}
