package org.overlayj.core;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Fsxattr;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * The inode operations of the overlay (the kernel's inode.c): attributes (getattr), their changes (setattr, the
 * privileges a write or chown drops), permission and access, readlink, and the inode flags (chattr). The locks are
 * the facade's ({@link Overlay}): each method says which one its caller holds.
 */
final class OverlayInode {
    private final OverlayFs fs;
    private final Namespace namespace;
    private final CopyUp copyUp;

    OverlayInode(OverlayFs fs, Namespace namespace, CopyUp copyUp) {
        this.fs = fs;
        this.namespace = namespace;
        this.copyUp = copyUp;
    }

    /** ENOTDIR, or EACCES unless {@code c} may search {@code dir}; root may search any directory, so no stat then. */
    void searchable(Node dir, Creds c) throws ErrnoException {
        if (!dir.isDir()) throw OverlayFs.err(Errno.ENOTDIR, "lookup");
        if (!c.isRoot()) Permissions.check(attr(dir), Permissions.X, c, fs.paths.aclOf(dir));
    }

    /** The attributes of {@code n}, remembered as its last stat; caller holds the read lock. */
    Attr getattr(Node n) throws ErrnoException {
        Stat st = realStat(n);
        n.realStat = new Node.RealStat(st, n.isUpper(), fs.changes);
        return attr(n, st);
    }

    /** The attributes of {@code n}: {@link Getattr}, the one builder. */
    Attr attr(Node n) throws ErrnoException {
        return Getattr.of(fs, n);
    }

    private Stat realStat(Node n) throws ErrnoException {
        return Getattr.realStat(fs, n);
    }

    Attr attr(Node n, Stat st) throws ErrnoException {
        return Getattr.of(fs, n, st);
    }

    /** Whether {@code c} may make setattr {@code a} on {@code n}, for a copy ahead; caller holds the read lock. */
    void setattrAllowed(Node n, SetAttr a, Creds c, boolean ownerOverride) throws ErrnoException {
        namespace.setattrAllowed(n, a, c, ownerOverride);
    }

    /** chmod / chown / truncate / utimes, copying the object up first; caller holds the write lock. */
    Attr setattr(Node n, SetAttr a, Creds c, boolean ownerOverride) throws ErrnoException {
        namespace.setattr(n, a, c, ownerOverride);
        return attr(n);
    }

    /**
     * Whether {@link #mayDropPrivs} has anything to check: for a regular file no one holds open for writing, and a
     * caller other than root (see {@link Overlay#mayDropPrivs}). No lock.
     */
    static boolean dropPrivsChecked(Node n, Creds c) {
        if (n.type != Stat.S_IFREG || c.isRoot()) return false;
        synchronized (n.openFiles) {
            for (OpenFile f : n.openFiles) if ((f.flags & Linux.O_ACCMODE) != Linux.O_RDONLY) return false;
        }
        return true;
    }

    /** EPERM unless {@code c} may have the privileges of {@code n} dropped; caller holds the read lock. */
    void mayDropPrivs(Node n, Creds c) throws ErrnoException {
        Attr a = attr(n);
        if (c.uid() != a.uid() && privsKept(a, () -> c) != a.mode()) throw OverlayFs.err(Errno.EPERM, "chown");
    }

    /** Whether a write by {@code caller} would clear privileges of {@code n}; caller holds the read lock. */
    boolean privsToKill(Node n, java.util.function.Supplier<Creds> caller) throws ErrnoException {
        if (n.type != Stat.S_IFREG) return false;
        Attr a = attr(n);
        return privsKept(a, caller) != a.mode();
    }

    /** Clears the privileges a write by {@code caller} clears; caller holds the write lock. */
    boolean killPrivs(Node n, java.util.function.Supplier<Creds> caller) throws ErrnoException {
        Attr a = attr(n);
        int kept = privsKept(a, caller);
        if (kept == a.mode()) return false;
        namespace.setattr(n, SetAttr.chmod(kept & 07777), Creds.ROOT, false);
        return true;
    }

    /**
     * The mode {@code a} has once the privileges a write by {@code caller} clears are cleared: set-group-ID without
     * group-execute stays for a member of the file's group or root (in_group_or_capable).
     */
    private static int privsKept(Attr a, java.util.function.Supplier<Creds> caller) {
        int mode = a.mode() & ~Stat.S_ISUID;
        if ((mode & Stat.S_ISGID) != 0 && (mode & Stat.S_IXGRP) == 0) {
            Creds c = caller.get();
            if (c.isRoot() || c.inGroup(a.gid())) return mode;
        }
        return mode & ~Stat.S_ISGID;
    }

    /** The target of a symlink; caller holds the read lock. */
    String readlink(Node n) throws ErrnoException {
        if (n.type != Stat.S_IFLNK) throw OverlayFs.err(Errno.EINVAL, "not a symlink");
        return fs.paths.readlinkReal(fs.paths.realPath(n));
    }

    /** Access check for {@code c} (see {@link Overlay#access}); caller holds the read lock. */
    void access(Node n, int mask, Creds c) throws ErrnoException {
        Attr a = attr(n);
        if ((mask & Permissions.W) != 0 && fs.layers.readOnly()) throw OverlayFs.err(Errno.EROFS, "read-only overlay");
        if ((mask & Permissions.W) != 0) fs.fileAttr.checkWrite(n);    // immutable: EPERM, before EACCES
        Permissions.check(a, mask, c, fs.paths.aclOf(n));
    }

    // --- inode flags (chattr / lsattr; the kernel's ovl_fileattr_get/set, see FileAttr) --------------------------

    /** FS_IOC_GETFLAGS (see {@link Overlay#getFlags}); caller holds the read lock. */
    int getFlags(Node n) throws ErrnoException {
        return fs.fileAttr.flags(n);
    }

    /** FS_IOC_FSGETXATTR (see {@link Overlay#getFsxattr}); caller holds the read lock. */
    Fsxattr getFsxattr(Node n) throws ErrnoException {
        return fs.fileAttr.fsxattr(n);
    }

    /** EROFS on a read-only overlay, ENOTTY for other than regular files and directories; before any lock. */
    void fileAttrSettable(Node n) throws ErrnoException {
        if (fs.layers.readOnly()) throw OverlayFs.err(Errno.EROFS, "read-only overlay");
        if (!n.isDir() && n.type != Stat.S_IFREG) throw OverlayFs.err(Errno.ENOTTY, "inode flags of a special file");
    }

    /** Sets the inode flags (see {@link Overlay#setFlags}); caller holds the write lock. */
    void setFileAttr(Node n, int prot, Creds c, FileAttr.RealSet real) throws ErrnoException {
        Permissions.owner(attr(n), c);
        if (!c.isRoot() && prot != fs.fileAttr.prot(n))
            throw OverlayFs.err(Errno.EPERM, "append-only and immutable are root's to change");
        copyUp.copyUp(n);
        fs.fileAttr.set(n, prot, real);
    }
}
