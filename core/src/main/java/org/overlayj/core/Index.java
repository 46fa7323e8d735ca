package org.overlayj.core;

import org.overlayj.core.fh.Fh;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The inodes index (format doc §5): {@code W/index/<hex of the origin blob>} is a hard link to the upper inode of a
 * copied-up lower object, so every alias of a lower hard link finds one upper inode, and the union link count lives
 * in {@code NS nlink} on that inode.
 */
final class Index {
    private final OverlayFs fs;
    /**
     * The overlay's in-memory link count of indexed inodes touched during this mount. The kernel keeps it in the
     * overlay inode and recomputes it from {@code NS nlink} only when the inode is read in again (§5.5), which is
     * why a single-link file indexed under nfs_export shows nlink 1 until a remount and 2 after; we keep the same.
     */
    private final Map<Long, Integer> nlinks = new ConcurrentHashMap<>();
    /**
     * Indexed objects whose in-memory count was held at 1 ({@link #dropped}): it no longer follows from the stored
     * offset, so the offset is rewritten from it before each link change, as the kernel writes it from i_nlink.
     */
    private final java.util.Set<Long> held = ConcurrentHashMap.newKeySet();

    Index(OverlayFs fs) {
        this.fs = fs;
    }

    boolean on() {
        return fs.opts.index() && fs.layers.indexDir() != null && !fs.layers.readOnly();
    }

    /** Whether copying up this lower inode goes through the index: lower hard links, or everything with nfs_export. */
    boolean indexes(Stat lower) {
        if (!on()) return false;
        if (lower.isDir()) return false; // directory index entries come with nfs_export handles
        return lower.nlink() > 1 || fs.opts.nfsExport();
    }

    String path(Fh origin) {
        return fs.layers.indexDir() + "/" + origin.hex();
    }

    String path(byte[] originBlob) {
        return fs.layers.indexDir() + "/" + java.util.HexFormat.of().formatHex(originBlob);
    }

    /**
     * For a lower-only non-directory: its index entry, when another alias was already copied up. A whiteout index
     * (a deleted exported object) or one of another type is a corrupt index for a lookup: EIO, as the kernel says
     * "bad index found".
     */
    String lookupLower(Node.Lower lo, Stat lowerSt) throws ErrnoException {
        if (!on() || lowerSt.isDir() || (lowerSt.nlink() <= 1 && !fs.opts.nfsExport())) return null;
        Fh blob;
        try {
            blob = fs.blobOf(lo.path(), lo.layer());
        } catch (ErrnoException e) {
            return null;
        }
        String p = path(blob);
        Stat ist = Linux.lstatOrNull(p);
        if (ist == null) return null;
        if (ist.isWhiteout() || ist.type() != lowerSt.type())
            throw OverlayFs.err(Errno.EIO, "bad index found (index=" + blob.hex() + ")");
        return p;
    }

    // --- NS nlink ------------------------------------------------------------------------------------------------

    /** The stored relative count: {@code U±n} means union = upper nlink + n. Null when absent or malformed. */
    Integer storedOffset(String upperPath) throws ErrnoException {
        byte[] v = fs.getX(upperPath, OverlayXattr.NLINK);
        if (v == null || v.length < 3 || v.length > 12) return null;
        String s = new String(v, StandardCharsets.US_ASCII);
        if (s.charAt(0) != 'U' && s.charAt(0) != 'L') return null;
        if (s.charAt(1) != '+' && s.charAt(1) != '-') return null;
        try {
            int n = Integer.parseInt(s.substring(2));
            if (s.charAt(0) == 'L') return null; // only written mid-operation; treat as not readable
            return s.charAt(1) == '-' ? -n : n;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    void storeOffset(String upperPath, int offset) throws ErrnoException {
        String v = "U" + (offset < 0 ? "-" : "+") + Math.abs(offset);
        fs.setX(upperPath, OverlayXattr.NLINK, v.getBytes(StandardCharsets.US_ASCII));
    }

    /**
     * The link count stat shows for an indexed object (§5.5): the in-memory count if this mount already has one;
     * otherwise, when the lower inode has more than one link, upper nlink + the stored offset; otherwise the real
     * upper count (the "remount quirk").
     */
    int nlink(Node n, Stat real, int lowerNlink) throws ErrnoException {
        Integer mem = nlinks.get(n.ino);
        if (mem != null) return mem;
        int v = real.nlink();
        if (lowerNlink > 1) {
            Integer off = storedOffset(fs.realPath(n));
            if (off != null && real.nlink() + off > 0) v = real.nlink() + off;
        }
        nlinks.put(n.ino, v);
        return v;
    }

    /** The in-memory count of a lower-only object that nobody indexed yet: the lower count. */
    void remember(Node n, int nlink) {
        nlinks.putIfAbsent(n.ino, nlink);
    }

    void adjust(Node n, int delta) {
        nlinks.computeIfPresent(n.ino, (k, v) -> v + delta);
    }

    /**
     * Before a link or unlink of an indexed object whose count was held ({@link #held}): the union count relative to
     * its upper count, stored from the in-memory count as the kernel does at that point (ovl_nlink_start); a
     * remount reads it. Otherwise the stored offset already says what the kernel would write.
     */
    void beforeLinkChange(Node n, String upperPath) throws ErrnoException {
        Integer mem = held.contains(n.ino) ? nlinks.get(n.ino) : null;
        if (mem == null) return;
        int off = mem - Linux.lstat(upperPath).nlink();
        Integer stored = storedOffset(upperPath);
        if (stored == null || stored != off) storeOffset(upperPath, off);
    }

    /**
     * One name of an indexed object went away while {@code upperNlink} links (the index entry's own included) are
     * left on its upper inode: the count drops, but not to 0 while an upper alias remains when {@code lowerLinks}
     * (its lower inode has more than one link: a count that low with an alias left means links were added there;
     * a single-link file copied up under nfs_export starts one low, and the kernel lets that one drop). Lower hard links added
     * under a mounted overlay are not in the count, and removing them would otherwise drive it to 0 and below
     * (xfstests overlay/034); the kernel keeps 1 then. Returns whether it did (a client that dropped its own
     * cached count for the removed name must be told).
     */
    boolean dropped(Node n, int upperNlink, boolean lowerLinks) {
        boolean[] kept = new boolean[1];
        nlinks.computeIfPresent(n.ino, (k, v) -> {
            kept[0] = (lowerLinks || held.contains(k)) && v <= 1 && upperNlink > 1;
            return kept[0] ? v : v - 1;
        });
        if (kept[0]) held.add(n.ino);
        return kept[0];
    }

    boolean tracked(Node n) {
        return nlinks.containsKey(n.ino);
    }

    // --- copy-up through the index -------------------------------------------------------------------------------

    /**
     * Links the upper alias {@code dest} to an existing index entry (the "link-up" of §4.5), and moves the stored
     * offset so the union count stays the same.
     */
    void linkUp(Node n, String indexPath, String dest, String parentUpper) throws ErrnoException {
        Stat parentSt = Linux.lstat(parentUpper);
        fs.setImpure(parentUpper);
        Integer off = storedOffset(indexPath);
        Linux.link(indexPath, dest);
        // the union count relative to the upper count, as the kernel writes it: from the in-memory count when that
        // was held (see #held), otherwise one less than before, the upper count having grown by one
        Integer mem = held.contains(n.ino) ? nlinks.get(n.ino) : null;
        storeOffset(indexPath, mem != null ? mem - Linux.lstat(indexPath).nlink() : (off == null ? 0 : off) - 1);
        Linux.utimens(parentUpper, parentSt.atimeSec(), parentSt.atimeNsec(), parentSt.mtimeSec(),
                parentSt.mtimeNsec(), true);
    }

    /**
     * After an upper alias of an indexed inode went away: when nothing links it but the index entry and the union
     * count is 0, the entry goes too — or, under nfs_export, becomes a whiteout so old handles give ESTALE.
     */
    void afterUnlink(String indexPath) throws ErrnoException {
        Stat st = Linux.lstatOrNull(indexPath);
        if (st == null || st.isWhiteout() || st.isDir()) return;
        // union = upper nlink + n, where the upper nlink includes the index entry's own link.
        Integer off = storedOffset(indexPath);
        int union = st.nlink() + (off == null ? -1 : off);
        if (union > 0) return;
        if (st.nlink() > 1) return; // "cleanup linked index": some alias still links it; keep it
        if (fs.opts.nfsExport()) {
            String wh = fs.tempWhiteout();
            Linux.rename(wh, indexPath, 0);
        } else {
            Linux.unlink(indexPath);
        }
    }

    // --- mount-time verification and cleanup (§5.7) ----------------------------------------------------------------

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Index.class);

    private static final String HINT =
            "try deleting index dir or mounting with '-o index=off' to disable inodes index.";

    /**
     * Ties the index to this upper and lower: the upper root's {@code NS origin} is the top lower root's blob and
     * {@code W/index}'s {@code NS upper} the upper root's; written on the first mount, verified on later ones. Then
     * every index entry is checked as the kernel does; anything it would refuse refuses the mount.
     */
    void verifyAtMount() throws ErrnoException {
        var top = fs.layers.lowers().getFirst();
        byte[] lowerRoot = fs.blobOf(top.root(), top).bytes();
        byte[] have = fs.getX(fs.upperRoot, OverlayXattr.ORIGIN);
        if (have == null) {
            fs.setX(fs.upperRoot, OverlayXattr.ORIGIN, lowerRoot);
        } else if (!java.util.Arrays.equals(have, lowerRoot)) {
            throw refuse(Errno.ESTALE, "failed to verify upper root origin");
        }
        String dir = fs.layers.indexDir();
        byte[] upperRoot = fs.blobOf(fs.upperRoot, fs.upperLayer).bytes();
        byte[] legacy = fs.getX(dir, OverlayXattr.ORIGIN);
        if (legacy != null && !java.util.Arrays.equals(legacy, upperRoot)) {
            LOG.error("overlayfs: failed to verify upper ({}, err=-116)", fs.upperRoot);
            LOG.error("overlayfs: {}", HINT);
            throw refuse(Errno.ESTALE, "failed to verify index dir 'origin' xattr");
        }
        byte[] up = fs.getX(dir, OverlayXattr.UPPER);
        if (up == null) {
            fs.setX(dir, OverlayXattr.UPPER, upperRoot);
        } else if (!java.util.Arrays.equals(up, upperRoot)) {
            LOG.error("overlayfs: failed to verify upper ({}, err=-116)", fs.upperRoot);
            LOG.error("overlayfs: {}", HINT);
            throw refuse(Errno.ESTALE, "failed to verify index dir 'upper' xattr");
        }
        for (var e : Linux.readdir(dir)) {
            if (e.isDotOrDotDot()) continue;
            cleanupEntry(dir + "/" + e.name(), e.name());
        }
    }

    private static ErrnoException refuse(int errno, String message) {
        LOG.error("overlayfs: {}", message);
        return new ErrnoException(errno, message);
    }

    private void cleanupEntry(String path, String name) throws ErrnoException {
        if (name.startsWith("#")) {
            fs.removeTemp(path);
            return;
        }
        Stat st = Linux.lstat(path);
        if (st.isWhiteout()) return;
        switch (Fh.parseHex(name)) {
            case Fh.Bad(Fh.Problem p, String why) -> throw badEntry(name, st, p == Fh.Problem.INVALID ? Errno.EINVAL : Errno.ENODATA);
            case Fh.Ok(Fh fh) -> {
                if (st.isDir()) {
                    if (!fs.opts.nfsExport()) return;
                    byte[] upper = fs.getX(path, OverlayXattr.UPPER);
                    if (upper == null) {
                        LOG.warn("overlayfs: cleanup of stale index entry index/{}", name);
                        fs.removeTemp(path);
                        return;
                    }
                    Stat target = decodeUpper(upper);
                    if (target == null) {
                        orphan(path, name);
                    } else if (!target.isDir()) {
                        throw badEntry(name, st, Errno.EIO);
                    }
                    return;
                }
                byte[] origin = fs.getX(path, OverlayXattr.ORIGIN);
                if (origin == null) throw badEntry(name, st, Errno.ENODATA);
                if (!java.util.Arrays.equals(origin, fh.bytes())) {
                    LOG.warn("overlayfs: cleanup of stale index entry index/{}", name);
                    Linux.unlink(path);
                    return;
                }
                if (st.nlink() == 1) {
                    OverlayFs.OriginInfo lower = fs.decodeOrigin(origin);
                    if (lower == null) {
                        LOG.warn("overlayfs: cleanup of stale index entry index/{}", name);
                        Linux.unlink(path);
                        return;
                    }
                    if (unionAtMount(path, lower.nlink(), st.nlink()) <= 0) orphan(path, name);
                }
            }
        }
    }

    /**
     * The union link count the kernel's mount-time check computes for a non-directory index entry (ovl_get_nlink,
     * fallback 0): 0 when the lower has one link, whatever NS nlink says ("U+0" is what an index-only copy-up of a
     * disconnected file writes); else from NS nlink, {@code U±n} relative to the entry's own count and {@code L±n}
     * relative to the lower's; 0 when it is absent or malformed. Measured on 6.18 with a lower of 2 links and an
     * entry of 1: U+1, U+0, L+0, L-1 kept; L-2, U-1 and a bad value orphans (ReconnectTest).
     */
    private int unionAtMount(String path, int lowerNlink, int entryNlink) throws ErrnoException {
        if (lowerNlink == 1) return 0;
        byte[] v = fs.getX(path, OverlayXattr.NLINK);
        if (v == null || v.length < 3 || v.length > 12) return 0;
        String s = new String(v, StandardCharsets.US_ASCII);
        if (s.charAt(0) != 'U' && s.charAt(0) != 'L' || s.charAt(1) != '+' && s.charAt(1) != '-') return 0;
        try {
            int n = Integer.parseInt(s.substring(2));
            return (s.charAt(0) == 'U' ? entryNlink : lowerNlink) + (s.charAt(1) == '-' ? -n : n);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private void orphan(String path, String name) throws ErrnoException {
        LOG.warn("overlayfs: cleanup of orphan index entry index/{}", name);
        if (fs.opts.nfsExport()) {
            String wh = fs.tempWhiteout();
            Linux.rename(wh, path, Linux.RENAME_EXCHANGE);
            fs.removeTemp(wh);
        } else {
            fs.removeTemp(path);
        }
    }

    /** The upper inode an {@code NS upper} blob names, or null when it no longer exists. */
    private Stat decodeUpper(byte[] blob) {
        if (!(Fh.parse(blob) instanceof Fh.Ok(Fh fh))) return null;
        int fd = -1;
        try {
            fd = fs.openByHandle(fs.upperLayer.dev(), fh);
            return Linux.fstat(fd);
        } catch (ErrnoException e) {
            return null;
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    private ErrnoException badEntry(String name, Stat st, int errno) {
        String msg = "failed to verify index (index/" + name + ", ftype=" + Integer.toHexString(st.type()) + ", err=-"
                + errno + ")";
        LOG.error("overlayfs: {}", msg);
        LOG.error("overlayfs: failed index dir cleanup (-{})", errno);
        LOG.error("overlayfs: {}", HINT);
        return new ErrnoException(errno, msg);
    }
}
