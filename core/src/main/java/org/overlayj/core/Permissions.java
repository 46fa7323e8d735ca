package org.overlayj.core;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

/**
 * Unix permission checks for a caller, as the VFS does them on the overlay inode (mode, owner, group, root
 * override). The FUSE door also lets the kernel check (default_permissions); the NFS door relies on these.
 */
final class Permissions {
    static final int R = 4, W = 2, X = 1;

    private Permissions() {}

    static void check(Attr a, int mask, Creds c) throws ErrnoException {
        if (mask == 0) return;
        int mode = a.mode();
        if (c.isRoot()) {
            // Root may read and write anything; it may execute only what someone may execute (or any directory).
            if ((mask & X) != 0 && !a.isDir() && (mode & 0111) == 0) throw denied();
            return;
        }
        int bits;
        if (c.uid() == a.uid()) bits = (mode >> 6) & 7;
        else if (c.inGroup(a.gid())) bits = (mode >> 3) & 7;
        else bits = mode & 7;
        if ((bits & mask) != mask) throw denied();
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
