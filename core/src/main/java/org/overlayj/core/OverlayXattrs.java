package org.overlayj.core;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.List;

/**
 * The xattr calls of the overlay (the kernel's xattrs.c): the client's names mapped to the real ones and the
 * overlay's own hidden, the inode flags' protection checked before the namespace's rules, the object copied up
 * before a change (or the index inode of an uncovered lower alias changed instead). The locks are the facade's
 * ({@link Overlay}): each method says which one its caller holds.
 */
final class OverlayXattrs {
    private final OverlayFs fs;
    private final Namespace namespace;
    private final CopyUp copyUp;

    OverlayXattrs(OverlayFs fs, Namespace namespace, CopyUp copyUp) {
        this.fs = fs;
        this.namespace = namespace;
        this.copyUp = copyUp;
    }

    /** Caller holds the read lock. */
    byte[] get(Node n, String name, Creds c) throws ErrnoException {
        namespace.xattrReadPermission(n, name, c);
        return fs.paths.getxattrReal(fs.paths.realPath(n), fs.ns.toReal(name));
    }

    /** Whether {@code c} may set {@code name} on {@code n}, for a copy ahead; caller holds the read lock. */
    void setAllowed(Node n, String name, Creds c) throws ErrnoException {
        fs.fileAttr.checkChange(n, "setxattr");
        namespace.xattrPermission(n, name, false, c);
    }

    /** flags: XATTR_CREATE / XATTR_REPLACE. Caller holds the write lock. */
    void set(Node n, String name, byte[] value, int flags, Creds c) throws ErrnoException {
        fs.fileAttr.checkChange(n, "setxattr");   // xattr_permission: before the namespace's rules
        namespace.xattrPermission(n, name, false, c);
        // the kernel's ovl_xattr_set copies up only an inode with no upper at all: an uncovered lower alias
        // whose index entry exists gets the xattr on the index inode, with no link-up
        if (!n.isUpper() && n.indexPath() != null) {
            if (namespace.aclKillsSgid(n, name, c)) namespace.killSgid(n.indexPath());
            Linux.lsetxattr(n.indexPath(), fs.ns.toReal(name), value, flags);
            return;
        }
        boolean kill = namespace.aclKillsSgid(n, name, c);
        copyUp.copyUp(n);
        if (kill) namespace.killSgid(fs.paths.upperPath(n));
        fs.paths.setxattrReal(fs.paths.upperPath(n), fs.ns.toReal(name), value, flags);
    }

    /** Caller holds the read lock. */
    List<String> list(Node n, Creds c) throws ErrnoException {
        return fs.ns.clientList(fs.paths.listxattrReal(fs.paths.realPath(n)), c.isRoot());
    }

    /**
     * Whether {@code c} may remove {@code name} from {@code n} and there is something to remove, for a copy ahead
     * (ENODATA: nothing to copy up for); caller holds the read lock.
     */
    void removeAllowed(Node n, String name, Creds c) throws ErrnoException {
        fs.fileAttr.checkChange(n, "removexattr");
        if (!namespace.xattrPermission(n, name, true, c)) throw OverlayFs.err(Errno.ENODATA, "nothing to do");
        Linux.lgetxattr(fs.paths.realPath(n), fs.ns.toReal(name));     // ENODATA: nothing to copy up for
    }

    /** Caller holds the write lock. */
    void remove(Node n, String name, Creds c) throws ErrnoException {
        fs.fileAttr.checkChange(n, "removexattr");
        if (!namespace.xattrPermission(n, name, true, c)) return;
        String real = fs.ns.toReal(name);
        if (!n.isUpper() && n.indexPath() != null) { // as in setxattr: the index inode is this alias's upper
            if (namespace.aclKillsSgid(n, name, c)) namespace.killSgid(n.indexPath());
            Linux.lremovexattr(n.indexPath(), real);
            return;
        }
        boolean kill = namespace.aclKillsSgid(n, name, c);
        if (!n.isUpper()) {
            // ENODATA before any copy-up, as the kernel does, unless clearing set-group-ID copied it up
            if (!kill) fs.paths.getxattrReal(fs.paths.realPath(n), real);
            copyUp.copyUp(n);
        }
        if (kill) namespace.killSgid(fs.paths.upperPath(n));
        fs.paths.removexattrReal(fs.paths.upperPath(n), real);
    }
}
