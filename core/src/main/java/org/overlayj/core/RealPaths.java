package org.overlayj.core;

import org.overlayj.core.layer.Layer;
import org.overlayj.core.layer.LayerStack;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the real inodes of a node are (the kernel's ovl_path_upper / ovl_path_real / ovl_path_lowerdata in
 * util.c): the upper path, the real path that supplies attributes, the data path of a metadata-only copy; an
 * unlinked object is reached through a file open on it ({@code /proc/self/fd/N}), and the real calls here
 * (stat, open, xattrs, readlink) take either kind of path.
 */
final class RealPaths {
    private final String upperRoot;
    /**
     * Per lower layer root: a private noatime clone of its mount, or absent when we may not make one (no
     * CAP_SYS_ADMIN). readlink(2) updates a symlink's atime (relatime: once a day); the kernel overlay reads lower
     * symlinks in-kernel and leaves lower layers untouched, so we read them through these.
     */
    private final Map<String, Integer> noatimeTrees = new HashMap<>();

    RealPaths(String upperRoot, LayerStack layers) {
        this.upperRoot = upperRoot;
        for (Layer l : layers.lowers()) {
            if (noatimeTrees.containsKey(l.root())) continue;
            try {
                noatimeTrees.put(l.root(), Linux.openTreeNoatime(l.root()));
            } catch (ErrnoException e) {
                // unprivileged: plain readlink, which may touch a lower symlink's atime
            }
        }
    }

    void close() {
        for (int fd : noatimeTrees.values()) Linux.closeQuietly(fd);
    }

    /** The target of a real symlink; one in a lower layer is read without touching its atime (see noatimeTrees). */
    String readlinkReal(String path) throws ErrnoException {
        for (var e : noatimeTrees.entrySet()) {
            String root = e.getKey();
            if (path.length() > root.length() + 1 && path.startsWith(root) && path.charAt(root.length()) == '/') {
                return Linux.readlinkat(e.getValue(), path.substring(root.length() + 1));
            }
        }
        return Linux.readlink(path);
    }

    /**
     * A lower file opened through its layer's private noatime clone, or -1 when the layer has none (unprivileged)
     * or the path is not under a lower layer root (an fd path). A file opened so may be handed to the kernel as a
     * FUSE backing file: the kernel reopens a backing file on its path with the reader's flags (not our
     * O_NOATIME), so only the mount's noatime keeps its reads from moving the lower atime, as the kernel overlay's
     * own private lower mounts do.
     */
    int openLowerNoatime(String path, int flags) throws ErrnoException {
        for (var e : noatimeTrees.entrySet()) {
            String root = e.getKey();
            if (path.length() > root.length() + 1 && path.startsWith(root) && path.charAt(root.length()) == '/') {
                return Linux.openat(e.getValue(), path.substring(root.length() + 1), flags | Linux.O_NOFOLLOW, 0);
            }
        }
        return -1;
    }

    /** Where an object no name and no open file leads to is "found": nowhere (ENOENT for every call on it). */
    static final String GONE = "/proc/self/fd/-1";

    /**
     * The real inode of an {@link Node#unlinked} object, reached through a file open on it: its upper inode when
     * {@code upper}, else its lower one; {@link #GONE} when no such file is open. Never its old name, which is
     * gone or another object's by now (a rename over it).
     */
    static String unlinkedPath(Node n, boolean upper) {
        synchronized (n.openFiles) {
            for (OpenFile f : n.openFiles) {
                int fd = f.fd;
                if (fd >= 0 && f.onUpper == upper) return "/proc/self/fd/" + fd;
            }
        }
        return GONE;
    }

    /** The absolute upper path of a node that has an upper inode. */
    String upperPath(Node n) {
        if (n.unlinked()) return unlinkedPath(n, true);
        if (n.parent() == null) {
            return n.indexPath() != null ? n.indexPath() : upperRoot;
        }
        return upperPath(n.parent()) + "/" + n.name();
    }

    /**
     * The real inode that supplies this node's attributes, and its data unless it is a metacopy file: upper if any,
     * else the top lower.
     */
    String realPath(Node n) {
        if (n.isUpper()) return upperPath(n);
        if (n.unlinked()) return unlinkedPath(n, n.indexPath() != null);
        if (n.indexPath() != null) return n.indexPath();
        return n.topLower().path();
    }

    /** The access ACL of the real inode that supplies this node's attributes, read when a check needs it. */
    Acl.Source aclOf(Node n) {
        return () -> Getattr.xattrOrNull(realPath(n), Acl.ACCESS);     // a /proc/self/fd path: followed (Getattr)
    }

    /** The real inode that holds this node's data: the lower data file of a metacopy file (§4.6), else realPath. */
    String dataPath(Node n) throws ErrnoException {
        if (n.dataMissing()) {
            throw OverlayFs.err(Errno.ENOENT, "lazy lowerdata lookup failed (" + n.name() + ")");
        }
        return n.metacopy() ? n.lowers().getLast().path() : realPath(n);
    }

    /** Whether the data read through this node is final: on its upper (or index) inode, not copied up later. */
    static boolean dataOnUpper(Node n) {
        return (n.isUpper() || n.indexPath() != null) && !n.metacopy();
    }

    /** A decoded object with no known name is reached through the fd its handle opened. */
    static boolean isFdPath(String path) {
        return path.startsWith("/proc/self/fd/");
    }

    /** The fd number of a /proc/self/fd path. */
    static int fdOfPath(String path) {
        return Integer.parseInt(path.substring("/proc/self/fd/".length()));
    }

    /** The fd of a /proc/self/fd path, ENOENT for {@link #GONE}. */
    private static int realFd(String path) throws ErrnoException {
        int fd = fdOfPath(path);
        if (fd < 0) throw OverlayFs.err(Errno.ENOENT, "no name and no open file leads to it");
        return fd;
    }

    /** The xattr calls on a real path; on a /proc/self/fd path (an unlinked object), on the object it names. */
    byte[] getxattrReal(String path, String name) throws ErrnoException {
        // (followed rather than read through the fd: a decoded handle's fd is O_PATH, which fgetxattr refuses)
        return isFdPath(path) ? Linux.getxattr(path, name) : Linux.lgetxattr(path, name);
    }

    List<String> listxattrReal(String path) throws ErrnoException {
        return isFdPath(path) ? Linux.listxattr(path) : Linux.llistxattr(path);
    }

    void setxattrReal(String path, String name, byte[] value, int flags) throws ErrnoException {
        if (isFdPath(path)) Linux.fsetxattr(realFd(path), name, value, flags);
        else Linux.lsetxattr(path, name, value, flags);
    }

    void removexattrReal(String path, String name) throws ErrnoException {
        if (isFdPath(path)) Linux.fremovexattr(realFd(path), name);
        else Linux.lremovexattr(path, name);
    }

    /** lstat of a real path; a /proc/self/fd path is followed to the object it names. */
    Stat statReal(String path) throws ErrnoException {
        return isFdPath(path) ? Linux.stat(path) : Linux.lstat(path);
    }

    /** open of a real path, never following a symlink inside a layer (but following a /proc/self/fd link). */
    int openReal(String path, int flags) throws ErrnoException {
        return Linux.open(path, isFdPath(path) ? flags & ~Linux.O_NOFOLLOW : flags | Linux.O_NOFOLLOW, 0);
    }
}
