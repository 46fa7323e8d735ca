package org.overlayj.core;

import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.layer.Layer;
import org.overlayj.core.layer.RedirectPath;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.List;

/**
 * Per-name resolution down the layers (the kernel's namei.c, format doc §3.5): top down, a whiteout or xwhiteout
 * (or an AUFS whiteout, as fuse-overlayfs reads them: {@link AufsWhiteouts}) ends the search with a negative entry, a non-directory ends it, a directory merges with the directories below
 * until one is opaque, and redirects (relative or absolute) change the name looked up in the layers below.
 */
final class Lookup {
    private final OverlayFs fs;

    /**
     * The directories a lookup must never meet inside a layer (the kernel's layer traps): the upper root, W, W/index
     * and every lower root (not W/work, checked on the kernel here), by device and inode. Moved into a lower layer under a mounted overlay, a lookup
     * that reaches one fails with ELOOP ("overlapping layers"), as the kernel's does (xfstests overlay/065).
     */
    private final java.util.Set<Trap> traps = new java.util.HashSet<>();

    private record Trap(long dev, long ino) {}

    Lookup(OverlayFs fs) {
        this.fs = fs;
        List<String> dirs = new ArrayList<>();
        if (fs.upperRoot != null) dirs.add(fs.upperRoot);
        dirs.add(fs.layers.workBase());
        dirs.add(fs.layers.indexDir());
        for (Layer l : fs.layers.lowers()) dirs.add(l.root());
        for (String d : dirs) {
            if (d == null) continue;
            try {
                Stat st = Linux.lstatOrNull(d);
                if (st != null && st.isDir()) traps.add(new Trap(st.dev(), st.ino()));
            } catch (ErrnoException e) {
                // not there: nothing to trap
            }
        }
    }

    /** ELOOP for a layer's own directory met inside a layer (see {@link #traps}). */
    private void checkTrap(String path, Stat st) throws ErrnoException {
        if (st.isDir() && traps.contains(new Trap(st.dev(), st.ino()))) {
            throw fail(Inspection.Failure.OVERLAPPING_LAYERS, path, Errno.ELOOP, "overlapping layers (" + path + ")");
        }
    }

    /** What one layer holds at a name, with its overlay markers. */
    private record Found(String path, Stat st, Layer layer, OverlayFs.Markers markers) {}

    /**
     * Markers of a real object when they can matter: directories, zero-size files (xwhiteouts), and regular files
     * when metacopy files are followed.
     */
    private OverlayFs.Markers markersOf(String path, Stat st, boolean upper) throws ErrnoException {
        return markersOf(path, st, upper, -1, null);
    }

    /** As above, a non-directory's read as {@code name} in the directory open as {@code dirFd} (-1: by path). */
    private OverlayFs.Markers markersOf(String path, Stat st, boolean upper, int dirFd, String name)
            throws ErrnoException {
        if (st.isDir()) return fs.dirMarkers(path);
        if (upper || st.isReg() && (st.size() == 0 || fs.followsMetacopy())) {
            return dirFd >= 0 ? fs.markersAt(dirFd, name, path) : fs.markers(path);
        }
        return OverlayFs.Markers.NONE;
    }

    /**
     * The lower directories of one directory, open (O_PATH) for a batch of lookups in it (Overlay#lookupAll: a
     * READDIRPLUS page): each name found in them is stat'ed, its xattrs listed and its handle made relative to its
     * directory's fd, a path walk of one name where each of those three system calls walked the whole layer path
     * (a tenth of the server's CPU in the first listing of a 20k-entry lower directory). Lower directories do not
     * change under a mounted overlay, and the batch holds the namespace lock: the fd and the path name one
     * directory. Closed by the batch.
     */
    static final class LowerDirs implements AutoCloseable {
        private final Node dir;
        private final Layer[] layers;
        private final String[] paths;
        private final int[] fds;

        private LowerDirs(Node dir, List<Node.Lower> lowers) {
            this.dir = dir;
            int n = lowers.size();
            layers = new Layer[n];
            paths = new String[n];
            fds = new int[n];
            for (int i = 0; i < n; i++) {
                Node.Lower l = lowers.get(i);
                layers[i] = l.layer();
                paths[i] = l.path();
                try {
                    fds[i] = Linux.open(l.path(), Linux.O_PATH | Linux.O_DIRECTORY, 0);
                } catch (ErrnoException e) {
                    fds[i] = -1;                // looked up by path, as without
                }
            }
        }

        /** The fd of {@code dir}'s directory {@code path} in {@code layer}, or -1. */
        int fd(Node d, Layer layer, String path) {
            if (d != dir) return -1;
            for (int i = 0; i < layers.length; i++) {
                if (layers[i] == layer && paths[i].equals(path)) return fds[i];
            }
            return -1;
        }

        @Override public void close() {
            for (int fd : fds) Linux.closeQuietly(fd);
        }
    }

    /** {@link LowerDirs} of {@code dir}, or null when it has no lower directory (or for an offline inspection). */
    LowerDirs openLowers(Node dir) {
        List<Node.Lower> lowers = dir.lowers();
        if (trace != null || lowers == null || lowers.isEmpty()) return null;
        return new LowerDirs(dir, lowers);
    }

    /**
     * The markers of the upper object {@code st} found at (dir, name) when it is one this overlay made and nothing
     * that could have changed them came since (Node#knownMarkers), else null: an NFS client's LOOKUP of its working
     * directory before each call (libnfs walks every path from the export's root) read them each time, llistxattr
     * and lgetxattr, 2 of the 4 system calls of such a LOOKUP, and its LOOKUP of a file it made (and a REMOVE's
     * look at its victim) the llistxattr. Not for an offline inspection, which wants every real object it meets.
     */
    private OverlayFs.Markers knownMarkers(Node dir, String name, Stat st) {
        if (trace != null) return null;
        Node n = fs.inodes.cached(fs.mapIno(st.ino(), st.dev()));
        if (n == null) return null;
        Node.KnownMarkers k = n.knownMarkers;
        if (k == null || k.epoch() != fs.decodeEpoch || k.upperIno() != st.ino() || n.type() != st.type()
                || !n.isUpper() || n.hasLower() || n.parent() != dir || !name.equals(n.name())) return null;
        fs.probe.knownMarkers();
        return k.markers();
    }

    private static boolean isXwhiteout(Stat st, OverlayFs.Markers m) {
        return OverlayXattr.isXwhiteout(st.isReg(), st.size(), m.whiteout());
    }

    /** The child {@code name} of directory {@code dir}, or null when there is none visible. */
    Node child(Node dir, String name) throws ErrnoException {
        Resolved r = resolve(dir, name);
        return r == null ? null : r.node();
    }

    /**
     * A looked-up node and the stat of the real inode that supplies its attributes, taken on the way (null when
     * the lookup did not stat that inode: "." and "..", an uncovered alias of an indexed object).
     */
    record Resolved(Node node, Stat real) {}

    /** As {@link #child}, keeping the stat the lookup made, so that getattr needs no second one. */
    Resolved resolve(Node dir, String name) throws ErrnoException {
        return resolve(dir, name, null);
    }

    /** As {@link #resolve(Node, String)}; names in {@code dir}'s lower directories through {@code at}'s fds. */
    Resolved resolve(Node dir, String name, LowerDirs at) throws ErrnoException {
        if (name.isEmpty() || name.indexOf('/') >= 0) throw OverlayFs.err(Errno.EINVAL, "bad name");
        if (name.length() > 255) throw OverlayFs.err(Errno.ENAMETOOLONG, name);
        if (name.equals(".")) return new Resolved(dir, null);
        if (name.equals("..")) return new Resolved(dir.parent() == null ? dir : dir.parent(), null);
        if (AufsWhiteouts.isMeta(name)) return null;    // never reachable (ENOENT, as fuse-overlayfs 1.10 gives)

        Found upper = null;
        String redirect = null;
        boolean stop = false;
        if (dir.isUpper()) {
            String p = fs.paths.upperPath(dir) + "/" + name;
            Stat st = lstat(fs.upper(), p);
            if (st != null) {
                if (st.isWhiteout()) return null;
                checkTrap(p, st);
                OverlayFs.Markers m = knownMarkers(dir, name, st);
                if (m == null) m = markersOf(p, st, true);
                if (isXwhiteout(st, m)) return null;
                upper = new Found(p, st, fs.upper(), m);
                if (st.isReg() && metacopy(p, m.metacopy())) {
                    // a metadata-only copy: its data is looked for below, by its redirect if it has one
                    if (!fs.opts.metacopy()) {
                        throw fail(Inspection.Failure.METACOPY_OFF, p, Errno.EPERM, "refusing to follow metacopy origin for (" + p + ")");
                    }
                    redirect = redirectOf(p, m.redirect());
                } else if (!st.isDir()) {
                    stop = true;
                } else {
                    if (m.isOpaque()) stop = true;
                    else redirect = redirectOf(p, m.redirect());
                }
            } else if (dir.hasLower() && !dir.noAufsWhiteouts && AufsWhiteouts.whitedOut(p)) {
                // (an AUFS whiteout hides names below: a directory with nothing below has nothing to hide, and the
                // lookup ends here either way; one statx less per missing name in a new directory)
                return null;
            }
        }
        List<Node.Lower> lowers = new ArrayList<>();
        Stat lowerTop = null;
        // the top lower object as a name in an open directory (LowerDirs), for its handle: -1 when by path
        int topFd = -1;
        String topName = null;
        boolean topHasOrigin = false;
        // the data of a metacopy file found so far (upper or lower) is still to be found below
        boolean wantData = upper != null && !upper.st().isDir() && !stop;
        // the absolute redirect a metacopy file's data is looked for by in the data-only layers
        String dataRedirect = wantData && redirect != null && redirect.startsWith("/") ? redirect : null;
        if (!stop && (dir.hasLower() || redirect != null && redirect.startsWith("/"))) {
            boolean wantDir = upper != null && !wantData;
            RedirectPath next = new RedirectPath(name);
            next.follow(redirect);
            List<Layer> layers = fs.layers.lowers();
            for (Layer layer : layers) {
                String p;
                java.util.Set<String> listed;
                boolean lastLayer = false;
                int atFd = -1;
                if (next.abs() != null) {
                    // (in the bottom layer nothing is looked for below: the kernel reads no marker there)
                    RedirectPath.Walk w = next.walk(layer.root(), fs::isOpaque, layer == layers.getLast() ? d -> null
                            : d -> redirectOf(d, fs.dirMarkers(d).redirect()));
                    // (the data-only layers are looked in by the path as the redirects on the way changed it)
                    if (dataRedirect != null) dataRedirect = next.abs();
                    if (w.end()) break;
                    if (w.path() == null) continue;
                    p = w.path();
                    lastLayer = w.opaqueOnTheWay();
                    listed = null;
                } else {
                    String parentPath = dirPathIn(dir, layer);
                    if (parentPath == null) continue;
                    p = parentPath + "/" + next.name();
                    listed = listedNames(dir, parentPath);
                    if (at != null) atFd = at.fd(dir, layer, parentPath);
                }
                // a name a listing of this lower directory did not show is not there (nor is its .wh.NAME when that
                // was not shown either): no statx (the LOOKUP before each create of a new name)
                Stat st = listed != null && !listed.contains(next.name()) ? null
                        : atFd >= 0 ? lstatAt(layer, atFd, next.name(), p) : lstat(layer, p);
                if (st == null) {
                    // an AUFS whiteout in the bottom layer hides nothing (the loop ends the same way without it):
                    // not looked for there, one statx less per missing name (each LOOKUP before a create)
                    if (layer != layers.getLast() && (listed != null ? listed.contains(AufsWhiteouts.PREFIX + next.name())
                            : AufsWhiteouts.whitedOut(p))) {   // as a whiteout, below
                        if (upper == null && lowers.isEmpty()) return null;
                        break;
                    }
                    if (lastLayer) break;
                    continue;
                }
                checkTrap(p, st);
                OverlayFs.Markers m = st.isWhiteout() ? OverlayFs.Markers.NONE
                        : markersOf(p, st, false, atFd, next.name());
                if (st.isWhiteout() || isXwhiteout(st, m)) {
                    if (upper == null && lowers.isEmpty()) return null;
                    break;
                }
                if (wantData) {
                    if (!st.isReg()) break;                 // the data must be a regular file
                    if (!metacopy(p, m.metacopy())) {       // (wanting data, metacopy files are followed)
                        lowers.add(new Node.Lower(layer, p));
                        wantData = false;
                        break;
                    }
                    // an intermediate metacopy file: skipped (only the top one and the data count), its
                    // redirect followed
                    String r = redirectOf(p, m.redirect());
                    next.follow(r);
                    if (r != null) dataRedirect = next.abs();
                    continue;
                }
                if (!st.isDir()) {
                    if (!wantDir && lowers.isEmpty()) {
                        lowers.add(new Node.Lower(layer, p));
                        lowerTop = st;
                        topFd = atFd;
                        topName = next.name();
                        if (fs.followsMetacopy() && st.isReg() && metacopy(p, m.metacopy())) {
                            // a lower metadata-only copy: its data is below
                            wantData = true;
                            String r = redirectOf(p, m.redirect());
                            next.follow(r);
                            dataRedirect = r != null ? next.abs() : null;
                            continue;
                        }
                    }
                    break;
                }
                if (lowers.isEmpty()) {
                    lowerTop = st;
                    topHasOrigin = m.origin() != null;
                }
                lowers.add(new Node.Lower(layer, p));
                wantDir = true;
                if (m.isOpaque()) break;
                String r = redirectOf(p, m.redirect());
                // an opaque directory on the way of an absolute walk makes this layer the last one, unless what it
                // led to has an absolute redirect of its own, which the kernel then follows (xfstests overlay/057)
                if (lastLayer && (r == null || !r.startsWith("/"))) break;
                next.follow(r);
            }
        }
        if (upper == null && lowers.isEmpty()) return null;
        boolean dataMissing = false;
        if (wantData && dataRedirect != null && !fs.dataLayers.isEmpty()) {
            Node.Lower d = dataLayerFile(dataRedirect);
            if (d != null) lowers.add(d);
            else dataMissing = true;                 // the kernel finds out at the first open: so do we
            wantData = false;
        }
        if (wantData) {
            throw fail(Inspection.Failure.METACOPY_NO_DATA, upper != null ? upper.path() : lowers.getFirst().path(), Errno.EIO,
                    "metacopy with no lower data found - abort lookup (" + name + ")");
        }
        org.overlayj.core.fh.Fh[] blob = new org.overlayj.core.fh.Fh[1];
        String indexPath = upper == null ? lookupLower(lowers.getFirst(), lowerTop, blob, topFd, topName) : null;
        Node n = place(dir, name, upper, lowers, lowerTop, indexPath, dataMissing, upper == null && topHasOrigin);
        // the index lookup made the lower's blob: keep it for the node's handle (same inode, whatever the path)
        if (blob[0] != null && n.lowerBlob == null && n.hasLower() && n.topLower().layer() == lowers.getFirst().layer()
                && n.topLower().path().equals(lowers.getFirst().path())) n.lowerBlob = blob[0];
        return new Resolved(n, upper != null ? upper.st() : indexPath == null ? lowerTop : null);
    }

    /**
     * The names a listing read from {@code dir}'s lower directory {@code path} ({@link Node#lowerNames}), or null
     * when none did, or for an offline inspection, whose trace wants every real object it meets.
     */
    private java.util.Set<String> listedNames(Node dir, String path) {
        java.util.Map<String, java.util.Set<String>> m = dir.lowerNames;
        return m == null || trace != null ? null : m.get(path);
    }

    /** The path of directory {@code dir} in a lower layer, or null when it has no directory there. */
    private static String dirPathIn(Node dir, Layer layer) {
        if (dir.lowers() == null) return null;
        for (Node.Lower l : dir.lowers()) if (l.layer() == layer) return l.path();
        return null;
    }

    /** Walks an absolute redirect from a layer root (the shared rule: {@link RedirectPath#walkAbsolute}). */
    private RedirectPath.Walk walkAbsolute(Layer layer, String abs) throws ErrnoException {
        return RedirectPath.walkAbsolute(layer.root(), abs, fs::isOpaque);
    }

    /**
     * {@code NS redirect} of a directory, validated: relative is one name, absolute has no empty components.
     * Following is refused with EPERM under redirect_dir=nofollow (the kernel: "refusing to follow redirect").
     */
    String redirectOf(String path, byte[] v) throws ErrnoException {
        if (v == null) return null;
        String r = Linux.byteString(v);
        if (!fs.opts.redirectFollow()) throw fail(Inspection.Failure.REDIRECT_NOFOLLOW, path, Errno.EPERM, "refusing to follow redirect for (" + path + ")");
        if (!org.overlayj.core.xattr.OverlayXattr.validRedirect(r)) throw fail(Inspection.Failure.REDIRECT_INVALID, path, Errno.EINVAL, "invalid redirect (" + path + ")");
        return r;
    }

    /**
     * The data of a metacopy file in the data-only layers (format doc §1.6): the regular file at the absolute
     * redirect {@code abs} under the first data layer that has one, walked without following symlinks; null when
     * none has.
     */
    private Node.Lower dataLayerFile(String abs) throws ErrnoException {
        for (Layer layer : fs.dataLayers) {
            RedirectPath.Walk w = walkAbsolute(layer, abs);
            if (w.path() == null) continue;
            Stat st = Linux.lstatOrNull(w.path());
            if (st != null && st.isReg()) return new Node.Lower(layer, w.path());
        }
        return null;
    }

    /**
     * Whether {@code NS metacopy} (value {@code v}, null when absent) marks a metadata-only copy: empty, or the
     * 4-byte-or-longer verity structure; anything shorter is an error, as in the kernel (format doc §2.2).
     */
    private boolean metacopy(String path, byte[] v) throws ErrnoException {
        return switch (OverlayXattr.metacopyValue(v)) {
            case NONE -> false;
            case METACOPY -> true;
            case BAD -> throw fail(Inspection.Failure.METACOPY_XATTR, path, Errno.EIO, "metacopy file with bad xattr (" + path + ")");
        };
    }

    /**
     * The node of an object this overlay just made at (dir, name) in the upper layer, from what its maker knows:
     * its stat and whether it was marked opaque. A lookup would find exactly that (an upper non-directory, or an
     * upper directory with no lower below: a namesake below was whited out, so the new one is opaque), so the
     * node is placed as a lookup would place it, without the stat and the xattr listing.
     */
    Node placeNew(Node dir, String name, String upperPath, Stat st, boolean opaque) throws ErrnoException {
        OverlayFs.Markers m = opaque ? new OverlayFs.Markers(new byte[]{'y'}, null, null, null, null)
                : OverlayFs.Markers.NONE;
        Node n = place(dir, name, new Found(upperPath, st, fs.upper(), m), List.of(), null, null, false, false);
        n.knownMarkers = new Node.KnownMarkers(m, st.ino(), fs.decodeEpoch);
        return n;
    }

    /** Builds or refreshes the node for what was found, at (dir, name). */
    private Node place(Node dir, String name, Found upper, List<Node.Lower> lowers, Stat lowerTop, String indexPath,
                       boolean dataMissing, boolean whiteouts)
            throws ErrnoException {
        int type = upper != null ? upper.st().type() : lowerTop.type();
        long ino = inoOf(upper, lowers, lowerTop);
        Node n = fs.inodes.inode(ino, type);
        synchronized (n) {
            verify(n, dir, name, upper);
            return fill(n, dir, name, upper, lowers, lowerTop, indexPath, dataMissing, whiteouts);
        }
    }

    /**
     * Places {@code n} at the alias a lookup under the read lock last reached it by without placing it there
     * (Node#pendingAlias), by looking that name up again; caller holds the write lock. Whether {@code n} is now
     * placed there: the name may lead elsewhere by now (renamed, removed), and then nothing changed for it.
     */
    boolean placeAtPendingAlias(Node n) {
        Node.Alias a = n.takePendingAlias();
        if (a == null) return false;
        try {
            Resolved r = resolve(a.parent(), a.name());
            return r != null && r.node() == n;
        } catch (ErrnoException e) {
            return false;
        }
    }

    /**
     * The kernel's inode verification (ovl_verify_inode): an overlay inode already known under this number, placed
     * at another name, must be the object found here. Two upper files carrying one origin (a copy made outside the
     * mount: xfstests overlay/059, 049) would otherwise be served as one inode, one name giving the other's data:
     * the second name looked up is ESTALE while the first is known, as in the kernel. A directory known with an
     * upper inode and found here without one is an uncovered redirect origin, ESTALE too.
     */
    private void verify(Node n, Node dir, String name, Found upper) throws ErrnoException {
        if (n.lowers() == null || n.parent() == dir && name.equals(n.name()) || n.parent() == null && n.indexPath() == null) return;
        boolean other = upper == null ? n.isDir() && n.isUpper() && stillThere(n)
                : n.upperIno() != 0 && n.upperIno() != upper.st().ino();
        if (other) {
            throw fail(Inspection.Failure.INODE_ELSEWHERE, upper != null ? upper.path() : null, Errno.ESTALE,
                    "overlay inode " + n.ino + " found at another upper inode (" + name + ")");
        }
    }

    /** Places {@code n} at (dir, name) and records what was found there: Node#found. */
    private Node fill(Node n, Node dir, String name, Found upper, List<Node.Lower> lowers, Stat lowerTop,
                      String indexPath, boolean dataMissing, boolean whiteouts) throws ErrnoException {
        int type = n.type;
        if (type != Stat.S_IFDIR && upper == null && indexPath != null && n.isUpper() && !n.unlinked()
                && n.parent() != null && !fs.lock.isWriteLockedByCurrentThread()) {
            // An alias not linked up yet of an indexed object whose upper inode is at another name (a lower hard
            // link, another alias of it copied up): its upper inode is that name's, the index entry's. Moving the
            // node here would take it from UPPER to INDEX while others read it under the same read lock: one that
            // saw it upper and then this place would open a name that has no upper file (ENOENT,
            // IndexConcurrencyTest). It stays where its upper name is and remembers this alias; a change (write
            // lock) places it here for real, as it must before it links this name up or removes it: a removal
            // or rename looks the name up again, a copy-up places it at this pending alias (placeAtPendingAlias).
            n.rememberAlias(dir, name);
            return n;
        }
        n.placeAt(dir, name);
        boolean metacopy = false, indexed = false, merge = false;
        int lowerNlink = 0;
        if (type != Stat.S_IFDIR) {
            // the data of a metadata-only copy is the last lower's (the lookup kept the top metacopy and the data)
            metacopy = upper != null ? upper.markers().metacopy() != null
                    : indexPath != null ? fs.opts.metacopy() && fs.markers(indexPath).metacopy() != null
                    : lowers.size() > 1 || dataMissing;
            if (upper == null) {
                indexed = indexPath != null;
                lowerNlink = lowerTop.nlink();
            } else {
                OverlayFs.OriginInfo o = fs.decodeOrigin(upper.markers().origin());
                lowerNlink = o == null ? 0 : o.nlink();
                indexed = o != null && indexed(upper.markers().origin(), upper.st());
            }
        } else if (upper != null && !lowers.isEmpty() && !fs.layers.readOnly() && upper.markers().origin() == null) {
            // A merge dir whose upper copy lacks an origin (made by another tool): record it, as the kernel does at
            // lookup (format doc E15), so its whiteouts stay hidden even if the lower goes away.
            Node.Lower lo = lowers.getFirst();
            try {
                fs.setX(upper.path(), OverlayXattr.ORIGIN, fs.blobOf(lo.path(), lo.layer()).bytes());
            } catch (ErrnoException e) {
                fs.setX(upper.path(), OverlayXattr.ORIGIN, new byte[0]);
            }
            fs.setImpure(fs.paths.upperPath(dir));
        }
        if (type == Stat.S_IFDIR) {
            // The lowers list is the whole stack this directory merges: children are looked up in those only.
            merge = lowers.size() + (upper != null ? 1 : 0) > 1 || upper != null && upper.markers().origin() != null;
        }
        n.found(Node.Residence.found(upper != null, lowers, indexPath,
                upper != null ? upper.st().ino() : n.upperIno(), indexed, lowerNlink, metacopy,
                type != Stat.S_IFDIR && dataMissing, merge, type == Stat.S_IFDIR && whiteouts));
        return n;
    }

    /**
     * st_ino (format doc §6.5, one filesystem): a lower object keeps its lower number; a copied-up directory or
     * merge dir takes its top lower's (or decoded origin's); a copied-up non-directory takes its origin's number
     * when the origin has one link (or is indexed); otherwise the upper number.
     */
    private long inoOf(Found upper, List<Node.Lower> lowers, Stat lowerTop) throws ErrnoException {
        if (upper == null) return fs.mapIno(lowerTop.ino(), lowerTop.dev());
        Stat ust = upper.st();
        // nfs_export (the kernel's "verify_lower"): only an indexed origin lends its number, since several
        // redirects or broken hard links could otherwise share it
        boolean verifyLower = fs.opts.nfsExport() && fs.index.on();
        if (ust.isDir()) {
            // (the origin and its index entry are read only when a lower directory was found by name or redirect:
            // with none, the kernel's lookup never decodes the origin, and the directory is an upper one of its
            // own number even if it carries a copied-up directory's origin, e.g. a copy made outside the mount)
            if (verifyLower && (lowerTop == null || !dirIndexed(upper.markers().origin(), upper.path()))) {
                return fs.mapIno(ust.ino(), ust.dev());
            }
            if (lowerTop != null) return fs.mapIno(lowerTop.ino(), lowerTop.dev());
            OverlayFs.OriginInfo o = fs.decodeOrigin(upper.markers().origin());
            if (o != null && o.type() == Stat.S_IFDIR) return fs.mapIno(o.ino(), o.dev());
            return fs.mapIno(ust.ino(), ust.dev());
        }
        OverlayFs.OriginInfo o = fs.decodeOrigin(upper.markers().origin());
        if (o != null && o.type() == ust.type()
                && (o.nlink() == 1 && !verifyLower || indexed(upper.markers().origin(), ust))) {
            return fs.mapIno(o.ino(), o.dev());
        }
        return fs.mapIno(ust.ino(), ust.dev());
    }

    /**
     * A directory with an index entry (nfs_export): index/hex(origin) is a directory. Its {@code NS upper} must name
     * this upper directory: another one means two upper directories claim the origin (one copied outside the
     * mount, xfstests overlay/049), and the kernel fails the lookup with EIO.
     */
    private boolean dirIndexed(byte[] origin, String upperDir) throws ErrnoException {
        if (fs.layers.indexDir() == null || origin == null || origin.length == 0) return false;
        Stat ist = fs.index.entryStat(origin);
        if (ist == null || !ist.isDir()) return false;
        String ip = fs.index.entryPath(origin);
        byte[] up = fs.getX(ip, OverlayXattr.UPPER);
        if (up != null && !java.util.Arrays.equals(up, fs.blobOf(upperDir, fs.upperLayer).bytes())) {
            throw fail(Inspection.Failure.DIR_INDEX_ELSEWHERE, upperDir, Errno.EIO,
                    "suspected multiply redirected dir found (upper=" + upperDir + ")");
        }
        return true;
    }

    /** An upper non-directory that is the same inode as an index entry (index=on). */
    private boolean indexed(byte[] origin, Stat ust) throws ErrnoException {
        if (!fs.opts.index() || fs.layers.indexDir() == null) return false;
        if (origin == null || origin.length == 0) return false;
        Stat ist = fs.index.entryStat(origin);
        return ist != null && ist.ino() == ust.ino() && ist.dev() == ust.dev();
    }

    /** A directory node's upper inode is still at its place (a removed one is no longer a claimant). */
    private boolean stillThere(Node n) throws ErrnoException {
        Stat st = Linux.lstatOrNull(fs.paths.upperPath(n));
        return st != null && st.isDir() && (n.upperIno() == 0 || st.ino() == n.upperIno());
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
        Node r = fs.inodes.inode(ino, Stat.S_IFDIR);
        r.foundRoot(Node.Residence.found(fs.upperRoot != null, lowers, null, r.upperIno(), false, 0, false, false,
                true, false));
        return r;
    }

    // --- an offline inspection's view of a lookup (fsck; see Inspection) ------------------------------------------

    /**
     * What a lookup met on its way and why it failed, told as it happens; set only on the lookup of an offline
     * {@link Inspection} (one thread), null on a mounted overlay, where it costs one test per call.
     */
    interface Trace {
        /** A real object the lookup found at the name it looked for in {@code layer}. */
        void met(Layer layer, String path, Stat st);

        /** The lookup fails for this reason; {@code path} is the real object it blames (null when none). */
        void failed(Inspection.Failure why, String path);
    }

    Trace trace;

    /** lstat of the name looked for in a layer, told to the trace. */
    /**
     * The stats of lower entries that {@link DirReadahead} read moments ago (null: none kept). Not asked by fsck's
     * inspection (its trace wants what is on disk now) nor for the upper layer, which this mount changes.
     */
    java.util.function.Function<String, Stat> readAhead;

    /** {@link #lstat} of {@code path}, which is {@code name} in the lower directory open as {@code dirFd}. */
    private Stat lstatAt(Layer layer, int dirFd, String name, String path) throws ErrnoException {
        java.util.function.Function<String, Stat> ra = readAhead;
        if (ra != null) {
            Stat st = ra.apply(path);
            if (st != null) return st;
        }
        return Linux.lstatatOrNull(dirFd, name);
    }

    private Stat lstat(Layer layer, String path) throws ErrnoException {
        java.util.function.Function<String, Stat> ra = readAhead;
        if (ra != null && trace == null && layer != fs.upper()) {
            Stat st = ra.apply(path);
            if (st != null) return st;
        }
        Stat st = Linux.lstatOrNull(path);
        if (st != null && trace != null) trace.met(layer, path, st);
        return st;
    }

    /** The error a lookup fails with, its reason told to the trace first. */
    private ErrnoException fail(Inspection.Failure why, String path, int errno, String message) {
        if (trace != null) trace.failed(why, path);
        return OverlayFs.err(errno, message);
    }

    /** The index's check of a lower-only object (Index#lookupLower): its failure is an index entry's doing. */
    private String lookupLower(Node.Lower lo, Stat st, org.overlayj.core.fh.Fh[] blob, int dirFd, String name)
            throws ErrnoException {
        if (trace == null) return fs.index.lookupLower(lo, st, blob, dirFd, name);
        try {
            return fs.index.lookupLower(lo, st, blob);
        } catch (ErrnoException e) {
            trace.failed(Inspection.Failure.INDEX, lo.path());
            throw e;
        }
    }
}
