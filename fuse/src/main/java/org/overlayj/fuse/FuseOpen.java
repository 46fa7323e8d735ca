package org.overlayj.fuse;

/** An open answer (struct fuse_open_out): the file handle the kernel passes back, and FOPEN_* flags. */
public record FuseOpen(long fh, int openFlags) {
    public static final int DIRECT_IO = 1, KEEP_CACHE = 1 << 1, NONSEEKABLE = 1 << 2, CACHE_DIR = 1 << 3;
}
