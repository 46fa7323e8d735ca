package org.overlayj.sys;

import java.io.IOException;

/**
 * A failed Linux call, or an overlay rule refusing an operation: carries the errno the kernel would return.
 * One exception type across native, engine and doors, so a door maps errors by number and nothing else.
 *
 * <p>No stack trace by default: an errno is an ordinary answer (ENOENT for every failed lookup, ENODATA for every
 * absent xattr the kernel asks for on each write), and filling in a stack trace cost more than the system call
 * that failed. {@code -Doverlayj.errnoStackTraces=true} brings them back for debugging.
 */
public final class ErrnoException extends IOException {
    private static final boolean STACK_TRACES = Boolean.getBoolean("overlayj.errnoStackTraces");
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

    @Override public synchronized Throwable fillInStackTrace() {
        return STACK_TRACES ? super.fillInStackTrace() : this;
    }
}
