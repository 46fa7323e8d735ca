package org.overlayj.core;

import org.overlayj.core.layer.Layer;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.List;

/**
 * Per-name resolution down the layers (the kernel's namei.c, format doc §3.5): top down, a whiteout or xwhiteout
 * ends the search with a negative entry, a non-directory ends it, a directory merges with the directories below
 * until one is opaque, and redirects (relative or absolute) change the name looked up in the layers below.
 */
final class Lookup {
    private final OverlayFs fs;

    Lookup(OverlayFs fs) {
        this.fs = fs;
    }

    /** What one layer holds at a name. */
    private record Found(String path, Stat st, Layer layer) {}

    /** The child {@code name} of directory {@code dir}, or null when there is none visible. */
    Node child(Node dir, String name) throws ErrnoException {
        if (name.isEmpty() || name.indexOf('/') >= 0) throw OverlayFs.err(Errno.EINVAL, "bad name");
        if (name.length() > 255) throw OverlayFs.err(Errno.ENAMETOOLONG, name);
        if (name.equals(".")) return dir;
        if (name.equals("..")) return dir.parent == null ? dir : dir.parent;

        Found upper = null;
        String redirect = null;
        boolean stop = false;
        if (dir.upper) {
            String p = fs.upperPath(dir) + "/" + name;
            Stat st = Linux.lstatOrNull(p);
            if (st != null) {
                if (st.isWhiteout() || fs.isXwhiteout(p, st)) return null;
                upper = new Found(p, st, fs.upper());
                if (!st.isDir()) {
                    stop = true;
                } else {
                    if (fs.isOpaque(p)) stop = true;
                    else redirect = redirectOf(p);
                }
            }
        }
        List<Node.Lower> lowers = new ArrayList<>();
        Stat lowerTop = null;
        if (!stop && (dir.hasLower() || redirect != null && redirect.startsWith("/"))) {
            boolean wantDir = upper != null;
            String curName = redirect != null && !redirect.startsWith("/") ? redirect : name;
            String abs = redirect != null && redirect.startsWith("/") ? redirect : null;
            for (Layer layer : fs.layers.lowers()) {
                String p;
                if (abs != null) {
                    p = walkAbsolute(layer, abs);
                    if (p == null) continue;
                } else {
                    String parentPath = dirPathIn(dir, layer);
                    if (parentPath == null) continue;
                    p = parentPath + "/" + curName;
                }
                Stat st = Linux.lstatOrNull(p);
                if (st == null) continue;
                if (st.isWhiteout() || fs.isXwhiteout(p, st)) {
                    if (upper == null && lowers.isEmpty()) return null;
                    break;
                }
                if (!st.isDir()) {
                    if (!wantDir && lowers.isEmpty()) {
                        lowers.add(new Node.Lower(layer, p));
                        lowerTop = st;
                    }
                    break;
                }
                if (lowers.isEmpty()) lowerTop = st;
                lowers.add(new Node.Lower(layer, p));
                wantDir = true;
                if (fs.isOpaque(p)) break;
                String r = redirectOf(p);
                if (r != null) {
                    if (r.startsWith("/")) abs = r;
                    else {
                        abs = null;
                        curName = r;
                    }
                }
            }
        }
        if (upper == null && lowers.isEmpty()) return null;
        String indexPath = upper == null ? fs.index.lookupLower(lowers.getFirst(), lowerTop) : null;
        return place(dir, name, upper, lowers, lowerTop, indexPath);
    }

    /** The path of directory {@code dir} in a lower layer, or null when it has no directory there. */
    private static String dirPathIn(Node dir, Layer layer) {
        if (dir.lowers == null) return null;
        for (Node.Lower l : dir.lowers) if (l.layer() == layer) return l.path();
        return null;
    }

    /**
     * Walks an absolute redirect from a layer root, one component at a time so no symlink inside the layer is
     * followed; every component but the last must be a directory (a whiteout or non-directory ends the walk).
     */
    private String walkAbsolute(Layer layer, String abs) throws ErrnoException {
        String[] parts = abs.substring(1).split("/");
        String p = layer.root();
        for (int i = 0; i < parts.length - 1; i++) {
            p = p + "/" + parts[i];
            Stat st = Linux.lstatOrNull(p);
            if (st == null || !st.isDir()) return null;
        }
        return p + "/" + parts[parts.length - 1];
    }

    /**
     * {@code NS redirect} of a directory, validated: relative is one name, absolute has no empty components.
     * Following is refused with EPERM under redirect_dir=nofollow (the kernel: "refusing to follow redirect").
     */
    String redirectOf(String path) throws ErrnoException {
        byte[] v = fs.getX(path, OverlayXattr.REDIRECT);
        if (v == null) return null;
        String r = Linux.byteString(v);
        if (!fs.opts.redirectFollow()) throw OverlayFs.err(Errno.EPERM, "refusing to follow redirect for (" + path + ")");
        boolean valid = !r.isEmpty() && (r.startsWith("/")
                ? !r.contains("//") && !r.endsWith("/") && r.length() > 1
                : !r.contains("/"));
        if (!valid) throw OverlayFs.err(Errno.EINVAL, "invalid redirect (" + path + ")");
        return r;
    }

    /** Builds or refreshes the node for what was found, at (dir, name). */
    private Node place(Node dir, String name, Found upper, List<Node.Lower> lowers, Stat lowerTop, String indexPath)
            throws ErrnoException {
        int type = upper != null ? upper.st().type() : lowerTop.type();
        long ino = inoOf(upper, lowers, lowerTop);
        Node n = fs.inode(ino, type);
        n.parent = dir;
        n.name = name;
        n.upper = upper != null;
        n.indexPath = indexPath;
        n.lowers = List.copyOf(lowers);
        if (type != Stat.S_IFDIR) {
            if (upper == null) {
                n.indexed = indexPath != null;
                n.lowerNlink = lowerTop.nlink();
            } else {
                OverlayFs.OriginInfo o = fs.decodeOrigin(fs.getX(upper.path(), OverlayXattr.ORIGIN));
                n.lowerNlink = o == null ? 0 : o.nlink();
                n.indexed = o != null && indexed(upper.path(), upper.st());
            }
        } else if (upper != null && !lowers.isEmpty() && !fs.layers.readOnly() && !hasOrigin(upper.path())) {
            // A merge dir whose upper copy lacks an origin (made by another tool): record it, as the kernel does at
            // lookup (format doc E15), so its whiteouts stay hidden even if the lower goes away.
            Node.Lower lo = lowers.getFirst();
            try {
                fs.setX(upper.path(), OverlayXattr.ORIGIN, fs.blobOf(lo.path(), lo.layer()).bytes());
            } catch (ErrnoException e) {
                fs.setX(upper.path(), OverlayXattr.ORIGIN, new byte[0]);
            }
            fs.setImpure(fs.upperPath(dir));
        }
        if (type == Stat.S_IFDIR) {
            // The lowers list is the whole stack this directory merges: children are looked up in those only.
            n.merge = lowers.size() + (upper != null ? 1 : 0) > 1 || upper != null && hasOrigin(upper.path());
        }
        return n;
    }

    private boolean hasOrigin(String upperPath) throws ErrnoException {
        return fs.getX(upperPath, OverlayXattr.ORIGIN) != null;
    }

    /**
     * st_ino (format doc §6.5, one filesystem): a lower object keeps its lower number; a copied-up directory or
     * merge dir takes its top lower's (or decoded origin's); a copied-up non-directory takes its origin's number
     * when the origin has one link (or is indexed); otherwise the upper number.
     */
    private long inoOf(Found upper, List<Node.Lower> lowers, Stat lowerTop) throws ErrnoException {
        if (upper == null) return fs.mapIno(lowerTop.ino(), lowerTop.dev());
        Stat ust = upper.st();
        if (ust.isDir()) {
            if (lowerTop != null) return fs.mapIno(lowerTop.ino(), lowerTop.dev());
            OverlayFs.OriginInfo o = fs.decodeOrigin(fs.getX(upper.path(), OverlayXattr.ORIGIN));
            if (o != null && o.type() == Stat.S_IFDIR) return fs.mapIno(o.ino(), o.dev());
            return fs.mapIno(ust.ino(), ust.dev());
        }
        OverlayFs.OriginInfo o = fs.decodeOrigin(fs.getX(upper.path(), OverlayXattr.ORIGIN));
        if (o != null && o.type() == ust.type() && (o.nlink() == 1 || indexed(upper.path(), ust))) {
            return fs.mapIno(o.ino(), o.dev());
        }
        return fs.mapIno(ust.ino(), ust.dev());
    }

    /** An upper non-directory that is the same inode as an index entry (index=on). */
    private boolean indexed(String upperPath, Stat ust) throws ErrnoException {
        if (!fs.opts.index() || fs.layers.indexDir() == null) return false;
        byte[] origin = fs.getX(upperPath, OverlayXattr.ORIGIN);
        if (origin == null || origin.length == 0) return false;
        Stat ist = Linux.lstatOrNull(fs.layers.indexDir() + "/" + java.util.HexFormat.of().formatHex(origin));
        return ist != null && ist.ino() == ust.ino() && ist.dev() == ust.dev();
    }

    /** The root: the upper root (if any) merged with every lower root. */
    Node root() throws ErrnoException {
        List<Node.Lower> lowers = new ArrayList<>();
        Layer stopAt = null;
        for (Layer l : fs.layers.lowers()) {
            lowers.add(new Node.Lower(l, l.root()));
            if (fs.isOpaque(l.root())) {
                stopAt = l;
                break;
            }
        }
        Stat st;
        long ino;
        if (fs.upperRoot != null) {
            st = Linux.lstat(fs.upperRoot);
            ino = fs.mapIno(st.ino(), st.dev());
        } else {
            st = Linux.lstat(lowers.getFirst().path());
            ino = fs.mapIno(st.ino(), st.dev());
        }
        Node r = fs.inode(ino, Stat.S_IFDIR);
        r.parent = null;
        r.name = "";
        r.upper = fs.upperRoot != null;
        r.lowers = List.copyOf(lowers);
        r.merge = true;
        return r;
    }
}
