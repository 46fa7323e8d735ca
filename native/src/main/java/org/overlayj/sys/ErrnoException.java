package org.overlayj.sys;

import java.io.IOException;

/**
 * A failed Linux call, or an overlay rule refusing an operation: carries the errno the kernel would return.
 * One exception type across native, engine and doors, so a door maps errors by number and nothing else.
 */
public final class ErrnoException extends IOException {
    private final int errno;

    public ErrnoException(int errno, String message) {
        super(Errno.name(errno) + ": " + message);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }

    /** The message without the errno name prefix. */
    public String detail() {
        String m = getMessage();
        int i = m.indexOf(": ");
        return i < 0 ? m : m.substring(i + 2);
    }
}
