package org.overlayj.fuse;

/** statfs as the protocol carries it (struct fuse_kstatfs). */
public record FuseStatFs(long blocks, long bfree, long bavail, long files, long ffree, int bsize, int namelen,
                         int frsize) {}
