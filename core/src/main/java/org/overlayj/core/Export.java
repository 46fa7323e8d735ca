package org.overlayj.core;

import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.Layer;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.lang.ref.Cleaner;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Overlay file handles (the kernel's export.c, format doc §6): the handle is 3 zero bytes and an fh blob, naming
 * the lower origin of anything that started life lower (so it survives copy-up), or the upper inode of what was
 * born upper. Decoding never trusts the bytes: anything that does not resolve to an object of this overlay is
 * ESTALE.
 */
final class Export {
    private static final Cleaner CLEANER = Cleaner.create();
    private final OverlayFs fs;
    private final Lookup lookup;
    /**
     * What a lower handle resolved to (its layer, inode number and type), by fh blob hex. Lower layers do not
     * change while mounted, so these facts stay true; a decode that finds them skips open_by_handle_at, the fd's
     * path and the layer check, and goes straight to what can change: the index entry and the node cache.
     */
    private final Map<String, LowerFacts> lowerFacts = new ConcurrentHashMap<>();
    private static final int LOWER_FACTS_MAX = 1 << 16;

    private record LowerFacts(long ino, int type) {}

    /**
     * The last answer per handle (fh blob hex), and the overlay's change count when it was given. Decodes run under
     * the namespace read lock and every change bumps the count under the write lock, so while the count is the same
     * nothing a decode reads has changed (index entries, the upper layer, node places) and it would end on the same
     * node again: a repeated decode is then two map lookups and no system call. A copied-up directory gains most, as
     * its full check reads its index entry, its upper dir and that dir's origin. The node is named by inode number and
     * generation, not held: one that was collected meanwhile voids the answer.
     */
    private final Map<String, Answer> answers = new ConcurrentHashMap<>();
    private static final int ANSWERS_MAX = 1 << 16;

    private record Answer(long epoch, long ino, long generation, int unlinks) {}

    private final LowerInodes lowerInodes = new LowerInodes();
    private final java.util.Map<Long, String> upperPaths = new java.util.concurrent.ConcurrentHashMap<>();

    Export(OverlayFs fs, Lookup lookup) {
        this.fs = fs;
        this.lookup = lookup;
    }

    // --- encode ----------------------------------------------------------------------------------------------------

    byte[] encode(Node n) throws ErrnoException {
        Fh fh = blobFor(n);
        remember(fh, n);
        byte[] blob = fh.bytes();
        byte[] out = new byte[3 + blob.length];
        System.arraycopy(blob, 0, out, 3, blob.length);
        return out;
    }

    /**
     * A handle handed out is also an answer (see {@link #answers}): until the next change, its decode ends on the
     * node it was made from, so the decode that follows (an NFS client's GETATTR of what LOOKUP or CREATE just
     * gave it) is two map lookups instead of a full decode (open_by_handle_at, the fd's path, a walk, stats and
     * xattrs). Only for a node at a place of its own: an unlinked one's handle decodes stale, and a disconnected
     * one's answer comes from its own decode. Callers hold the namespace lock, so the change count is the one the
     * node was read under.
     */
    private void remember(Fh fh, Node n) {
        if (n.unlinked() || n.parent() == null && n != fs.root) return;
        if (answers.size() >= ANSWERS_MAX) answers.clear();
        answers.put(fh.hex(), new Answer(fs.decodeEpoch, n.ino, n.generation(), n.unlinks()));
    }

    /** Which inode a handle names (§6.3). */
    private Fh blobFor(Node n) throws ErrnoException {
        if (n.handle() != null) return n.handle();
        if (fs.upperRoot == null) return fs.lowerBlobOf(n);
        if (n == fs.root) {
            // the upper root never changes while mounted: its handle is made once (Node#upperBlob)
            Fh made = n.upperBlob;
            if (made == null) n.upperBlob = made = fs.blobOf(fs.upperRoot, fs.upperLayer);
            return made;
        }
        if (n.parent() == null && n.indexPath() == null) return fs.blobOf(fs.upperRoot, fs.upperLayer);
        if (!n.isUpper()) {
            if (n.hasLower()) return fs.lowerBlobOf(n);
        }
        // Born upper (no lowers): its blob is its upper inode's unless that carries an origin; made once per inode
        // (Node#upperBlob, dropped by every transition that may move the node to another inode).
        boolean pureUpper = n.isUpper() && !n.hasLower();
        if (pureUpper) {
            Fh made = n.upperBlob;
            if (made != null) return made;
        }
        String up = fs.paths.upperPath(n);
        byte[] origin = pureUpper && n.bornUpper ? null : fs.getX(up, OverlayXattr.ORIGIN);
        if (origin != null && origin.length > 0 && (n.indexed() || n.isDir() && dirIndexed(origin))) {
            if (Fh.parse(origin) instanceof Fh.Ok(Fh fh)) return fh;
        }
        Fh fh = fs.blobOf(up, fs.upperLayer);
        if (pureUpper && origin == null) n.upperBlob = fh;
        return fh;
    }

    /**
     * §6.3: a lower directory's handle must lead back to it after a restart, when no cache knows it. Decode
     * reaches a lower directory by walking its lower path down the overlay from the deepest indexed ancestor; a
     * redirect in a higher lower layer, or a renamed ancestor that is not indexed, breaks that walk. Such a
     * directory is copied up (and so indexed, with its ancestors) before its handle is handed out, as the kernel
     * does; decode then finds it through its directory index entry. The check runs once per node.
     */
    boolean needsConnect(Node n) throws ErrnoException {
        if (!n.isDir() || n.isUpper() || n.connectable || n.parent() == null || !n.hasLower()) return false;
        // (an overlay opened offline to look at is read-only, yet must say what a read-write mount would do)
        if (fs.upperRoot == null || fs.layers.readOnly() && !fs.offline || !fs.opts.nfsExport()) return false;
        // Offline, layers no index=on mount has seen yet have no W/index: the first such mount makes it (empty) and
        // copies up as below, so the answer is the one it would give, not "no index, no copy-up".
        if (!fs.index.on() && !(fs.offline && fs.opts.index() && fs.layers.indexDir() == null)) return false;
        Node.Lower lo = n.topLower();
        if (connectLowerDir(lo.layer(), lo.path(), n.ino) == n) {
            n.connectable = true;
            return false;
        }
        return true;
    }

    private boolean dirIndexed(byte[] origin) throws ErrnoException {
        if (!fs.index.on()) return false;
        Stat st = Linux.lstatOrNull(fs.index.path(origin));
        return st != null && st.isDir();
    }

    // --- compact handles ----------------------------------------------------------------------------------------

    /** FILEID_INO32_GEN: what ext4 (and xfs with 32-bit inode numbers) hand out: inode and generation, 32 bits each. */
    private static final int FILEID_INO32_GEN = 1;

    /**
     * The handle of {@code n} in 64 bits, for a door whose handles are that small (FUSE: the nodeid); 0 when it does
     * not fit. It is the real handle the overlay handle names (the lower origin of what started lower, the upper
     * inode of what was born upper), when that real handle is an inode and generation of 32 bits each: the layer it
     * belongs to is found again by decoding (see {@link #decodeCompact}). Unlike {@link Overlay#encodeHandle}, a
     * lower directory is never copied up for it: it is asked for at every new lookup, not only by exporters.
     */
    long compact(Node n) throws ErrnoException {
        if (n == fs.root) return 0;
        Fh fh = blobFor(n);
        byte[] fid = fh.fid();
        if (fh.type() != FILEID_INO32_GEN || fid.length != 8) return 0;
        long v = java.nio.ByteBuffer.wrap(fid).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        return v == 0 || v == 1 ? 0 : v;   // never what a door reserves (FUSE: 0 is none, 1 the root)
    }

    /**
     * The object a {@link #compact} handle names: the real handle it holds, tried as a lower handle of each lower
     * filesystem and then as an upper one, each decoded as a whole handle would be (with all its checks), and
     * accepted only when the object found gives the same compact handle back. ESTALE when none does.
     */
    Node decodeCompact(long v) throws ErrnoException {
        if (v == 0 || v == 1) throw stale("not a compact handle");
        byte[] fid = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(v).array();
        java.util.List<Fh> tries = new java.util.ArrayList<>();
        java.util.Set<String> uuids = new java.util.HashSet<>();
        for (Layer l : fs.layers.lowers()) {
            if (uuids.add(java.util.HexFormat.of().formatHex(l.uuid()))) {
                tries.add(Fh.of(new org.overlayj.sys.FileHandle(FILEID_INO32_GEN, fid), l.uuid(), false));
            }
        }
        // lower first: a lower inode tried as an upper one on the same filesystem would walk the upper layer
        if (fs.upperLayer != null) {
            tries.add(Fh.of(new org.overlayj.sys.FileHandle(FILEID_INO32_GEN, fid), fs.upperLayer.uuid(), true));
        }
        for (Fh fh : tries) {
            byte[] blob = fh.bytes();
            byte[] h = new byte[3 + blob.length];
            System.arraycopy(blob, 0, h, 3, blob.length);
            Node n;
            try {
                n = decode(h);
            } catch (ErrnoException e) {
                continue;
            }
            if (compact(n) == v) return n;
        }
        throw stale("no layer holds " + Long.toHexString(v));
    }

    // --- decode ----------------------------------------------------------------------------------------------------

    Node decode(byte[] handle) throws ErrnoException {
        try {
            Node n = decode0(handle);
            if (n == null) throw stale("not an object of this overlay");
            return n;
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ESTALE) throw e;
            throw stale(e.getMessage());
        } catch (RuntimeException e) {
            throw stale("bad handle: " + e);
        }
    }

    private static ErrnoException stale(String why) {
        return new ErrnoException(Errno.ESTALE, why);
    }

    /** The fh blob inside a handle: type 0xf8 (3 zero bytes first) or the legacy 0xfb (blob first, padded). */
    private static Fh blobOf(byte[] h) throws ErrnoException {
        if (h == null || h.length < 21) throw stale("short handle");
        byte[] blob;
        if (h.length >= 24 && h[0] == 0 && h[1] == 0 && h[2] == 0 && (h[4] & 0xff) == Fh.MAGIC) {
            blob = Arrays.copyOfRange(h, 3, h.length);
        } else if ((h[1] & 0xff) == Fh.MAGIC) {
            blob = h;
        } else {
            throw stale("not an overlay handle");
        }
        if (!(Fh.parse(blob) instanceof Fh.Ok(Fh fh))) throw stale("bad fh blob");
        if (fh.length() > blob.length) throw stale("truncated");
        return fh;
    }

    private Node decode0(byte[] handle) throws ErrnoException {
        Fh fh = blobOf(handle);
        String key = fh.hex();
        long epoch = fs.decodeEpoch;
        Answer last = answers.get(key);
        if (last != null && last.epoch() == epoch) {
            Node n = fs.inodes.cached(last.ino());
            // unlinks: the removal of a born-upper file voids no answer but its own (Namespace#remove), and this
            // node may stand for a new inode of the same number since
            if (n != null && n.generation() == last.generation() && n.unlinks() == last.unlinks()) return n;
        }
        Node n = fh.upper() ? decodeUpper(fh) : decodeLower(fh, key);
        if (n != null) {
            if (answers.size() >= ANSWERS_MAX) answers.clear();
            answers.put(key, new Answer(epoch, n.ino, n.generation(), n.unlinks()));
        }
        return n;
    }

    private Node decodeUpper(Fh fh) throws ErrnoException {
        if (fs.upperLayer == null) throw new ErrnoException(Errno.EACCES, "no upper layer");
        if (!Arrays.equals(fh.uuid(), fs.upperLayer.uuid())) throw stale("uuid");
        int fd = fs.openByHandle(fs.upperLayer.dev(), fh);
        boolean keep = false;
        try {
            Stat st = Linux.fstat(fd);
            String rel = relative(Linux.fdPathOrRoot(fd), fs.upperRoot, st);
            if (rel != null) {
                Node n = walk(rel);
                if (n != null && n.isUpper() && Linux.lstat(fs.paths.upperPath(n)).ino() == st.ino()) return n;
                if (st.isDir()) return null;
            } else if (st.isDir() || knownPath(Linux.fdPathOrRoot(fd), st)) {
                return null; // outside the upper root (elsewhere on the fs, or in the work dir)
            }
            // A non-directory with no known name (cold caches): the kernel would hand out a disconnected alias of
            // any inode of the fs here. We look for it in the upper layer instead: found, it is connected at its
            // path; not found, it is not of this overlay (elsewhere on the fs, or unlinked).
            if (st.nlink() == 0 || st.dev() != fs.upperLayer.dev()) return null;
            String found = findInUpper(st.ino());
            if (found == null) return null;
            Node n = walk(found);
            return n != null && n.isUpper() && Linux.lstat(fs.paths.upperPath(n)).ino() == st.ino() ? n : null;
        } finally {
            if (!keep) Linux.closeQuietly(fd);
        }
    }

    /**
     * The path below the upper root where a non-directory of the upper layer is linked, or null when it is linked
     * nowhere there. Cold-cache decodes of pure-upper files are rare (after a restart, once per object), so a walk
     * of the upper layer is acceptable; the last answer per inode is remembered and checked before use.
     */
    private String findInUpper(long ino) throws ErrnoException {
        String known = upperPaths.get(ino);
        if (known != null) {
            Stat s = Linux.lstatOrNull(fs.upperRoot + known);
            if (s != null && s.ino() == ino && !s.isDir()) return known;
            upperPaths.remove(ino);
        }
        java.util.ArrayDeque<String> dirs = new java.util.ArrayDeque<>();
        dirs.push("");
        while (!dirs.isEmpty()) {
            String rel = dirs.pop();
            java.util.List<org.overlayj.sys.DirEnt> entries;
            try {
                entries = Linux.readdir(fs.upperRoot + rel);
            } catch (ErrnoException e) {
                continue; // removed meanwhile
            }
            for (org.overlayj.sys.DirEnt e : entries) {
                if (e.name().equals(".") || e.name().equals("..")) continue;
                String path = rel + "/" + e.name();
                boolean dir = e.type() == org.overlayj.sys.DirEnt.DT_DIR;
                if (e.type() == org.overlayj.sys.DirEnt.DT_UNKNOWN) {
                    Stat st = Linux.lstatOrNull(fs.upperRoot + path);
                    if (st == null) continue;
                    dir = st.isDir();
                }
                if (dir) {
                    dirs.push(path);
                } else if (e.ino() == ino) {
                    if (upperPaths.size() > 65536) upperPaths.clear();
                    upperPaths.put(ino, path);
                    return path;
                }
            }
        }
        return null;
    }

    /** Drops the lower-handle facts and the answers (with the node cache: a cold start for benchmarks). */
    void dropCaches() {
        lowerFacts.clear();
        answers.clear();
    }

    private Node decodeLower(Fh fh, String key) throws ErrnoException {
        LowerFacts known = lowerFacts.get(key);
        if (known != null) {
            Node n = decodeKnownLower(fh, known);
            if (n != null) return n;
        }
        for (Layer layer : fs.layers.lowers()) {
            if (!Arrays.equals(fh.uuid(), layer.uuid())) continue;
            int fd;
            try {
                fd = fs.openByHandle(layer.dev(), fh);
            } catch (ErrnoException e) {
                continue;
            }
            boolean keep = false;
            try {
                Stat st = Linux.fstat(fd);
                String path = Linux.fdPathOrRoot(fd);
                Layer owner = ownerOf(path, st);
                // Outside every lower layer. A non-directory the kernel cannot name (cold caches) has no path to
                // check: it passes only if it is one of a lower layer's own inodes (the kernel's decode would let
                // any inode of the fs through here; a handle must not lead out of the overlay).
                if (owner == null && (st.isDir() || knownPath(path, st))) return null;
                if (owner == null && !inLowerLayers(st)) return null;
                if (owner != null) layer = owner;
                long ino = fs.mapIno(st.ino(), st.dev());
                if (owner != null) {
                    if (lowerFacts.size() >= LOWER_FACTS_MAX) lowerFacts.clear();
                    lowerFacts.put(key, new LowerFacts(ino, st.type()));
                }
                String ip = fs.index.on() ? fs.index.path(fh) : null;
                Stat ist = ip == null ? null : Linux.lstatOrNull(ip);
                if (ist != null && ist.isWhiteout()) throw stale("deleted (whiteout index)");
                if (ist != null && ist.isDir()) return decodeDirIndex(ip, ino);
                Node cached = fs.inodes.cached(ino);
                if (cached != null && cached.type == st.type() && (cached.parent() != null || cached == fs.root)) {
                    return cached.unlinked() && ist != null ? throughIndex(cached, ip, ist, fh) : cached;
                }
                if (st.isDir()) return connectLowerDir(layer, path, ino);
                if (owner != null) {
                    Node n = walk(path.substring(owner.root().length()));
                    if (n != null && n.ino == ino) return n;
                }
                // Disconnected non-directory: reads come from the lower inode (or its index entry once indexed).
                Node n = fs.inodes.inode(ino, st.type());
                // Decoded disconnected before: it already holds an fd on this very inode (lower inodes stay put).
                // Holding one more per decode kept them all open for as long as the node lived.
                boolean holds = n.parent() == null && n.hasLower() && RealPaths.isFdPath(n.topLower().path());
                n.decoded(holds ? null : java.util.List.of(new Node.Lower(layer, "/proc/self/fd/" + fd)),
                        ist != null ? ip : null, st.nlink(), fh);
                if (!holds) {
                    holdFd(n, fd);
                    keep = true;
                }
                return n;
            } finally {
                if (!keep) Linux.closeQuietly(fd);
            }
        }
        throw stale("no lower layer holds it");
    }

    /**
     * The fast path of {@link #decodeLower} for a handle resolved before: the same index entry checks, then the
     * cached node. Null when the node is not cached (the full path then opens the handle again: a disconnected
     * node needs the fd, a walk needs the lower path).
     */
    private Node decodeKnownLower(Fh fh, LowerFacts known) throws ErrnoException {
        Stat ist = fs.index.on() ? Linux.lstatOrNull(fs.index.path(fh)) : null;
        if (ist != null && ist.isWhiteout()) throw stale("deleted (whiteout index)");
        Node cached = fs.inodes.cached(known.ino());
        if (cached == null || cached.type != known.type() || (cached.parent() == null && cached != fs.root)) {
            return null;
        }
        if (cached.unlinked() && ist != null && !ist.isDir()) return throughIndex(cached, fs.index.path(fh), ist, fh);
        if (ist != null && ist.isDir()) {
            // A copied-up directory is found through its index entry and a walk to where its upper dir is now; the
            // cached node is the one that walk would end on (one node per inode) only while its upper dir is still
            // at the node's place and still carries this origin: the node cache itself outlives an rmdir.
            if (!cached.isUpper()) return null;
            String up = fs.paths.upperPath(cached);
            Stat ust = Linux.lstatOrNull(up);
            if (ust == null || !ust.isDir()) return null;
            byte[] origin = fs.getX(up, OverlayXattr.ORIGIN);
            return origin != null && Arrays.equals(origin, fh.bytes()) ? cached : null;
        }
        return cached;
    }

    /**
     * A node whose last name known to this mount went away, while its index entry still links its upper inode: the
     * handle names that inode, and its data is served from the entry, as the kernel serves it (its decode looks the
     * index entry up and hands out a disconnected alias of the entry's inode). That happens after a remount under
     * nfs_export, where the removal of the last upper alias of a single-link file left the entry with one link
     * (the count read in was the upper's own, see Index#nlink); the next mount whites it out as an orphan, and the
     * handle is ESTALE from then on. The node becomes disconnected on the entry, as a cold decode makes it; an open
     * file on it keeps its own fd. Without the entry (or a whiteout there) it stays unlinked: ENOENT, or ESTALE.
     */
    private Node throughIndex(Node n, String ip, Stat ist, Fh fh) {
        if (n.isDir() || ist.isWhiteout() || ist.type() != n.type || ist.nlink() < 1) return n;
        n.disconnectedOnIndex(ip, fh);  // as a cold decode leaves it: the entry is its upper inode (RealPaths#realPath)
        return n;
    }

    /** A copied-up (indexed) directory: its index entry's {@code NS upper} names the upper dir, wherever it is now. */
    private Node decodeDirIndex(String ip, long ino) throws ErrnoException {
        byte[] upper = fs.getX(ip, OverlayXattr.UPPER);
        if (upper == null || !(Fh.parse(upper) instanceof Fh.Ok(Fh ufh))) throw stale("dir index without upper");
        Node n = decodeUpper(ufh);
        if (n == null || !n.isDir() || n.ino != ino) throw stale("directory moved out of the overlay");
        return n;
    }

    /**
     * A lower directory is reached through its overlay path: from the deepest ancestor that was copied up and
     * indexed (so renamed ancestors are followed), then down by name, checking the inode at the end.
     */
    private Node connectLowerDir(Layer layer, String path, long ino) throws ErrnoException {
        String rel = path.substring(layer.root().length());
        String[] parts = rel.isEmpty() ? new String[0] : rel.substring(1).split("/");
        Node start = null;
        int from = 0;
        if (fs.index.on() && fs.opts.nfsExport()) {
            for (int i = parts.length - 1; i >= 1 && start == null; i--) {
                String ancestor = layer.root() + "/" + String.join("/", Arrays.copyOfRange(parts, 0, i));
                Fh afh = fs.blobOf(ancestor, layer);
                Stat ist = Linux.lstatOrNull(fs.index.path(afh));
                if (ist != null && ist.isDir()) {
                    Stat ast = Linux.lstat(ancestor);
                    start = decodeDirIndex(fs.index.path(afh), fs.mapIno(ast.ino(), ast.dev()));
                    from = i;
                }
            }
        }
        Node n = start != null ? start : fs.root;
        for (int i = from; i < parts.length && n != null; i++) n = lookup.child(n, parts[i]);
        return n != null && n.ino == ino ? n : null;
    }

    /**
     * Gives a disconnected non-directory (decoded from a handle with no name known: cold caches after a restart) its
     * place in the overlay again, before it is copied up; true when it has one now. Why: the copy of a disconnected
     * file can only go into the index, with no upper alias, and the kernel's next read-write mount takes such an
     * entry for an orphan when the lower file has one link, whatever its {@code NS nlink} says ("orphan index
     * entry", a whiteout, then EIO and the written data gone: the kernel does this to its own disconnected copy-ups
     * too). The lower file's name in its layer comes from the fd (when the lower fs still knows it) or from the
     * layer scan; that lower path is then looked up through the overlay as a decoded lower directory is (from the
     * deepest indexed ancestor, so renamed directories are followed; whiteouts, opaque dirs and redirects apply),
     * and accepted only when it ends on this very node. The lookup places the node there (one node per inode).
     */
    boolean reconnect(Node n) throws ErrnoException {
        if (n.parent() != null || n == fs.root) return true;
        if (n.isDir() || !n.hasLower() || fs.upperRoot == null) return false;
        Node.Lower lo = n.topLower();
        Stat st = fs.paths.statReal(lo.path());
        long ino = fs.mapIno(st.ino(), st.dev());
        if (ino != n.ino) return false;
        String known = RealPaths.isFdPath(lo.path()) ? Linux.fdPathOrRoot(RealPaths.fdOfPath(lo.path())) : lo.path();
        Layer owner = ownerOf(known, st);
        if (owner != null && connectLowerDir(owner, known, ino) == n) return true;
        for (Layer l : fs.layers.lowers()) {
            if (l.dev() != st.dev() || !lowerInodes.contains(l, st.ino())) continue;
            String path = lowerInodes.pathOf(l, st.ino());
            if (path != null && connectLowerDir(l, path, ino) == n) return true;
        }
        return false;
    }

    private boolean inLowerLayers(Stat st) throws ErrnoException {
        for (Layer l : fs.layers.lowers()) {
            if (l.dev() == st.dev() && lowerInodes.contains(l, st.ino())) return true;
        }
        return false;
    }

    /** The path is a real name of that inode (not the "/" of a disconnected dentry). */
    private static boolean knownPath(String path, Stat st) throws ErrnoException {
        if (path.equals("/") || !path.startsWith("/")) return false;
        Stat now = Linux.lstatOrNull(path);
        return now != null && now.ino() == st.ino() && now.dev() == st.dev();
    }

    /** The lower layer whose root contains this path, or null (a disconnected "/" path, or outside the layers). */
    private Layer ownerOf(String path, Stat st) throws ErrnoException {
        for (Layer l : fs.layers.lowers()) {
            if (relative(path, l.root(), st) != null) return l;
        }
        return null;
    }

    /** The path below {@code root} ("" for the root itself) if {@code path} is really that inode there; else null. */
    private static String relative(String path, String root, Stat st) throws ErrnoException {
        if (!path.equals(root) && !path.startsWith(root + "/")) return null;
        Stat now = Linux.lstatOrNull(path);
        if (now == null || now.ino() != st.ino() || now.dev() != st.dev()) return null;
        return path.substring(root.length());
    }

    private Node walk(String rel) throws ErrnoException {
        Node n = fs.root;
        if (rel.isEmpty()) return n;
        for (String p : rel.substring(1).split("/")) {
            n = lookup.child(n, p);
            if (n == null) return null;
        }
        return n;
    }

    private static void holdFd(Node n, int fd) {
        CLEANER.register(n, () -> Linux.closeQuietly(fd));
    }
}
