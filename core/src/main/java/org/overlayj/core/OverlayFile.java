package org.overlayj.core;

import java.lang.foreign.MemorySegment;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.concurrent.locks.Lock;

/**
 * The open files of the overlay (the kernel's file.c): open (copying the data up for a write), reads and writes on
 * the real file, its reopen on the upper copy, the atime a read of a metadata-only copy moves, fsync, llseek's
 * SEEK_DATA/SEEK_HOLE, truncate and fallocate through the file, release. The namespace operations among these run
 * under the facade's locks ({@link Overlay}; each method says which its caller holds); data I/O takes no lock but
 * the read lock for the moments noted (a reopen on the upper copy, an atime update) and a barrier at release.
 */
final class OverlayFile {
    private final OverlayFs fs;
    private final Namespace namespace;
    private final CopyUp copyUp;
    private final OverlayInode inode;

    OverlayFile(OverlayFs fs, Namespace namespace, CopyUp copyUp, OverlayInode inode) {
        this.fs = fs;
        this.namespace = namespace;
        this.copyUp = copyUp;
        this.inode = inode;
    }

    private Lock read() {
        Lock l = fs.lock.readLock();
        l.lock();
        return l;
    }

    /** The permission mask an open with {@code flags} is checked for. */
    static int mask(int flags) {
        int acc = flags & Linux.O_ACCMODE;
        return (acc == Linux.O_RDONLY ? Permissions.R : acc == Linux.O_WRONLY ? Permissions.W
                : Permissions.R | Permissions.W) | ((flags & Linux.O_TRUNC) != 0 ? Permissions.W : 0);
    }

    /** Whether {@code c} may open {@code n} so, for a copy ahead; caller holds the read lock. */
    void openAllowed(Node n, int flags, int mask, Creds c, boolean ownerOverride) throws ErrnoException {
        fs.fileAttr.checkOpen(n, flags);
        Permissions.checkData(inode.attr(n), mask, c, fs.paths.aclOf(n), ownerOverride);
    }

    /**
     * Opens {@code n} (see {@link Overlay#open}); caller holds the write lock when {@code wants} (a write or
     * O_TRUNC open, which copies up), else the read lock.
     */
    OpenFile open(Node n, int flags, int mask, Creds c, boolean ownerOverride, boolean wants) throws ErrnoException {
        Attr a = inode.attr(n);
        if (n.isDir() && (mask & Permissions.W) != 0) throw OverlayFs.err(Errno.EISDIR, "open for write");
        if (wants) fs.fileAttr.checkOpen(n, flags);
        Permissions.checkData(a, mask, c, fs.paths.aclOf(n), ownerOverride);
        if (wants && n.type == Stat.S_IFREG) copyUp.copyUpData(n);
        int real = flags & ~(Linux.O_CREAT | Linux.O_EXCL | Linux.O_NOCTTY) | Linux.O_NOFOLLOW;
        boolean upper = RealPaths.dataOnUpper(n);
        if (!upper && fs.layers.readOnly() && n.type == Stat.S_IFREG && !n.metacopy()) {
            // No upper layer: nothing is ever copied up, so this lower fd is the file's data for good (finalFd)
            int fd = fs.paths.openLowerNoatime(fs.paths.dataPath(n), real & ~Linux.O_NOFOLLOW);
            if (fd >= 0) return opened(new OpenFile(n, flags, fd, false, true));
        }
        int fd = openData(n, real & ~Linux.O_NOFOLLOW);
        return opened(new OpenFile(n, flags, fd, upper));
    }

    /** Creates and opens a regular file (see {@link Overlay#createOpen}); caller holds the write lock. */
    Overlay.Created createOpen(Node dir, String name, int mode, int flags, Creds c) throws ErrnoException {
        Namespace.Made m = namespace.make(dir, name, Stat.S_IFREG | (mode & 07777), 0, null,
                flags & ~(Linux.O_CREAT | Linux.O_EXCL | Linux.O_TRUNC | Linux.O_NOCTTY), c);
        OpenFile f = opened(new OpenFile(m.node(), flags, m.fd(), true));
        return new Overlay.Created(f, inode.attr(m.node(), m.st()));
    }

    /**
     * A write open of a regular file whose data is on its upper inode already: nothing is copied up and no name
     * changes, so it runs under the read lock and counts no change. The write lock would count one (Overlay#write),
     * and every change voids what handle decodes remembered: an NFS server, which opens the file for each WRITE
     * call, then decoded every handle of every client from scratch (open_by_handle_at, readlink, stats, xattrs:
     * about 8 system calls per WRITE). Null when a copy-up may be due: the caller takes
     * the write path. Caller holds the read lock.
     */
    OpenFile openWritableInPlace(Node n, int flags, int mask, Creds c, boolean ownerOverride)
            throws ErrnoException {
        if (n.type != Stat.S_IFREG || !n.isUpper() || n.metacopy() || fs.layers.readOnly() || n.hasPendingAlias()) {
            return null;    // (a pending alias: reached through a name to link up, CopyUp#copyUp)
        }
        fs.fileAttr.checkOpen(n, flags);
        Permissions.checkData(inode.attr(n), mask, c, fs.paths.aclOf(n), ownerOverride);
        int fd = openData(n, flags & ~(Linux.O_CREAT | Linux.O_EXCL | Linux.O_NOCTTY | Linux.O_NOFOLLOW));
        return opened(new OpenFile(n, flags, fd, true));
    }

    /** Registers a file as open on its node: once the node's names are gone, its inode is reached through it. */
    static OpenFile opened(OpenFile f) {
        synchronized (f.node.openFiles) {
            f.node.openFiles.add(f);
        }
        return f;
    }

    /**
     * The kernel reads lower files through a private noatime mount of the layer, so reading never moves a lower
     * atime (upper atimes do move: it touches the upper inode itself). O_NOATIME does the same for us; it needs
     * ownership or CAP_FOWNER, and without them the kernel drops the flag too.
     */
    private int openData(Node n, int flags) throws ErrnoException {
        String path = fs.paths.dataPath(n);
        if (RealPaths.dataOnUpper(n)) return fs.paths.openReal(path, flags);
        try {
            return fs.paths.openReal(path, flags | Linux.O_NOATIME);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EPERM) throw e;
            return fs.paths.openReal(path, flags);
        }
    }

    /** A file opened on the lower inode reads the upper copy once there is one (the kernel reopens lazily too). */
    private int fdOf(OpenFile f) throws ErrnoException {
        if (!f.onUpper && RealPaths.dataOnUpper(f.node)) {
            Lock l = read();
            try {
                f.reopenOnUpper(fs);
            } finally {
                l.unlock();
            }
        }
        return f.fd;
    }

    /** The real fd that reads of {@code f} go to right now (see {@link Overlay#dataFd}). */
    int dataFd(OpenFile f) throws ErrnoException {
        moveAtime(f);
        return fdOf(f);
    }

    /**
     * A read of a metadata-only copy reads the lower data file (which keeps its atime, as all lower files do), but
     * the kernel's overlay moves the atime of the upper inode then, by the relatime rule, as a read of an upper file
     * would: so do we, at the first read through each open file.
     */
    private void moveAtime(OpenFile f) {
        if (f.atimeMoved || !f.node.metacopy()) return;
        f.atimeMoved = true;
        Lock l = read();
        try {
            if (!f.node.metacopy()) return;
            String p = fs.paths.realPath(f.node);
            Stat st = Linux.lstat(p);
            long now = System.currentTimeMillis() / 1000;
            boolean due = !after(st.atimeSec(), st.atimeNsec(), st.mtimeSec(), st.mtimeNsec())
                    || !after(st.atimeSec(), st.atimeNsec(), st.ctimeSec(), st.ctimeNsec())
                    || now - st.atimeSec() >= 24 * 3600;
            if (due) Linux.utimens(p, 0, Linux.UTIME_NOW, 0, Linux.UTIME_OMIT, true);
        } catch (ErrnoException e) {
            // an atime is not worth failing a read for
        } finally {
            l.unlock();
        }
    }

    private static boolean after(long sec, long nsec, long otherSec, long otherNsec) {
        return sec > otherSec || sec == otherSec && nsec > otherNsec;
    }

    /** The real fd of {@code f} when no copy-up will ever replace it, else -1 (see {@link Overlay#finalFd}). */
    int finalFd(OpenFile f) {
        return f.fixed ? f.fd : -1;
    }

    int read(OpenFile f, long offset, byte[] buf, int off, int len) throws ErrnoException {
        moveAtime(f);
        int fd = fdOf(f);
        int total = 0;
        while (total < len) {
            int n = Linux.pread(fd, buf, off + total, len - total, offset + total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    int write(OpenFile f, long offset, byte[] buf, int off, int len) throws ErrnoException {
        if ((f.flags & Linux.O_ACCMODE) == Linux.O_RDONLY) throw OverlayFs.err(Errno.EBADF, "not open for write");
        int total = 0;
        while (total < len) total += Linux.pwrite(f.fd, buf, off + total, len - total, offset + total);
        return total;
    }

    /** {@link #write(OpenFile, long, byte[], int, int)} from native memory (see {@link Overlay#write}). */
    long write(OpenFile f, long offset, MemorySegment data) throws ErrnoException {
        if ((f.flags & Linux.O_ACCMODE) == Linux.O_RDONLY) throw OverlayFs.err(Errno.EBADF, "not open for write");
        long total = 0, len = data.byteSize();
        while (total < len) total += Linux.pwrite(f.fd, data.asSlice(total), offset + total);
        return total;
    }

    void fsync(OpenFile f, boolean dataOnly) throws ErrnoException {
        int fd = fdOf(f);
        if (dataOnly) Linux.fdatasync(fd);
        else Linux.fsync(fd);
    }

    void release(OpenFile f) throws ErrnoException {
        Node n = f.node;
        synchronized (n.openFiles) {
            n.openFiles.remove(f);
        }
        if (n.everUnlinked()) {
            // a reader under the read lock may have taken this file's fd as the node's path (RealPaths#realPath):
            // it must be done with it before the fd number is closed and can name another file
            Lock l = fs.lock.writeLock();
            l.lock();
            l.unlock();
        }
        int fd;
        synchronized (f) {
            fd = f.fd;
            f.fd = -1;
            Linux.closeQuietly(f.replacedFd);
            f.replacedFd = -1;
        }
        Linux.close(fd);
    }

    // --- calls on an open file (the kernel's file.c: llseek, setattr with ATTR_FILE, fallocate, fsync) -------------

    /** SEEK_DATA / SEEK_HOLE (see {@link Overlay#seekDataOrHole}). No lock. */
    long seekDataOrHole(OpenFile f, long offset, int whence) throws ErrnoException {
        if (whence != Linux.SEEK_DATA && whence != Linux.SEEK_HOLE) {
            throw OverlayFs.err(Errno.EINVAL, "whence " + whence);
        }
        // the engine reads and writes with offsets (pread/pwrite): moving the real fd's position disturbs nothing
        return Linux.lseek(fdOf(f), offset, whence);
    }

    /** EINVAL unless {@code f} is open for writing and {@code size} is not negative; before any lock. */
    static void checkTruncate(OpenFile f, long size) throws ErrnoException {
        if ((f.flags & Linux.O_ACCMODE) == Linux.O_RDONLY) throw OverlayFs.err(Errno.EINVAL, "not open for write");
        if (size < 0) throw OverlayFs.err(Errno.EINVAL, "negative size");
    }

    /** ftruncate(2) through the open file (see {@link Overlay#truncate}); caller holds the write lock. */
    Attr truncate(OpenFile f, long size) throws ErrnoException {
        fs.fileAttr.checkFtruncate(f.node);
        Linux.ftruncate(writableFd(f), size);
        return inode.attr(f.node);
    }

    /** EBADF unless {@code f} is open for writing; before any lock. */
    static void checkFallocate(OpenFile f) throws ErrnoException {
        if ((f.flags & Linux.O_ACCMODE) == Linux.O_RDONLY) throw OverlayFs.err(Errno.EBADF, "not open for write");
    }

    /** fallocate(2) through the open file (see {@link Overlay#fallocate}); caller holds the write lock. */
    Attr fallocate(OpenFile f, int mode, long offset, long length) throws ErrnoException {
        fs.fileAttr.checkFallocate(f.node, mode);
        Linux.fallocate(writableFd(f), mode, offset, length);
        return inode.attr(f.node);
    }

    /**
     * The real fd of a file open for writing: its upper inode's, since {@link #open} copies the data up before it
     * opens for writing. Anything else is a file this engine did not open for writing.
     */
    private static int writableFd(OpenFile f) throws ErrnoException {
        if (!f.onUpper) throw OverlayFs.err(Errno.EBADF, "not open on the upper inode");
        return f.fd;
    }

    /**
     * A new fd on the upper inode of {@code n} to fsync (see {@link Overlay#fsync(Node, boolean)}), or -1 when
     * there is nothing to sync. Caller holds the read lock: an unlinked object's path is an open file's fd, valid
     * only meanwhile.
     */
    int openToSync(Node n, boolean dataOnly) throws ErrnoException {
        if (!n.isUpper() && n.indexPath() == null) return -1;
        if (dataOnly && n.metacopy()) return -1;
        // a removed directory (a process kept it open or as its cwd) is reached by no name nor fd any more;
        // the kernel's fsync of it succeeds too
        if (n.isDir() && n.unlinked()) return -1;
        int flags;
        if (n.isDir()) flags = Linux.O_RDONLY | Linux.O_DIRECTORY;
        else if (n.type == Stat.S_IFREG) flags = Linux.O_RDONLY | Linux.O_NONBLOCK;
        else return -1;
        // opened under the lock: an unlinked object's path is an open file's fd, valid only meanwhile
        return fs.paths.openReal(n.isUpper() ? fs.paths.upperPath(n) : fs.paths.realPath(n), flags);
    }

    /** fsync (or fdatasync) of an fd {@link #openToSync} opened, which it closes; no lock. */
    static void syncAndClose(int fd, boolean dataOnly) throws ErrnoException {
        try {
            if (dataOnly) Linux.fdatasync(fd);
            else Linux.fsync(fd);
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    /** The checks an open of {@code f}'s node would make now ({@link Overlay#checkReuse}); caller holds the read lock. */
    void checkReuse(OpenFile f, Attr a, int mask, Creds c, boolean ownerOverride) throws ErrnoException {
        if (f.fd < 0) throw OverlayFs.err(Errno.EBADF, "released");
        fs.fileAttr.checkOpen(f.node, f.flags);
        Permissions.checkData(a, mask, c, fs.paths.aclOf(f.node), ownerOverride);
    }
}
