package org.overlayj.core;

/**
 * An open overlay file: the node and the real file descriptor it reads and writes. A door keeps it between open
 * and release; the engine owns the fd.
 */
public final class OpenFile {
    final Node node;
    final int flags;
    volatile int fd;
    /** Which real inode the fd is on: lower files are reopened on the upper copy after a copy-up. */
    volatile boolean onUpper;
    /**
     * The lower fd a reopen on the upper copy replaced: closed at release, not at the reopen, since another thread
     * may be reading through it right then (and a closed fd number is soon another file's).
     */
    volatile int replacedFd = -1;
    /** Whether the fd was opened on the upper inode: then it is never replaced. */
    final boolean openedOnUpper;
    /** A metadata-only copy read through this file had its upper atime moved already (once per open file). */
    volatile boolean atimeMoved;

    OpenFile(Node node, int flags, int fd, boolean onUpper) {
        this.node = node;
        this.flags = flags;
        this.fd = fd;
        this.onUpper = onUpper;
        this.openedOnUpper = onUpper;
    }

    public Node node() { return node; }

    public int flags() { return flags; }
}
