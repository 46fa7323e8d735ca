package org.overlayj.core.tools;

import org.overlayj.core.layer.Layer;
import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.IndexEntryCheck;
import org.overlayj.core.layer.IndexEntryCheck.Verdict;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The inodes index read offline (format doc §5.3–5.5), and the verdict the kernel's mount-time verification
 * (§5.7) would give each entry — the same rules the engine applies at mount, decided here without changing
 * anything, so {@code overlayj index verify} and {@code overlayj fsck} can say what a mount would do.
 */
public final class IndexReport {
    /** What an index entry is. */
    public enum Kind {
        HARD_LINK("hard-link"), DIR("dir"), WHITEOUT("whiteout"), ORPHAN("orphan"), TEMP("temp"), BAD("bad");

        public final String label;

        Kind(String label) { this.label = label; }
    }

    /**
     * One entry of W/index.
     *
     * @param name        the entry name (hex of the origin blob)
     * @param kind        what it is
     * @param nlink       st_nlink of the entry (-1 when it could not be read)
     * @param union       the union link count from {@code NS nlink} (null: absent, malformed, or not a hard link)
     * @param upperPaths  the upper aliases found: hard links of the same inode, or the directory NS upper names
     * @param origin      where the origin blob (the name) resolves, "lower N:/path", or null when it is gone
     * @param verdict     what a mount does with it
     * @param why         why (the kernel's reason), "" when kept
     * @param problem     a mount would change it or fail; the kernel's shared whiteout is not a problem
     */
    public record Entry(String name, Kind kind, int nlink, Integer union, List<String> upperPaths, String origin,
                        Verdict verdict, String why, boolean problem) {}

    /** A check of the index directory itself (§5.7 steps 1–2). */
    public record DirCheck(Verdict verdict, String message) {}

    private final LayerSet layers;
    private final List<Entry> entries = new ArrayList<>();
    private final List<DirCheck> dirChecks = new ArrayList<>();

    private IndexReport(LayerSet layers) {
        this.layers = layers;
    }

    public List<Entry> entries() { return entries; }

    public List<DirCheck> dirChecks() { return dirChecks; }

    /** Any change or refusal a mount would make. */
    public boolean clean() {
        return entries.stream().noneMatch(Entry::problem)
                && dirChecks.stream().noneMatch(d -> d.verdict() != Verdict.KEEP);
    }

    /** Reads W/index of these layers; an overlay without an index gives an empty report. */
    public static IndexReport scan(LayerSet layers) throws ErrnoException {
        IndexReport r = new IndexReport(layers);
        String dir = layers.indexDir();
        if (dir == null || layers.upper() == null) return r;
        Stat dst = Linux.lstatOrNull(dir);
        if (dst == null || !dst.isDir()) return r;
        r.checkRoots(dir);
        List<DirEnt> list = new ArrayList<>(Linux.readdir(dir));
        list.sort(java.util.Comparator.comparing(DirEnt::name));
        for (DirEnt e : list) {
            if (e.isDotOrDotDot()) continue;
            r.entries.add(r.entry(dir + "/" + e.name(), e.name()));
        }
        return r;
    }

    /** Upper root origin and the index dir's NS upper (§5.7 steps 1–2); missing ones are written, not problems. */
    private void checkRoots(String dir) throws ErrnoException {
        Layer top = layers.lowers().getFirst();
        byte[] lowerRoot = layers.blobOf(top.root(), top).bytes();
        byte[] have = layers.getX(layers.upper().root(), OverlayXattr.ORIGIN);
        if (have != null && !Arrays.equals(have, lowerRoot)) {
            dirChecks.add(new DirCheck(Verdict.MOUNT_FAILS, "upper root origin is not lower 1's root: "
                    + "failed to verify upper root origin (ESTALE)"));
        }
        byte[] upperRoot = layers.blobOf(layers.upper().root(), layers.upper()).bytes();
        byte[] legacy = layers.getX(dir, OverlayXattr.ORIGIN);
        if (legacy != null && !Arrays.equals(legacy, upperRoot)) {
            dirChecks.add(new DirCheck(Verdict.MOUNT_FAILS,
                    "index dir 'origin' xattr is not the upper root: failed to verify upper (ESTALE)"));
        }
        byte[] up = layers.getX(dir, OverlayXattr.UPPER);
        if (up != null && !Arrays.equals(up, upperRoot)) {
            dirChecks.add(new DirCheck(Verdict.MOUNT_FAILS, "index dir 'upper' xattr is not the upper root: "
                    + "failed to verify index dir 'upper' xattr (ESTALE)"));
        }
    }

    private Entry entry(String path, String name) throws ErrnoException {
        Stat st = Linux.lstatOrNull(path);
        if (st == null) return new Entry(name, Kind.BAD, -1, null, List.of(), null, Verdict.KEEP, "vanished", false);
        if (name.startsWith("#")) {
            // every index=on mount leaves the shared whiteout behind; anything else is a crashed copy-up
            boolean shared = st.isWhiteout();
            return new Entry(name, Kind.TEMP, st.nlink(), null, List.of(), null, Verdict.REMOVE_TEMP,
                    shared ? "the kernel's shared whiteout" : "leftover temporary", !shared);
        }
        if (st.isWhiteout()) {
            return new Entry(name, Kind.WHITEOUT, st.nlink(), null, List.of(), originOf(name), Verdict.KEEP, "",
                    false);
        }
        Fh fh;
        switch (Fh.parseHex(name)) {
            case Fh.Bad(Fh.Problem p, String why) -> {
                IndexEntryCheck.Outcome o = IndexEntryCheck.badName(p, why);
                return new Entry(name, Kind.BAD, st.nlink(), null, List.of(), null, o.verdict(), o.why(), true);
            }
            case Fh.Ok(Fh ok) -> fh = ok;
        }
        String origin = describe(fh);
        boolean nfs = layers.options().nfsExport();
        if (st.isDir()) {
            byte[] upper = layers.getX(path, OverlayXattr.UPPER);
            // decoded as the engine's mount-time check decodes it; the path only names it for the report
            Stat decoded = upper == null ? null : layers.inspection().decodeIndexUpper(upper);
            LayerSet.Resolved target = null;
            if (decoded != null && Fh.parse(upper) instanceof Fh.Ok(Fh ufh) && ufh.upper()) {
                target = layers.resolve(ufh);
            }
            List<String> ups = target == null || target.path() == null ? List.of()
                    : List.of(LayerSet.show(target.layer(), target.path()));
            // A directory is always found in its layer's tree: one that is not is a scratch temporary
            IndexEntryCheck.Outcome o = IndexEntryCheck.dir(nfs, upper == null ? IndexEntryCheck.UpperDir.NO_XATTR
                    : decoded == null ? IndexEntryCheck.UpperDir.GONE
                    : !decoded.isDir() ? IndexEntryCheck.UpperDir.NOT_DIR
                    : target == null || target.path() == null ? IndexEntryCheck.UpperDir.TEMP
                    : IndexEntryCheck.UpperDir.DIR);
            return new Entry(name, o.verdict().orphan() ? Kind.ORPHAN : Kind.DIR, st.nlink(), null, ups, origin,
                    o.verdict(), o.why(), o.verdict() != Verdict.KEEP);
        }
        List<String> ups = new ArrayList<>();
        for (String p : layers.pathsOf(layers.upper(), st.ino())) ups.add(LayerSet.show(layers.upper(), p));
        ups.sort(null);
        byte[] nlinkX = layers.getX(path, OverlayXattr.NLINK);
        LayerSet.Resolved lower = layers.resolve(fh);
        int lowerNlink = lower == null ? 0 : lower.stat().nlink();
        OverlayXattr.Nlink stored = OverlayXattr.parseNlink(nlinkX);
        Integer union = stored == null || stored.lowerRelative() && lower == null ? null
                : (stored.lowerRelative() ? lowerNlink : st.nlink()) + stored.diff();
        byte[] originX = layers.getX(path, OverlayXattr.ORIGIN);
        IndexEntryCheck.Outcome o = IndexEntryCheck.file(originX, Arrays.equals(originX, fh.bytes()), st.nlink(),
                lowerNlink, nlinkX, nfs);
        return new Entry(name, o.verdict().orphan() ? Kind.ORPHAN : Kind.HARD_LINK, st.nlink(), union, ups,
                o.verdict() == Verdict.REMOVE_STALE && lower == null ? null : origin, o.verdict(), o.why(),
                o.verdict() != Verdict.KEEP);
    }

    private String originOf(String name) throws ErrnoException {
        return Fh.parseHex(name) instanceof Fh.Ok(Fh fh) ? describe(fh) : null;
    }

    private String describe(Fh fh) throws ErrnoException {
        LayerSet.Resolved r = layers.resolve(fh);
        if (r == null) return null;
        return LayerSet.label(r.layer()) + ":" + (r.path() == null ? "(inode " + r.stat().ino() + ", no name found)"
                : Linux.toUtf8(r.relative()));
    }

}
