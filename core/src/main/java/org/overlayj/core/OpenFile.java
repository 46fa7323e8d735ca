package org.overlayj.core;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.List;

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
    /**
     * Whether the fd is the file's data for as long as it is open: opened on the upper inode, or on a lower inode
     * of a read-only overlay (no copy-up ever) through the layer's noatime clone ({@link RealPaths#openLowerNoatime}).
     */
    final boolean fixed;
    /** A metadata-only copy read through this file had its upper atime moved already (once per open file). */
    volatile boolean atimeMoved;

    OpenFile(Node node, int flags, int fd, boolean onUpper) {
        this(node, flags, fd, onUpper, onUpper);
    }

    OpenFile(Node node, int flags, int fd, boolean onUpper, boolean fixed) {
        this.node = node;
        this.flags = flags;
        this.fd = fd;
        this.onUpper = onUpper;
        this.openedOnUpper = onUpper;
        this.fixed = fixed;
    }

    public Node node() { return node; }

    /**
     * Moves the files open on {@code n}'s lower inode to its upper copy, if it has one by now, while its name still
     * leads there: before a change that takes the name away (unlink, a rename over it), after which the upper
     * inode could only be found through an fd. A file open on the lower inode reads the upper copy from then on, as
     * the kernel's overlay reopens a lower file on its copy-up (ovl_real_fdget). Callers hold the namespace lock.
     */
    static void reopenOnUpper(OverlayFs fs, Node n) throws ErrnoException {
        if (!RealPaths.dataOnUpper(n)) return;
        List<OpenFile> files;
        synchronized (n.openFiles) {
            files = List.copyOf(n.openFiles);
        }
        for (OpenFile f : files) f.reopenOnUpper(fs);
    }

    /** The lower fd is replaced by one on the node's upper inode (see {@link #replacedFd}). */
    synchronized void reopenOnUpper(OverlayFs fs) throws ErrnoException {
        if (onUpper || fd < 0) return;
        int up = fs.paths.openReal(fs.paths.realPath(node), Linux.O_RDONLY);
        replacedFd = fd;
        fd = up;
        onUpper = true;
    }

    public int flags() { return flags; }
}
