package org.overlayj.fuse;

import org.overlayj.sys.ErrnoException;

/**
 * Sends a READ reply whose data is taken from a file by the kernel (splice), not read into our memory first: the
 * thread that serves the request offers one to the {@link FuseDispatcher}. The dispatcher stays free of I/O; a
 * dispatcher with no sender (tests) builds the reply in memory.
 */
@FunctionalInterface
public interface FileDataSender {
    /**
     * Replies to request {@code unique} with up to {@code size} bytes of {@code fd} from {@code offset} (fewer at
     * end of file). Returns false, having sent nothing, when it cannot splice at all; throws the errno of a failed
     * read of {@code fd}, having sent nothing; returns true once the reply was written, or was dropped because the
     * request is gone (interrupted).
     */
    boolean sendRead(long unique, int fd, long offset, int size) throws ErrnoException;
}
