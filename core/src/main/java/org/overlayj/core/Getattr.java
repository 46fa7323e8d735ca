package org.overlayj.core;

import org.overlayj.core.layer.OverrideStat;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * The attributes of an overlay object (the kernel's ovl_getattr, inode.c, and the ACL its permission checks read):
 * the one place an {@link Attr} is built from a node and a stat of its real inode. getattr, lookups, what setattr
 * and the file calls return, and every permission check (Overlay and Namespace alike) read them here, so what a
 * caller is shown and what it is checked against cannot differ, also for an object reached through a
 * /proc/self/fd link (disconnected, or unlinked and open), whose own xattrs are the link's: none.
 */
final class Getattr {
    private Getattr() {}

    /**
     * The stat of the real inode that supplies {@code n}'s attributes ({@link RealPaths#realPath}: an unlinked
     * object's through a file open on it); a removed directory's last one (Node#removedDir).
     */
    static Stat realStat(OverlayFs fs, Node n) throws ErrnoException {
        Stat removed = n.removedDir();
        if (removed != null && n.unlinked()) return removed;
        return fs.paths.statReal(fs.paths.realPath(n));
    }

    static Attr of(OverlayFs fs, Node n) throws ErrnoException {
        return of(fs, n, realStat(fs, n));
    }

    /** The attributes of {@code n} from {@code st}, a stat of its real inode ({@link #realStat}). */
    static Attr of(OverlayFs fs, Node n, Stat st) throws ErrnoException {
        // a removed directory has no links left, whatever its real inode (a lower one, whited out) still counts
        int nlink = n.isDir() && n.unlinked() ? 0
                : n.isDir() && n.merge() ? 1
                : n.indexed() ? fs.index.nlink(n, st, n.lowerNlink()) : st.nlink();
        // a metadata-only copy is sparse: the blocks its data takes are the lower data file's (the kernel's too)
        long blocks = n.metacopy() && !n.dataMissing() ? fs.paths.statReal(fs.paths.dataPath(n)).blocks() : st.blocks();
        int mode = st.mode(), uid = st.uid(), gid = st.gid();
        OverrideStat.Values o = fs.overrideOf(n);          // rootless storage's owners (override_stat xattrs)
        if (o != null) {
            mode = st.type() | o.mode();
            uid = o.uid();
            gid = o.gid();
        }
        return new Attr(n.ino, mode, nlink, uid, gid, st.rdev(), st.size(), blocks,
                st.blksize(), st.atimeSec(), st.atimeNsec(), st.mtimeSec(), st.mtimeNsec(), st.ctimeSec(),
                st.ctimeNsec(), n.generation());
    }

    /** The access ACL of the real inode that supplies {@code n}'s attributes, read when a check needs it. */
    static Acl.Source acl(OverlayFs fs, Node n) {
        return () -> xattrOrNull(fs.paths.realPath(n), Acl.ACCESS);
    }

    /**
     * An xattr of a real object, null when it has none (or its filesystem none at all); a /proc/self/fd path is
     * followed to the object its fd names (an O_PATH fd of a decoded handle too), not read as the magic link it is
     * (whose lgetxattr finds nothing).
     */
    static byte[] xattrOrNull(String path, String name) throws ErrnoException {
        return RealPaths.isFdPath(path) ? Linux.getxattrOrNull(path, name) : Linux.lgetxattrOrNull(path, name);
    }
}
