package org.overlayj.core.layer;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.List;

/**
 * The AUFS-style whiteouts and opaque markers that fuse-overlayfs reads in every layer, besides the kernel's format.
 * containers/storage unpacks image layers this way whenever a mount program is configured (it assumes the program
 * may run unprivileged and cannot mknod), so a drop-in mount program must read them exactly as fuse-overlayfs does:
 *
 * <ul>
 *   <li>{@code .wh.NAME} (any type, usually an empty file) in a layer's directory hides NAME in that layer's
 *       directory's lower layers, when NAME itself is absent from that layer's directory;</li>
 *   <li>{@code .wh..wh..opq} in a directory makes it opaque;</li>
 *   <li>{@code user.overlay.opaque} or {@code user.fuseoverlayfs.opaque} = {@code y} on a directory makes it opaque
 *       (whatever the overlay's own xattr namespace is);</li>
 *   <li>every name beginning with {@code .wh.} is metadata: never listed, and a lookup of one is refused with
 *       EINVAL, as fuse-overlayfs refuses it (so none can be created through the overlay either).</li>
 * </ul>
 *
 * <p>Every part of overlayj that classifies a layer's entries (lookup, readdir, removal, the tools) asks here, so the
 * rules live in one place. overlayj itself writes the kernel's format wherever the process may; see
 * {@link #fallbackWhiteout} for where it cannot.
 */
public final class AufsWhiteouts {
    /** The prefix of every AUFS metadata name. */
    public static final String PREFIX = ".wh.";
    /** The entry that makes its directory opaque. */
    public static final String OPAQUE_MARKER = ".wh..wh..opq";
    /** xattrs fuse-overlayfs reads as "opaque" when their value is {@code y}, besides the overlay's own. */
    public static final List<String> OPAQUE_XATTRS = List.of("user.overlay.opaque", "user.fuseoverlayfs.opaque");
    /** fuse-overlayfs's private xattr prefix: its markers are never copied up nor shown. */
    public static final String FUSE_OVERLAYFS_PREFIX = "user.fuseoverlayfs.";

    private AufsWhiteouts() {}

    /** A name that is AUFS metadata ({@code .wh.*}): never listed, never reachable through the overlay. */
    public static boolean isMeta(String name) {
        return name.startsWith(PREFIX);
    }

    /**
     * The name an entry hides in the layers below when it is an AUFS whiteout ({@code .wh.NAME} gives NAME), or
     * null: not metadata, or the opaque marker (which hides a whole directory, not a name).
     */
    public static String hiddenName(String entry) {
        if (!isMeta(entry) || entry.equals(OPAQUE_MARKER) || entry.length() == PREFIX.length()) return null;
        return entry.substring(PREFIX.length());
    }

    /** The path of the whiteout that would hide {@code path} (a directory, a slash, a name). */
    public static String whiteoutPathFor(String path) {
        int slash = path.lastIndexOf('/');
        return path.substring(0, slash + 1) + PREFIX + path.substring(slash + 1);
    }

    /**
     * Whether an AUFS whiteout in the same directory hides {@code path}, a name the caller found absent from its
     * layer: {@code .wh.NAME} exists beside it. A name too long to have a whiteout (NAME of more than 251 bytes)
     * has none.
     */
    public static boolean whitedOut(String path) throws ErrnoException {
        int slash = path.lastIndexOf('/');
        if (path.length() - slash - 1 + PREFIX.length() > 255) return false;
        return exists(whiteoutPathFor(path));
    }

    /**
     * Whether a directory is opaque by fuse-overlayfs's own markers: {@code .wh..wh..opq} in it, or one of
     * {@link #OPAQUE_XATTRS} set to {@code y}. {@code xattrNames} is the directory's xattr list when the caller
     * already has it (null: read here).
     */
    public static boolean opaque(String dir, List<String> xattrNames) throws ErrnoException {
        List<String> names = xattrNames;
        if (names == null) {
            try {
                names = Linux.llistxattr(dir);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.ENOENT || e.errno() == Errno.ENOTDIR) throw e;
                names = List.of();
            }
        }
        for (String x : OPAQUE_XATTRS) {
            if (!names.contains(x)) continue;
            byte[] v = Linux.lgetxattrOrNull(dir, x);
            if (v != null && v.length >= 1 && v[0] == 'y') return true;
        }
        return exists(dir + "/" + OPAQUE_MARKER);
    }

    /** Whether an xattr is one of fuse-overlayfs's opaque markers or private names: never copied up. */
    public static boolean isForeignMarker(String xattrName) {
        return xattrName.startsWith(FUSE_OVERLAYFS_PREFIX) || OPAQUE_XATTRS.contains(xattrName);
    }

    /**
     * Writes what fuse-overlayfs writes for a whiteout of {@code path} when a 0/0 character device cannot be made:
     * an empty {@code .wh.NAME} file beside it (mode 0700, as fuse-overlayfs makes it). An existing one is kept.
     */
    public static void fallbackWhiteout(String path) throws ErrnoException {
        String wh = whiteoutPathFor(path);
        int fd;
        try {
            fd = Linux.open(wh, Linux.O_CREAT | Linux.O_EXCL | Linux.O_WRONLY | Linux.O_NOFOLLOW, 0700);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EEXIST) return;
            throw e;
        }
        Linux.closeQuietly(fd);
    }

    /** Removes the AUFS whiteout of {@code path} if there is one (a name made again in the layer that hid it). */
    public static void removeWhiteout(String path) throws ErrnoException {
        int slash = path.lastIndexOf('/');
        if (path.length() - slash - 1 + PREFIX.length() > 255) return;
        try {
            Linux.unlink(whiteoutPathFor(path));
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENOENT) throw e;
        }
    }

    private static boolean exists(String path) throws ErrnoException {
        Stat st;
        try {
            st = Linux.lstatOrNull(path);
        } catch (ErrnoException e) {
            // ENOTDIR / ENAMETOOLONG / EACCES: no whiteout reachable there, as fuse-overlayfs reads it
            if (e.errno() == Errno.ENOTDIR || e.errno() == Errno.ENAMETOOLONG || e.errno() == Errno.EACCES) return false;
            throw e;
        }
        return st != null;
    }
}
