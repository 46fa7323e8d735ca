package org.overlayj.core;

import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Fsxattr;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * Inode flags ({@code chattr}/{@code lsattr}: FS_IOC_GETFLAGS/SETFLAGS, FS_IOC_FSGETXATTR/FSSETXATTR) as the
 * kernel's overlay keeps them (its fileattr code in inode.c and copy_up.c, protattr in util.c; format doc E8c):
 * <ul>
 * <li>Reading gives the real inode's flags (upper, else the top lower), plus the protection of the overlay inode.</li>
 * <li>The protection flags, append-only and immutable, never go on an upper inode: they would keep the overlay
 * itself from linking, renaming and marking it. They are kept in {@code NS protattr} on the upper inode ("a", "i",
 * "ai"); the overlay inode is protected by those letters and by the real inode's own flags (a lower file made
 * immutable in its layer; an upper one made so outside the mount, xfstests overlay/027).</li>
 * <li>Setting copies the object up, writes or removes {@code NS protattr}, and sets the other flags on the upper
 * inode (nodump, noatime, sync, project id, ...), as the real filesystem takes them.</li>
 * <li>A copy-up carries sync and noatime to the upper inode, append-only and immutable into {@code NS protattr};
 * nothing else (not nodump, not the project id).</li>
 * <li>The protection is enforced by the engine (the checks below), since the real inodes do not carry it and a
 * door's client (FUSE) does not know it: the VFS's rules for IS_IMMUTABLE / IS_APPEND inodes, as measured on the
 * kernel overlay (6.18): no write open, truncate, chmod, chown, explicit times, xattr change, link, unlink or
 * rename of a protected object; an append-only file opens for writing with O_APPEND only, and may be touched; an
 * immutable directory takes no new names, an append-only one takes new names but loses none.</li>
 * </ul>
 * What an object's protection is, is cached on its node ({@link Node#prot}): changes come through here
 * ({@link #set}) or are edits to the layers while mounted (undefined, as for the kernel).
 */
final class FileAttr {
    /** FS_*_FL (uapi linux/fs.h) this class acts on. */
    static final int FS_SYNC_FL = 0x08, FS_IMMUTABLE_FL = 0x10, FS_APPEND_FL = 0x20, FS_NOATIME_FL = 0x80;
    /** The flags that protect an inode, kept in {@code NS protattr} on the upper inode (OVL_PROT_FS_FLAGS_MASK). */
    static final int PROT_FLAGS = FS_APPEND_FL | FS_IMMUTABLE_FL;
    /** The flags a copy-up puts on the upper inode itself (OVL_COPY_FS_FLAGS_MASK). */
    static final int COPY_FLAGS = FS_SYNC_FL | FS_NOATIME_FL;
    private static final int FALLOC_FL_KEEP_SIZE = 1;

    private final OverlayFs fs;

    FileAttr(OverlayFs fs) {
        this.fs = fs;
    }

    // --- NS protattr: the one reading and writing of its value ----------------------------------------------------

    /**
     * The protection flags a {@code NS protattr} value gives: 'a' append-only, 'i' immutable. Null when the kernel
     * would ignore the value (empty, another letter, more than 32 bytes: OverlayXattr#validProtattr).
     */
    static Integer protattrFlags(byte[] v) {
        if (!OverlayXattr.validProtattr(v)) return null;
        int f = 0;
        for (byte b : v) f |= b == 'a' ? FS_APPEND_FL : FS_IMMUTABLE_FL;
        return f;
    }

    /** The value for protection flags {@code f} (not 0), as the kernel writes it: 'a' before 'i'. */
    static byte[] protattrValue(int f) {
        StringBuilder b = new StringBuilder(2);
        if ((f & FS_APPEND_FL) != 0) b.append('a');
        if ((f & FS_IMMUTABLE_FL) != 0) b.append('i');
        return Linux.bytesOf(b.toString());
    }

    static int toXflags(int prot) {
        return ((prot & FS_APPEND_FL) != 0 ? Fsxattr.FS_XFLAG_APPEND : 0)
                | ((prot & FS_IMMUTABLE_FL) != 0 ? Fsxattr.FS_XFLAG_IMMUTABLE : 0);
    }

    static int fromXflags(int xflags) {
        return ((xflags & Fsxattr.FS_XFLAG_APPEND) != 0 ? FS_APPEND_FL : 0)
                | ((xflags & Fsxattr.FS_XFLAG_IMMUTABLE) != 0 ? FS_IMMUTABLE_FL : 0);
    }

    // --- the protection of an overlay inode ----------------------------------------------------------------------

    /**
     * {@link #PROT_FLAGS} of {@code n}: its real inode's own (statx attributes: one call, no open) and, on an upper
     * (or index) inode, those of {@code NS protattr}. Caller holds the namespace lock.
     */
    int prot(Node n) {
        int p = n.prot;
        if (p >= 0) return p;
        // Best effort: an object whose real inode cannot be asked right now (a removed directory, an unlinked file
        // with no open file left) is not protected, and is asked again next time; the operation itself then
        // meets what the real inode says.
        try {
            String real = fs.paths.realPath(n);
            long attrs = Linux.statAttributes(real, RealPaths.isFdPath(real));
            p = ((attrs & Linux.STATX_ATTR_APPEND) != 0 ? FS_APPEND_FL : 0)
                    | ((attrs & Linux.STATX_ATTR_IMMUTABLE) != 0 ? FS_IMMUTABLE_FL : 0);
            if (n.isUpper() || n.indexPath() != null) {
                Integer x = protattrFlags(Linux.lgetxattrOrNull(real, fs.x(OverlayXattr.PROTATTR)));
                if (x != null) p |= x;
            }
        } catch (ErrnoException | RuntimeException e) {
            return 0;
        }
        n.prot = p;
        return p;
    }

    private static ErrnoException perm(String what, Node n) {
        return new ErrnoException(Errno.EPERM, what + " of a protected (chattr +i/+a) object " + n);
    }

    /** A change needing write access to {@code n} itself (inode_permission MAY_WRITE): none if immutable. */
    void checkWrite(Node n) throws ErrnoException {
        if ((prot(n) & FS_IMMUTABLE_FL) != 0) throw perm("write", n);
    }

    /**
     * An open (may_open), after {@link #checkWrite} and the permission check when it asks to write: an append-only
     * file opens for writing only with O_APPEND, and never with O_TRUNC.
     */
    void checkOpen(Node n, int flags) throws ErrnoException {
        boolean write = (flags & Linux.O_ACCMODE) != Linux.O_RDONLY, trunc = (flags & Linux.O_TRUNC) != 0;
        if (!write && !trunc) return;
        int p = prot(n);
        if ((p & FS_IMMUTABLE_FL) != 0) throw perm("open for write", n);
        if ((p & FS_APPEND_FL) != 0 && (trunc || (flags & Linux.O_APPEND) == 0)) throw perm("open for write", n);
    }

    /** chmod, chown, explicit times, xattr changes, link (notify_change, xattr_permission, vfs_link). */
    void checkChange(Node n, String what) throws ErrnoException {
        if (prot(n) != 0) throw perm(what, n);
    }

    /**
     * The checks of notify_change for a setattr: a change of mode, owner or explicit times (one NOW alone counts
     * as explicit) on a protected object, a touch (both times NOW) or truncate of an immutable one, a truncate of an
     * append-only one. A setattr that changes nothing (chown -1 -1) passes: it copies up, protection and all.
     */
    void checkSetattr(Node n, SetAttr a) throws ErrnoException {
        boolean touch = a.atimeNsec() != null && a.atimeNsec() == SetAttr.NOW
                && a.mtimeNsec() != null && a.mtimeNsec() == SetAttr.NOW;
        boolean change = a.mode() != null || a.uid() != null || a.gid() != null || a.hasTimes() && !touch;
        if (!change && !touch && a.size() == null) return;
        int p = prot(n);
        if (p == 0) return;
        if (change || (p & FS_IMMUTABLE_FL) != 0 || a.size() != null) throw perm("setattr", n);
    }

    /** ftruncate(2): refused for an append-only file; an immutable one opened for writing before is truncated. */
    void checkFtruncate(Node n) throws ErrnoException {
        if ((prot(n) & FS_APPEND_FL) != 0) throw perm("ftruncate", n);
    }

    /** fallocate(2) (vfs_fallocate): only KEEP_SIZE or plain preallocation on an append-only file, none on immutable. */
    void checkFallocate(Node n, int mode) throws ErrnoException {
        int p = prot(n);
        if ((mode & ~FALLOC_FL_KEEP_SIZE) != 0 && (p & FS_APPEND_FL) != 0 || (p & FS_IMMUTABLE_FL) != 0)
            throw perm("fallocate", n);
    }

    /**
     * Removing or renaming {@code victim} out of {@code dir} (may_delete), after the permission and sticky checks:
     * not out of an append-only directory, not a protected object.
     */
    void checkDelete(Node dir, Node victim) throws ErrnoException {
        if ((prot(dir) & FS_APPEND_FL) != 0) throw perm("removing a name", dir);
        if (prot(victim) != 0) throw perm("removing", victim);
    }

    // --- get and set --------------------------------------------------------------------------------------------

    /** A read-only fd on a real object for the flag ioctls: regular files and directories only (others ENOTTY). */
    private int openForIoctl(Node n, String real) throws ErrnoException {
        if (!n.isDir() && n.type() != Stat.S_IFREG) throw OverlayFs.err(Errno.ENOTTY, "inode flags of a special file");
        return fs.paths.openReal(real, Linux.O_RDONLY | Linux.O_NONBLOCK | (n.isDir() ? Linux.O_DIRECTORY : 0));
    }

    /** FS_IOC_GETFLAGS of the overlay inode (ovl_fileattr_get). Caller holds the namespace lock. */
    int flags(Node n) throws ErrnoException {
        String real = fs.paths.realPath(n);
        int fd = openForIoctl(n, real);
        try {
            return Linux.getFlags(fd) | prot(n);
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    /** FS_IOC_FSGETXATTR of the overlay inode. */
    Fsxattr fsxattr(Node n) throws ErrnoException {
        String real = fs.paths.realPath(n);
        int fd = openForIoctl(n, real);
        try {
            Fsxattr x = Linux.fsGetXattr(fd);
            return x.withXflags(x.xflags() | toXflags(prot(n)));
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    /**
     * Sets the flags of {@code n}, copied up by the caller (ovl_fileattr_set): {@code prot} into {@code NS protattr}
     * (removed when none is left), then {@code real} (the ioctl on the upper inode, protection flags left out). The
     * node's protection is what {@code NS protattr} now says even if the real call fails, as in the kernel.
     */
    void set(Node n, int prot, RealSet real) throws ErrnoException {
        String up = fs.paths.upperPath(n);
        int fd = openForIoctl(n, up);
        try {
            int had = prot(n);
            if (prot != 0) {
                Linux.fsetxattr(fd, fs.x(OverlayXattr.PROTATTR), protattrValue(prot), 0);
            } else if (had != 0) {
                try {
                    Linux.fremovexattr(fd, fs.x(OverlayXattr.PROTATTR));
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.ENODATA && e.errno() != Errno.EOPNOTSUPP) throw e;
                }
            }
            n.prot = -1;    // read again: the real inode's own flags count too
            real.set(fd);
        } finally {
            n.prot = -1;
            Linux.closeQuietly(fd);
        }
        fs.effects.attrsChanged(n);   // the ctime moved
    }

    /** The real half of {@link #set}: the ioctl on the upper inode's fd. */
    interface RealSet {
        void set(int fd) throws ErrnoException;
    }

    // --- copy-up ----------------------------------------------------------------------------------------------

    /**
     * What a copy-up carries of the lower inode's flags (ovl_copy_fileattr), read from {@code lowerFd}: sync and
     * noatime onto the copy ({@code copyFd}), append-only and immutable into its {@code NS protattr} (on
     * {@code copyFd}, or {@code copyPath} when -1). A filesystem with no flags (ENOTTY, EINVAL) gives nothing; a
     * protattr the upper layer refuses (EPERM: user.* on a plain user's mount) is left out, as the kernel does.
     */
    void copyUp(int lowerFd, int copyFd, String copyPath) throws ErrnoException {
        int old;
        try {
            old = Linux.getFlags(lowerFd);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOTTY || e.errno() == Errno.EINVAL || e.errno() == Errno.EOPNOTSUPP) return;
            throw e;
        }
        if ((old & (PROT_FLAGS | COPY_FLAGS)) == 0) return;
        if ((old & PROT_FLAGS) != 0) {
            byte[] v = protattrValue(old & PROT_FLAGS);
            try {
                if (copyFd >= 0) Linux.fsetxattr(copyFd, fs.x(OverlayXattr.PROTATTR), v, 0);
                else Linux.lsetxattr(copyPath, fs.x(OverlayXattr.PROTATTR), v, 0);
            } catch (ErrnoException e) {
                if (e.errno() != Errno.EPERM && e.errno() != Errno.EOPNOTSUPP) throw e;
            }
        }
        if ((old & COPY_FLAGS) == 0) return;
        int fd = copyFd >= 0 ? copyFd : Linux.open(copyPath, Linux.O_RDONLY | Linux.O_DIRECTORY | Linux.O_NOFOLLOW, 0);
        try {
            int now;
            try {
                now = Linux.getFlags(fd);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.ENOTTY || e.errno() == Errno.EINVAL || e.errno() == Errno.EOPNOTSUPP) return;
                throw e;
            }
            Linux.setFlags(fd, now & ~COPY_FLAGS | old & COPY_FLAGS);
        } finally {
            if (fd != copyFd) Linux.closeQuietly(fd);
        }
    }
}
