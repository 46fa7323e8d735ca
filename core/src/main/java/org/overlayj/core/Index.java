package org.overlayj.core;

import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.IndexEntryCheck;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

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
        return fs.opts.index() && fs.layers.indexDir() != null && (!fs.layers.readOnly() || fs.offline);
    }

    /** Whether copying up this lower inode goes through the index: lower hard links, or everything with nfs_export. */
    boolean indexes(Stat lower) {
        if (!on()) return false;
        if (lower.isDir()) return false; // directory index entries come with nfs_export handles
        return lower.nlink() > 1 || fs.opts.nfsExport();
    }

    /** The names the index dir may hold: lets a lookup skip the statx of an entry that cannot be there. */
    final IndexNames names = new IndexNames();

    /**
     * The path of {@code origin}'s entry. Every entry the engine makes is made at a path from here (or from
     * {@link #path(byte[])}), so the name is noted as one the index dir may now hold ({@link IndexNames}) before
     * the entry exists; a lookup that may find nothing uses {@link #entryPath} after asking {@link IndexNames}.
     */
    String path(Fh origin) {
        return path(origin.bytes());
    }

    String path(byte[] originBlob) {
        names.note(originBlob);
        return entryPath(originBlob);
    }

    /** The path of the entry {@code originBlob} names, not noted: for looking only. */
    String entryPath(byte[] originBlob) {
        return fs.layers.indexDir() + "/" + java.util.HexFormat.of().formatHex(originBlob);
    }

    /** The stat of {@code blob}'s index entry, or null when there is none (without a statx when none can be). */
    Stat entryStat(byte[] blob) throws ErrnoException {
        if (!names.mayHave(blob)) return null;
        fs.probe.indexLooked();
        return Linux.lstatOrNull(entryPath(blob));
    }

    /**
     * For a lower-only non-directory: its index entry, when another alias was already copied up. A whiteout index
     * (a deleted exported object) or one of another type is a corrupt index for a lookup: EIO, as the kernel says
     * "bad index found".
     */
    String lookupLower(Node.Lower lo, Stat lowerSt) throws ErrnoException {
        return lookupLower(lo, lowerSt, null);
    }

    /** As {@link #lookupLower(Node.Lower, Stat)}; the lower's fh blob, when it was made, goes to {@code blobOut[0]}. */
    String lookupLower(Node.Lower lo, Stat lowerSt, Fh[] blobOut) throws ErrnoException {
        return lookupLower(lo, lowerSt, blobOut, -1, null);
    }

    /**
     * As {@link #lookupLower(Node.Lower, Stat, Fh[])}, with the lower object named {@code name} in the directory
     * open as {@code dirFd} (-1: by its path), for the blob.
     */
    String lookupLower(Node.Lower lo, Stat lowerSt, Fh[] blobOut, int dirFd, String name) throws ErrnoException {
        if (lowerSt.isDir()) {
            checkLowerDir(lo);
            return null;
        }
        if (!on() || (lowerSt.nlink() <= 1 && !fs.opts.nfsExport())) return null;
        Fh blob;
        try {
            blob = dirFd >= 0 ? fs.blobAt(dirFd, name, lo.layer()) : fs.blobOf(lo.path(), lo.layer());
        } catch (ErrnoException e) {
            return null;
        }
        if (blobOut != null) blobOut[0] = blob;
        byte[] b = blob.bytes();
        Stat ist = entryStat(b);
        if (ist == null) return null;
        String p = entryPath(b);
        if (ist.isWhiteout() || ist.type() != lowerSt.type())
            throw OverlayFs.err(Errno.EIO, "bad index found (index=" + blob.hex() + ")");
        return p;
    }

    /**
     * A lower directory with no upper copy, under nfs_export, as the kernel's lookup checks it (format doc §5.6):
     * an index entry for it means a copy-up was cut short (an entry with no upper directory: "suspected uncovered
     * redirected dir"), or the mount-time check whited one out ("bad index found"): EIO either way, as on the
     * kernel; fsck reports it and --repair removes the entry. Two system calls per such lookup, as the kernel's.
     */
    private void checkLowerDir(Node.Lower lo) throws ErrnoException {
        if (!on() || !fs.opts.nfsExport()) return;
        Fh blob;
        try {
            blob = fs.blobOf(lo.path(), lo.layer());
        } catch (ErrnoException e) {
            return;
        }
        Stat ist = entryStat(blob.bytes());
        if (ist == null) return;
        throw OverlayFs.err(Errno.EIO, (ist.isDir() ? "suspected uncovered redirected dir found" : "bad index found")
                + " (index=" + blob.hex() + ")");
    }

    /**
     * Writes the index entry of upper directory {@code upperDir} whose origin is {@code origin} (nfs_export, format
     * doc §5.4): an empty mode-0 directory whose {@code NS upper} names the upper directory, built in the scratch dir
     * and renamed into place in one step, so a lower handle of the directory finds it after any rename. A copy-up
     * writes it once the directory is at its name ({@code replace}: an entry already there, a leftover, goes first);
     * {@code fsck --repair} writes it (never replacing) for a directory whose copy-up or removal was cut short between
     * its name and its entry, a state the kernel serves but never completes (see {@code Fsck}).
     */
    void addDirEntry(byte[] origin, String upperDir, boolean replace) throws ErrnoException {
        addDirEntryAt(path(origin), upperDir, replace);
    }

    /** {@link #addDirEntry} at the entry's path {@code ip} (also: an entry a refused removal took out, put back). */
    void addDirEntryAt(String ip, String upperDir, boolean replace) throws ErrnoException {
        if (replace && Linux.lstatOrNull(ip) != null) fs.scratch.removeTemp(ip);
        String temp = fs.scratch.tempPath();
        Linux.mkdir(temp, fs.scratchMode(true));
        try {
            fs.setX(temp, OverlayXattr.UPPER, fs.blobOf(upperDir, fs.upperLayer).bytes());
            Linux.rename(temp, ip, replace ? 0 : Linux.RENAME_NOREPLACE);
        } catch (ErrnoException e) {
            fs.scratch.removeTemp(temp);
            throw e;
        }
    }

    /**
     * Links upper non-directory {@code upper}, the copy of a single-link lower inode that carries its origin, into
     * the index (nfs_export, format doc §5.4), as the last step of its copy-up does (CopyUp#copyUpIndexed): {@code NS
     * nlink} first, the union count being its upper aliases ({@code U-1} once the index link is made), then the
     * link; killed between the two, nothing changed for the kernel, which reads the count only for lower hard links.
     * For {@code fsck --repair}, after a copy-up killed between the copy's name and its index link.
     */
    void linkIntoIndex(byte[] origin, String upper) throws ErrnoException {
        Stat st = Linux.lstat(upper);
        fs.setX(upper, OverlayXattr.NLINK, OverlayXattr.Nlink.of(false, st.nlink(), st.nlink() + 1).bytes());
        Linux.link(upper, path(origin));
    }

    // --- NS nlink ------------------------------------------------------------------------------------------------

    /** The stored value, parsed as the kernel does (null: absent or malformed). */
    OverlayXattr.Nlink stored(String upperPath) throws ErrnoException {
        return OverlayXattr.parseNlink(fs.getX(upperPath, OverlayXattr.NLINK));
    }

    void store(String upperPath, OverlayXattr.Nlink v) throws ErrnoException {
        fs.setX(upperPath, OverlayXattr.NLINK, v.bytes());
    }

    /** The union count a stored value gives for an inode with these upper and lower counts; null when unknown. */
    static Integer union(OverlayXattr.Nlink v, int upperNlink, int lowerNlink) {
        if (v == null || v.lowerRelative() && lowerNlink <= 0) return null;
        return (v.lowerRelative() ? lowerNlink : upperNlink) + v.diff();
    }

    /**
     * The link count stat shows for an indexed object (§5.5): the in-memory count if this mount already has one;
     * otherwise, when the lower inode has more than one link, the stored union count (U or L form, as the kernel
     * reads it); otherwise the real upper count (the "remount quirk").
     */
    int nlink(Node n, Stat real, int lowerNlink) throws ErrnoException {
        Integer mem = nlinks.get(n.ino);
        if (mem != null) return mem;
        int v = real.nlink();
        if (lowerNlink > 1) v = OverlayXattr.unionNlink(fs.getX(fs.paths.realPath(n), OverlayXattr.NLINK), real.nlink(),
                lowerNlink, real.nlink());
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
     * Before a link, unlink or rename over an indexed object: the union count relative to its upper count, stored
     * from the in-memory count (read in now if this mount has none yet, as the kernel's inode was at lookup), as
     * the kernel does at that point (ovl_nlink_start writes i_nlink minus the upper nlink). It differs from the
     * stored offset after the count was held ({@link #held}), and after a remount of a single-link file indexed
     * under nfs_export: stored "U-1", read in as the real upper count (the remount quirk), rewritten "U+0".
     */
    void beforeLinkChange(Node n, String upperPath) throws ErrnoException {
        Stat real = Linux.lstat(upperPath);
        OverlayXattr.Nlink want = OverlayXattr.Nlink.of(false, nlink(n, real, n.lowerNlink()), real.nlink());
        if (!want.equals(stored(upperPath))) store(upperPath, want);
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

    /**
     * The overlay inode of {@code ino} was evicted: the in-memory count goes with it, and the next use reads it in
     * again from {@code NS nlink} (or the real count, for a single-link lower inode), as the kernel's does.
     */
    void evicted(long ino) {
        nlinks.remove(ino);
        held.remove(ino);
    }

    /** {@link #evicted} for every object but those in {@code keep}. */
    void evictAllBut(java.util.Set<Long> keep) {
        nlinks.keySet().retainAll(keep);
        held.retainAll(keep);
    }

    boolean tracked(Node n) {
        return nlinks.containsKey(n.ino);
    }

    // --- copy-up through the index -------------------------------------------------------------------------------

    /**
     * Links the upper alias {@code dest} to an existing index entry (the "link-up" of §4.5) and keeps the stored
     * union count right at every step, so a process killed between any two of them leaves a count the kernel
     * reads correctly: first the count relative to the lower inode (L form: a new upper link does not move it),
     * then the link, then the count relative to the upper inode again (U form, which later links and unlinks of
     * upper aliases keep right by themselves). The L form is written only where it is read: a lower inode with
     * more than one link; for a single-link lower inode the kernel ignores the value (ovl_get_nlink).
     * {@code union} is the union count when the caller knows it (a copy just built), else null.
     */
    void linkUp(Node n, String indexPath, String dest, String parentUpper, int lowerNlink, Integer union)
            throws ErrnoException {
        Stat parentSt = Linux.lstat(parentUpper);
        fs.setImpure(parentUpper);
        Stat ist = null;
        if (union == null) {
            ist = Linux.lstat(indexPath);
            // this mount's in-memory count when it was held (see #held): it differs from the stored one after lower
            // hard links were added under the mount (xfstests overlay/034), and the kernel writes its in-memory count
            Integer mem = n != null && held.contains(n.ino) ? nlinks.get(n.ino) : null;
            union = mem != null ? mem : union(stored(indexPath), ist.nlink(), lowerNlink);
            if (union == null) union = ist.nlink() - 1;    // unreadable: the upper links but the index entry
            if (lowerNlink > 1) store(indexPath, OverlayXattr.Nlink.of(true, union, lowerNlink));
        }
        Linux.link(indexPath, dest);
        int upperNlink = ist == null ? 2 : ist.nlink() + 1;
        store(indexPath, OverlayXattr.Nlink.of(false, union, upperNlink));
        Linux.utimens(parentUpper, parentSt.atimeSec(), parentSt.atimeNsec(), parentSt.mtimeSec(),
                parentSt.mtimeNsec(), true);
    }

    /**
     * After an upper alias of an indexed inode went away: when nothing links it but the index entry and the union
     * count is 0, the entry goes too — or, under nfs_export, becomes a whiteout so old handles give ESTALE.
     *
     * <p>Crash order of a removal (unlink, rmdir, rename over) of an indexed alias: the alias is linked up first
     * (a complete copy-up, see {@link #linkUp}), then a whiteout or the source replaces it in one rename — the U
     * form count drops with the upper link by itself — then this. Killed before this step, the entry is left with
     * one link and a count of 0 (or a single-link lower inode), which the kernel's next mount turns into the same
     * whiteout (format doc §5.7): the state after the removal. With other aliases left the count stays above 0 and
     * the entry is kept, as it must be.
     */
    void afterUnlink(String indexPath, int lowerNlink) throws ErrnoException {
        if (indexPath.equals(takenOut)) {
            takenOut = null;
            if (fs.opts.nfsExport()) Linux.rename(fs.scratch.tempWhiteout(), indexPath, Linux.RENAME_NOREPLACE);
            return;
        }
        Stat st = Linux.lstatOrNull(indexPath);
        if (st == null || st.isWhiteout() || st.isDir()) return;
        // union = upper nlink + n, where the upper nlink includes the index entry's own link.
        Integer union = union(stored(indexPath), st.nlink(), lowerNlink);
        if ((union == null ? st.nlink() - 1 : union) > 0) return;
        if (st.nlink() > 1) return; // "cleanup linked index": some alias still links it; keep it
        if (fs.opts.nfsExport()) {
            String wh = fs.scratch.tempWhiteout();
            Linux.rename(wh, indexPath, 0);
        } else {
            Linux.unlink(indexPath);
        }
    }

    /** The entry {@link #takeOutIfLast} unlinked for the removal running now (under the namespace write lock). */
    private String takenOut;

    /**
     * Before the last alias of an indexed inode is removed (its removal takes the union count to 0 and nothing else
     * links the inode): unlinks the index entry first, and {@link #afterUnlink} puts the whiteout (nfs_export)
     * there after the alias went. Killed in between, the alias is an upper file with an origin and no index entry
     * (served as before) or gone with no entry (as after). Removing the alias first would leave, when killed, an
     * entry that is its inode's only link for the kernel's next mount to call an orphan ("orphan index entry" in
     * its log) — the state after, but through a repair. If the removal then fails, the alias stays without an
     * index entry, which is served as it was.
     */
    void takeOutIfLast(String indexPath, int lowerNlink) throws ErrnoException {
        Stat st = Linux.lstatOrNull(indexPath);
        if (st == null || st.isDir() || st.isWhiteout() || st.nlink() != 2) return;
        Integer union = union(stored(indexPath), st.nlink(), lowerNlink);
        if ((union == null ? st.nlink() - 1 : union) > 1) return;
        Linux.unlink(indexPath);
        takenOut = indexPath;
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
        var entries = Linux.readdir(dir);
        // every name there now, before the cleanup below changes any (it only whites out or removes entries)
        names.listed(entries.stream().map(org.overlayj.sys.DirEnt::name)::iterator);
        for (var e : entries) {
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
            fs.scratch.removeTemp(path);
            return;
        }
        Stat st = Linux.lstat(path);
        if (st.isWhiteout()) return;
        // the verdict is the shared rule (IndexEntryCheck), which index verify and fsck report
        IndexEntryCheck.Outcome o;
        switch (Fh.parseHex(name)) {
            case Fh.Bad(Fh.Problem p, String why) -> o = IndexEntryCheck.badName(p, why);
            case Fh.Ok(Fh fh) -> {
                if (st.isDir()) {
                    byte[] upper = fs.opts.nfsExport() ? fs.getX(path, OverlayXattr.UPPER) : null;
                    Stat target = upper == null ? null : decodeUpper(upper);
                    o = IndexEntryCheck.dir(fs.opts.nfsExport(), upper == null ? IndexEntryCheck.UpperDir.NO_XATTR
                            : target == null ? IndexEntryCheck.UpperDir.GONE
                            : !target.isDir() ? IndexEntryCheck.UpperDir.NOT_DIR : IndexEntryCheck.UpperDir.DIR);
                } else {
                    byte[] origin = fs.getX(path, OverlayXattr.ORIGIN);
                    boolean same = java.util.Arrays.equals(origin, fh.bytes());
                    // the lower inode is decoded only for an entry no upper alias links
                    OverlayFs.OriginInfo lower = same && st.nlink() == 1 ? fs.decodeOrigin(origin) : null;
                    o = IndexEntryCheck.file(origin, same, st.nlink(), lower == null ? 0 : lower.nlink(),
                            st.nlink() == 1 ? fs.getX(path, OverlayXattr.NLINK) : null, fs.opts.nfsExport());
                }
            }
        }
        switch (o.verdict()) {
            case KEEP, REMOVE_TEMP -> { }
            case REMOVE_STALE -> {
                LOG.warn("overlayfs: cleanup of stale index entry index/{}", name);
                if (st.isDir()) fs.scratch.removeTemp(path);
                else Linux.unlink(path);
            }
            case WHITEOUT_ORPHAN, REMOVE_ORPHAN -> orphan(path, name);
            case MOUNT_FAILS -> throw badEntry(name, st, o.errno());
        }
    }

    /**
     * An orphan entry becomes a whiteout (nfs_export: old handles then give ESTALE) or goes. Crash order: the
     * whiteout is made as a '#' temporary in the scratch (index) dir and exchanged with the entry in one rename,
     * then the old entry, now the temporary, is removed. Killed before the exchange, the entry is still the
     * orphan (and a '#' whiteout is left): the next mount, the kernel's or ours, does the same again; killed
     * after it, the entry is already the whiteout and the '#' temporary is removed by the next mount. Never a
     * moment without the entry, so no handle ever decodes to a stale object in between.
     */
    private void orphan(String path, String name) throws ErrnoException {
        LOG.warn("overlayfs: cleanup of orphan index entry index/{}", name);
        if (fs.opts.nfsExport()) {
            String wh = fs.scratch.tempWhiteout();
            Linux.rename(wh, path, Linux.RENAME_EXCHANGE);
            fs.scratch.removeTemp(wh);
        } else {
            fs.scratch.removeTemp(path);
        }
    }

    /** The upper inode an {@code NS upper} blob names, or null when it no longer exists. */
    Stat decodeUpper(byte[] blob) {
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
