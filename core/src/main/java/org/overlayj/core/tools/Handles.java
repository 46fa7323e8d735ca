package org.overlayj.core.tools;

import org.overlayj.core.layer.Layer;
import org.overlayj.core.Attr;
import org.overlayj.core.Creds;
import org.overlayj.core.Node;
import org.overlayj.core.Overlay;
import org.overlayj.core.fh.Fh;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Overlay file handles for people: the handle of a path, and what a handle resolves to. Encoding and decoding are
 * the engine's ({@link Overlay#encodeHandle}, {@link Overlay#decodeHandle}); this only finds words for the result
 * — which layer holds the object now, and an overlay path that reaches it, if any.
 */
public final class Handles {
    private Handles() {}

    /**
     * What a handle names.
     *
     * @param path        an overlay path ("/a/b") that looks up to the same object, or null (disconnected)
     * @param layer       where the object's inode is now: "upper" or "lower N"
     * @param upperHandle the handle names an upper inode (fh flag 0x04); else it names a lower origin
     * @param type        "regular file", "directory", ...
     * @param ino         st_ino the overlay shows
     */
    public record Info(String path, String layer, boolean upperHandle, String type, long ino) {}

    /** The node at an overlay path (relative to the root; a leading "/" is allowed); ENOENT etc. as lookup says. */
    public static Node lookup(Overlay o, String path) throws ErrnoException {
        Node n = o.root();
        for (String part : path.split("/")) {
            if (part.isEmpty() || part.equals(".")) continue;
            if (part.equals("..")) throw new ErrnoException(Errno.EINVAL, "'..' in an overlay path");
            n = o.lookup(n, part, Creds.ROOT);
        }
        return n;
    }

    /** The handle bytes of the object at an overlay path. */
    public static byte[] encode(Overlay o, String path) throws ErrnoException {
        return o.encodeHandle(lookup(o, path));
    }

    /** What a handle resolves to; ESTALE when the engine refuses it. */
    public static Info decode(Overlay o, byte[] handle) throws ErrnoException {
        Node n = o.decodeHandle(handle);
        Attr a = o.getattr(n);
        Fh fh = blob(handle);
        try (LayerSet layers = LayerSet.open(o.layers().options())) {
            List<String> candidates = new ArrayList<>();
            String layer = null;
            LayerSet.Resolved real = layers.resolve(fh);
            if (real != null && real.layer().upper()) {
                layer = "upper";
                if (real.path() != null) candidates.add(real.relative());
            }
            String idx = layers.indexDir();
            if (!fh.upper() && o.layers().options().index() && idx != null) {
                String entry = idx + "/" + fh.hex();
                Stat ist = Linux.lstatOrNull(entry);
                if (ist != null && ist.isDir()) {
                    byte[] up = layers.getX(entry, OverlayXattr.UPPER);
                    if (up != null && Fh.parse(up) instanceof Fh.Ok(Fh ufh)) {
                        LayerSet.Resolved u = layers.resolve(ufh);
                        if (u != null && u.path() != null) candidates.add(u.relative());
                        if (u != null) layer = "upper";
                    }
                } else if (ist != null && !ist.isWhiteout() && layers.upper() != null) {
                    layer = "upper";
                    for (String p : layers.pathsOf(layers.upper(), ist.ino())) {
                        if (!p.startsWith(idx + "/")) candidates.add(p.substring(layers.upper().root().length()));
                    }
                }
            }
            if (real != null && !real.layer().upper()) {
                if (layer == null) layer = upperCopy(o, layers, real) ? "upper" : LayerSet.label(real.layer());
                if (real.path() != null) {
                    candidates.add(real.relative());
                    candidates.addAll(viaMovedAncestor(layers, real));
                }
            }
            if (layer == null) layer = layers.upper() != null ? "upper" : "lower";
            String path = null;
            for (String c : candidates) {
                if (reaches(o, c, n, a)) {
                    path = c.isEmpty() ? "/" : c;
                    break;
                }
            }
            if (path != null && layers.upper() != null && !layer.equals("upper")) {
                Stat st = Linux.lstatOrNull(layers.upper().root() + (path.equals("/") ? "" : path));
                if (st != null && !st.isWhiteout()) layer = "upper";
            }
            return new Info(path == null ? null : Linux.toUtf8(path), layer, fh.upper(), typeName(a), a.ino());
        }
    }

    /**
     * Below a lower directory that was copied up, indexed and renamed (redirect), the object's overlay path starts
     * at the directory's upper copy, which the directory's index entry names (NS upper).
     */
    private static List<String> viaMovedAncestor(LayerSet layers, LayerSet.Resolved real) throws ErrnoException {
        String idx = layers.indexDir();
        if (idx == null || layers.upper() == null) return List.of();
        String rel = real.relative();
        List<String> out = new ArrayList<>();
        for (int cut = rel.lastIndexOf('/'); cut > 0; cut = rel.lastIndexOf('/', cut - 1)) {
            String ancestor = real.layer().root() + rel.substring(0, cut);
            String entry = idx + "/" + layers.blobOf(ancestor, real.layer()).hex();
            Stat ist = Linux.lstatOrNull(entry);
            if (ist == null || !ist.isDir()) continue;
            byte[] up = layers.getX(entry, OverlayXattr.UPPER);
            if (up == null || !(Fh.parse(up) instanceof Fh.Ok(Fh ufh))) continue;
            LayerSet.Resolved u = layers.resolve(ufh);
            if (u != null && u.path() != null) {
                String base = u.relative().equals("/") ? "" : u.relative();
                out.add(base + rel.substring(cut));
            }
        }
        return out;
    }

    /** A lower object whose overlay name has an upper copy (copied up without an index entry). */
    private static boolean upperCopy(Overlay o, LayerSet layers, LayerSet.Resolved real) throws ErrnoException {
        if (layers.upper() == null || real.path() == null) return false;
        Stat st = Linux.lstatOrNull(layers.upper().root() + real.relative());
        return st != null && !st.isWhiteout() && st.type() == real.stat().type();
    }

    private static boolean reaches(Overlay o, String path, Node n, Attr a) {
        try {
            Node m = lookup(o, path);
            return m == n || o.getattr(m).ino() == a.ino() && o.getattr(m).type() == a.type();
        } catch (ErrnoException e) {
            return false;
        }
    }

    /** The fh blob of a handle: 3 zero bytes then the blob (type 0xf8), or the blob first (legacy 0xfb). */
    static Fh blob(byte[] h) throws ErrnoException {
        byte[] b = h.length >= 4 && h[0] == 0 && h[1] == 0 && h[2] == 0 ? Arrays.copyOfRange(h, 3, h.length) : h;
        if (Fh.parse(b) instanceof Fh.Ok(Fh fh)) return fh;
        throw new ErrnoException(Errno.ESTALE, "not an overlay file handle");
    }

    private static String typeName(Attr a) {
        return switch (a.type()) {
            case Stat.S_IFDIR -> "directory";
            case Stat.S_IFREG -> "regular file";
            case Stat.S_IFLNK -> "symlink";
            case Stat.S_IFCHR -> "character device";
            case Stat.S_IFBLK -> "block device";
            case Stat.S_IFIFO -> "fifo";
            case Stat.S_IFSOCK -> "socket";
            default -> "unknown";
        };
    }
}
