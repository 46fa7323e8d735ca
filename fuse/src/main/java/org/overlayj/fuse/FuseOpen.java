package org.overlayj.fuse;

/**
 * An open answer (struct fuse_open_out): the file handle the kernel passes back, FOPEN_* flags, and with
 * {@link #PASSTHROUGH} the id of the backing file the kernel does the file's I/O on ({@link FuseBackings}).
 */
public record FuseOpen(long fh, int openFlags, int backingId) {
    public static final int DIRECT_IO = 1, KEEP_CACHE = 1 << 1, NONSEEKABLE = 1 << 2, CACHE_DIR = 1 << 3,
            PASSTHROUGH = 1 << 7;

    public FuseOpen(long fh, int openFlags) {
        this(fh, openFlags, 0);
    }
}
