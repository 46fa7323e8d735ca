package org.overlayj.core;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

/**
 * Unix permission checks for a caller, as the VFS does them on the overlay inode (mode, owner, POSIX access ACL,
 * group, root override). The FUSE door also lets the kernel check (default_permissions with POSIX_ACL); the NFS
 * door relies on these.
 */
final class Permissions {
    static final int R = 4, W = 2, X = 1;

    private Permissions() {}

    /**
     * {@code acl} gives the access ACL of the real inode behind {@code a}; it is read only when it can decide: the
     * caller is neither root nor the owner and the group class bits (the ACL mask) are not all clear.
     */
    static void check(Attr a, int mask, Creds c, Acl.Source acl) throws ErrnoException {
        if (mask == 0) return;
        int mode = a.mode();
        if (c.isRoot()) {
            // Root may read and write anything; it may execute only what someone may execute (or any directory).
            if ((mask & X) != 0 && !a.isDir() && (mode & 0111) == 0) throw denied();
            return;
        }
        if (c.uid() == a.uid()) {
            if ((((mode >> 6) & 7) & mask) != mask) throw denied();
            return;
        }
        if ((mode & 070) != 0) {
            byte[] v = acl.get();
            if (v != null) {
                if (!Acl.parse(v).permits(a.uid(), a.gid(), c, mask)) throw denied();
                return;
            }
        }
        int bits = c.inGroup(a.gid()) ? (mode >> 3) & 7 : mode & 7;
        if ((bits & mask) != mask) throw denied();
    }

    /**
     * The check of a file's data access (read, write, truncate) for an NFS server, which trusts the client to have
     * checked the mode at open, as knfsd does: the owner may read, write and truncate its own file whatever its
     * mode (a file created 0444 and written through the descriptor that created it; ftruncate after fchmod 0),
     * and a regular file one may execute may be read (a client pages a mode-0111 binary in with READs).
     */
    static void checkData(Attr a, int mask, Creds c, Acl.Source acl, boolean ownerOverride) throws ErrnoException {
        if (ownerOverride && c.uid() == a.uid()) return;
        try {
            check(a, mask, c, acl);
        } catch (ErrnoException e) {
            if (!ownerOverride || mask != R || !a.isReg()) throw e;
            check(a, X, c, acl);
        }
    }

    /** Only the owner (or root) may chmod, set times explicitly, or chown to its own groups. */
    static void owner(Attr a, Creds c) throws ErrnoException {
        if (!c.isRoot() && c.uid() != a.uid()) throw new ErrnoException(Errno.EPERM, "not the owner");
    }

    /** In a sticky directory only the owner of the entry or of the directory (or root) may remove or rename it. */
    static void sticky(Attr dir, Attr victim, Creds c) throws ErrnoException {
        if ((dir.mode() & 01000) == 0 || c.isRoot()) return;
        if (c.uid() != victim.uid() && c.uid() != dir.uid()) throw new ErrnoException(Errno.EPERM, "sticky directory");
    }

    private static ErrnoException denied() {
        return new ErrnoException(Errno.EACCES, "permission denied");
    }
}
