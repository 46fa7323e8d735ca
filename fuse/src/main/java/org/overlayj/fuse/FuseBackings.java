package org.overlayj.fuse;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

/**
 * FUSE passthrough (Linux 6.9): a filesystem hands the kernel a real file, and the kernel then reads, writes and
 * maps an open file on it itself, with no READ or WRITE requests. The kernel lets one backing file at a time serve
 * a FUSE inode's open files, and none while it has the inode open without one (its page cache): the filesystem
 * keeps to that when it chooses (an open that breaks it fails with EBUSY or ETXTBSY).
 */
public interface FuseBackings {
    /** Registers the file {@code fd} is open on; the id goes into OPEN and CREATE replies ({@link FuseOpen}). */
    int open(int fd) throws ErrnoException;

    /** The id will not be handed out again; files the kernel opened with it keep their backing file. */
    void close(int id);

    /** No passthrough: the kernel did not agree to it, or there is no kernel (tests). */
    FuseBackings NONE = new FuseBackings() {
        @Override public int open(int fd) throws ErrnoException {
            throw new ErrnoException(Errno.EOPNOTSUPP, "no FUSE passthrough");
        }

        @Override public void close(int id) {}
    };
}
