package org.overlayj.core.tools;

import org.overlayj.core.Inspection;
import org.overlayj.core.layer.Layer;
import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.layer.WorkDir;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Offline consistency check of layers in the kernel's format: walks the overlay tree the way lookup resolves it
 * (upper first, whiteouts, opaque dirs, redirects — format doc §3.5), checks every overlay xattr it meets, the
 * index (§5.7) and the work dir (§1.4), and says for each finding whether the kernel itself repairs it at the next
 * read-write mount. {@link #repair()} does those repairs, but for one: an index entry of a lower object the overlay
 * still shows with no upper copy (an interrupted copy-up, or the kernel's whiteout of one) is removed, where the
 * kernel would make the object EIO — so a repair never costs a live object its reachability.
 */
public final class Fsck {
    /**
     * One finding.
     *
     * @param code     short stable name of the check, e.g. "opaque", "index-orphan"
     * @param where    "upper:/a/b", "lower 1:/c", "work/index/NAME", ...
     * @param message  what is wrong and what the kernel does about it
     * @param kernelRepairs the kernel repairs it at the next read-write mount (so {@code --repair} does)
     * @param note     a state the kernel accepts as it is (it mounts and serves it with nothing in its log, and
     *                 changes nothing), told because --repair can make it better: not a problem, so it does not
     *                 make the layers unclean ({@link #problems()})
     */
    public record Finding(String code, String where, String message, boolean kernelRepairs, boolean note) {
        public Finding(String code, String where, String message, boolean kernelRepairs) {
            this(code, where, message, kernelRepairs, false);
        }

        @Override public String toString() {
            return code + ": " + where + ": " + message;
        }
    }

    private final LayerSet layers;
    private final OverlayXattr ns;
    private final List<Finding> findings = new ArrayList<>();
    private final IndexReport index;
    /**
     * Index entries (by name) of lower objects the overlay shows with no upper copy: a lower-only alias of a file,
     * a lower-only directory. An orphan or whiteout entry there is an interrupted copy-up: the kernel makes (or
     * made) the object EIO; {@link #repair()} undoes the copy-up instead. Value: where the object is.
     */
    private final Map<String, String> liveLower = new LinkedHashMap<>();
    /** The findings about those entries that {@link #repair()} undoes. */
    private final Map<String, Finding> undo = new LinkedHashMap<>();
    private final boolean indexOn;
    /** An upper object with no index entry, found by the walk ({@link Inspection#missingIndex}). */
    private record NoEntry(Inspection.Entry dir, byte[] origin, String where, long upperIno) {}
    /** Those objects by their origin's hex: {@link #repair()} writes the entry where one upper inode claims it. */
    private final Map<String, List<NoEntry>> noEntry = new LinkedHashMap<>();
    /** The findings about those objects that {@link #repair()} completes. */
    private final Map<NoEntry, Finding> complete = new LinkedHashMap<>();

    private Fsck(LayerSet layers) throws ErrnoException {
        this.layers = layers;
        this.ns = layers.ns();
        this.index = IndexReport.scan(layers);
        String idx = layers.indexDir();
        this.indexOn = layers.options().index() && idx != null && Linux.lstatOrNull(idx) != null;
    }

    /** Everything found, the notes included. */
    public List<Finding> findings() { return findings; }

    /** The findings that are not {@link Finding#note notes}: what makes the layers unclean. */
    public List<Finding> problems() {
        return findings.stream().filter(f -> !f.note()).toList();
    }

    /** Runs every check; writes nothing. */
    public static Fsck check(LayerSet layers) throws ErrnoException {
        Fsck f = new Fsck(layers);
        f.checkWork();
        f.walkTree();
        f.checkIndex();
        f.checkMissingEntries();
        return f;
    }

    private void add(String code, String where, String message, boolean repairs) {
        findings.add(new Finding(code, where, message, repairs));
    }

    // --- work dir -------------------------------------------------------------------------------------------------

    private void checkWork() throws ErrnoException {
        String work = layers.workDir();
        if (work == null || layers.upper() == null) return;
        Stat st = Linux.lstatOrNull(work);
        if (st == null || !st.isDir()) return;
        for (DirEnt e : sorted(work)) {
            String p = work + "/" + e.name();
            if (e.name().equals(WorkDir.INCOMPAT)) {
                for (DirEnt f : sorted(p)) {
                    add("incompat", "work/work/incompat/" + Linux.toUtf8(f.name()), "incompat feature '"
                            + Linux.toUtf8(f.name()) + "' (a volatile mount left it): the kernel refuses to mount"
                            + " until it is removed", false);
                }
                continue;
            }
            boolean deep = tooDeep(p);
            add("work-temp", "work/work/" + Linux.toUtf8(e.name()), deep
                    ? "leftover temporary with a deep tree: the kernel cannot clean it and mounts read-only"
                    : "leftover temporary: the kernel removes it at mount", !deep);
        }
    }

    /** The kernel cleans W/work two levels deep only (§1.4): a non-empty dir at the third level defeats it. */
    private static boolean tooDeep(String p) throws ErrnoException {
        Stat st = Linux.lstatOrNull(p);
        if (st == null || !st.isDir()) return false;
        for (DirEnt e : Linux.readdir(p)) {
            if (e.isDotOrDotDot() || e.type() != DirEnt.DT_DIR) continue;
            for (DirEnt g : Linux.readdir(p + "/" + e.name())) if (!g.isDotOrDotDot()) return true;
        }
        return false;
    }

    // --- index ----------------------------------------------------------------------------------------------------

    private void checkIndex() {
        for (IndexReport.DirCheck d : index.dirChecks()) add("index-dir", "work/index", d.message(), false);
        for (IndexReport.Entry e : index.entries()) {
            if (undo.containsKey(e.name())) continue;
            if (!e.problem() && e.kind() == IndexReport.Kind.DIR && liveLower.containsKey(e.name())
                    && layers.options().nfsExport()) {
                // kept at mount (its 'upper' names a directory, not the one shown), yet the lower directory has no
                // upper copy: the kernel's lookup gives EIO
                Finding f = new Finding("bad-index", liveLower.get(e.name()), "its index entry " + e.name() + " is a"
                        + " directory but it has no upper directory: lookup gives EIO (\"suspected uncovered"
                        + " redirected dir\"); --repair removes the entry, the trace of an interrupted copy-up", false);
                findings.add(f);
                undo.put(e.name(), f);
                continue;
            }
            if (!e.problem()) continue;
            String code = switch (e.verdict()) {
                case REMOVE_TEMP -> "index-temp";
                case REMOVE_STALE -> "index-stale";
                case WHITEOUT_ORPHAN, REMOVE_ORPHAN -> "index-orphan";
                default -> "index-bad";
            };
            String live = liveLower.get(e.name());
            boolean orphan = e.verdict().orphan();
            if (orphan && live != null) {
                Finding f = new Finding(code, "work/index/" + Linux.toUtf8(e.name()), e.why() + ": at mount "
                        + e.verdict().text + ", and " + live + " gives EIO from then on (an interrupted copy-up);"
                        + " --repair removes the entry instead, undoing the copy-up", false);
                findings.add(f);
                undo.put(e.name(), f);
                continue;
            }
            add(code, "work/index/" + Linux.toUtf8(e.name()), e.why() + ": at mount " + e.verdict().text,
                    e.verdict().repaired && layers.options().index());
        }
    }

    /**
     * Upper objects with no index entry under nfs_export (Inspection#missingIndex): a directory merged with its
     * origin's lower directory (a copy-up killed between the directory's name and its entry, or a removal killed
     * after its first step), or the copy of a single-link lower file (a copy-up killed between the copy's name and
     * its index link), or copied up without nfs_export. The kernel mounts and serves them with no complaint, as
     * copied-up objects that are not indexed (the upper st_ino, upper handles), and never writes the entry: a lower
     * handle of such a directory from before then decodes until the directory is renamed and is ESTALE after
     * ("failed to lookup by real" in the kernel's log), and a lower handle of such a file decodes to the lower file,
     * its data before the copy-up. {@link #repair()} writes the entry as a copy-up does, after which the kernel
     * (6.18, DirIndexCompletionTest) keeps it at mount with no log line, gives the object its origin's st_ino and
     * lower handle again, and decodes the old lower handles to it (a directory's, and the upper handles it gave out
     * meanwhile, also after renames). Not where two upper inodes claim one origin: an entry names one, and the
     * other's lookup would fail (EIO for a directory, ESTALE for a file).
     */
    private void checkMissingEntries() {
        for (List<NoEntry> all : noEntry.values()) {
            boolean one = all.stream().mapToLong(NoEntry::upperIno).distinct().count() == 1;
            for (NoEntry d : all) {
                String lower = originPlace(d.origin());
                String what = d.dir().isDir() ? "directory" : "copied-up file";
                if (!one) {
                    add("index-missing", d.where(), what + " with the origin " + lower + " and no index entry, as"
                            + " another upper object: an entry can name only one, so --repair writes none", false);
                    continue;
                }
                String handle = d.dir().isDir() ? "gives ESTALE once it is renamed"
                        : "decodes to the lower file, its data before the copy-up";
                // A note, not a problem: the kernel mounts and serves it with nothing logged, and every object
                // copied up with index=on,nfs_export=off looks the same (it indexes lower hard links only then),
                // so reporting it as a defect would flag every such copy-up of layers later exported.
                Finding f = new Finding("index-missing", d.where(), what + " with the origin " + lower + " and no"
                        + " index entry (a copy-up or removal cut short, or a copy-up without nfs_export): the kernel"
                        + " serves it unindexed (its upper st_ino) and never adds the entry, and a handle of " + lower
                        + " from before " + handle + "; --repair writes the entry, as a copy-up does", false, true);
                findings.add(f);
                complete.put(d, f);
            }
        }
    }

    /** Where an origin blob's lower inode is, "lower N:/path", or "?" when that cannot be said. */
    private String originPlace(byte[] origin) {
        try {
            if (Fh.parse(origin) instanceof Fh.Ok(Fh fh)) {
                LayerSet.Resolved r = layers.resolve(fh);
                if (r != null && r.path() != null) return LayerSet.show(r.layer(), r.path());
            }
        } catch (ErrnoException e) {
            // said as unknown
        }
        return "?";
    }

    // --- the tree -------------------------------------------------------------------------------------------------

    /**
     * Walks the overlay tree through the engine's own lookup ({@link Inspection}): each name of a directory is
     * looked up as a mount looks it up, every real object that lookup meets is checked, and a lookup that fails is
     * reported with its reason (the kernel fails the same lookup with the same errno) instead of ending the walk.
     */
    private void walkTree() throws ErrnoException {
        Inspection in = layers.inspection();
        String upper = layers.upper() == null ? null : layers.upper().root();
        if (upper != null) checkUpperRoot(upper);
        for (Layer l : layers.lowers()) checkCommon(l, l.root(), Linux.lstat(l.root()));
        walk(in, in.root(), true);
    }

    private void checkUpperRoot(String root) throws ErrnoException {
        Stat st = Linux.lstat(root);
        checkCommon(layers.upper(), root, st);
        checkUpperX(root, st);
        byte[] uuid = layers.getX(root, OverlayXattr.UUID);
        if (uuid != null && uuid.length != 16) add("uuid", "upper:/", "'uuid' xattr is " + uuid.length
                + " bytes, not 16: the kernel ignores it", false);
    }

    /**
     * One overlay directory: every name in its upper dir and in the lower dirs it merges is looked up.
     * {@code merged}: readdir merges it, so whiteouts in its upper dir are hidden.
     */
    private void walk(Inspection in, Inspection.Entry dir, boolean merged) throws ErrnoException {
        List<String> dirs = new ArrayList<>();
        if (dir.isUpper() && dir.upperPath() != null) dirs.add(dir.upperPath());
        for (Inspection.Lower l : dir.lowers()) dirs.add(l.path());
        Set<String> names = new java.util.TreeSet<>();
        for (String d : dirs) for (DirEnt e : sorted(d)) names.add(e.name());
        for (String name : names) {
            if (AufsWhiteouts.isMeta(name)) {
                // AUFS metadata: read as overlayj and fuse-overlayfs read it (never an object); checked for the report
                if (dir.isUpper()) checkIfThere(layers.upper(), dir.upperPath() + "/" + name);
                for (Inspection.Lower l : dir.lowers()) checkIfThere(l.layer(), l.path() + "/" + name);
                continue;
            }
            Inspection.Step s = in.lookup(dir, name);
            for (Inspection.Met m : s.met()) {
                checkCommon(m.layer(), m.path(), m.st());
                if (!m.layer().upper()) continue;
                checkUpperX(m.path(), m.st());
                if (m.st().isWhiteout() && !merged) add("whiteout", LayerSet.show(m.layer(), m.path()), "whiteout"
                        + " in a directory that is not merged (no lower dir, no origin): readdir lists it and stat"
                        + " gives ENOENT", false);
            }
            if (s.error() != null) {
                failed(s);
                continue;
            }
            Inspection.Entry e = s.entry();
            if (e == null) continue;
            if (!e.isUpper() && e.indexPath() != null) {
                // a lower alias shown through the index entry another alias's copy-up made
                Inspection.Lower lo = e.lowers().getFirst();
                liveLower.putIfAbsent(e.indexPath().substring(e.indexPath().lastIndexOf('/') + 1),
                        LayerSet.show(lo.layer(), lo.path()));
            }
            if (e.dataMissing()) {
                add("metacopy", LayerSet.show(e.isUpper() ? layers.upper() : e.lowers().getFirst().layer(),
                        e.isUpper() ? e.upperPath() : e.lowers().getFirst().path()), "metadata-only copy whose data"
                        + " is in no data-only layer: open fails with EIO", false);
            }
            byte[] missing = in.missingIndex(e);
            if (missing != null) {
                noEntry.computeIfAbsent(java.util.HexFormat.of().formatHex(missing), k -> new ArrayList<>()).add(
                        new NoEntry(e, missing, LayerSet.show(layers.upper(), e.upperPath()),
                                Linux.lstat(e.upperPath()).ino()));
            }
            if (!e.isDir()) continue;
            if (e.isUpper() && e.lowers().isEmpty()) redirectNowhere(e.upperPath());
            walk(in, e, e.merged());
        }
    }

    /** An upper directory whose redirect (followed) found no lower directory. */
    private void redirectNowhere(String p) throws ErrnoException {
        byte[] redirect = layers.getX(p, OverlayXattr.REDIRECT);
        if (redirect == null || !validRedirect(redirect) || !layers.options().redirectFollow() || isOpaque(p)) return;
        add("redirect", LayerSet.show(layers.upper(), p), "redirect to '" + Linux.toUtf8(Linux.byteString(redirect))
                + "' names no lower directory", false);
    }

    /** A lookup that fails: what the kernel's lookup of that name gives, said where the engine put the blame. */
    private void failed(Inspection.Step s) throws ErrnoException {
        Inspection.Met blamed = null;
        for (Inspection.Met m : s.met()) if (m.path().equals(s.blamed())) blamed = m;
        Layer l = blamed != null ? blamed.layer() : s.blamed() != null && layers.upper() != null
                && s.blamed().startsWith(layers.upper().root() + "/") ? layers.upper() : null;
        String where = l != null ? LayerSet.show(l, s.blamed())
                : s.met().isEmpty() ? "?" : LayerSet.show(s.met().getFirst().layer(), s.met().getFirst().path());
        String errno = org.overlayj.sys.Errno.name(s.error().errno());
        switch (s.failure()) {
            case null -> add("lookup", where, "lookup fails with " + errno + " (" + s.error().detail() + ")", false);
            // reported where the object is checked (checkCommon)
            case METACOPY_XATTR, REDIRECT_INVALID -> { }
            case OVERLAPPING_LAYERS -> add("layers", where, "a layer's own directory inside a layer: lookup fails"
                    + " with ELOOP (\"overlapping layers\")", false);
            case METACOPY_OFF -> add("metacopy", where, "metadata-only copy but metacopy=off: lookup fails with EPERM",
                    false);
            case METACOPY_NO_DATA -> add("metacopy", where, "metadata-only copy whose data is in no lower layer:"
                    + " lookup fails with EIO", false);
            case REDIRECT_NOFOLLOW -> add("redirect", where, "redirect present but redirect_dir="
                    + layers.options().redirectDir().name().toLowerCase(java.util.Locale.ROOT)
                    + ": lookup fails with EPERM", false);
            case INODE_ELSEWHERE -> add("origin", where, "its 'origin' is also that of an upper object at another"
                    + " name: the kernel serves the one looked up first and gives ESTALE for the other", false);
            case DIR_INDEX_ELSEWHERE -> add("bad-index", where, "the index entry of its origin names another upper"
                    + " directory: lookup gives EIO (\"suspected multiply redirected dir\")", false);
            case INDEX -> badIndex(blamed);
        }
    }

    /**
     * A lower object shown with no upper copy whose index entry makes its lookup fail: a whiteout (what the kernel
     * makes of an interrupted copy-up's orphan: "bad index found"), an entry of another type, or for a directory
     * under nfs_export any entry (a copy-up killed before the upper directory got its name: "suspected uncovered
     * redirected dir"). Index entries of such objects are the traces of interrupted copy-ups: {@link #repair()}
     * removes them (a whiteout here, an orphan or a kept directory entry in {@link #checkIndex}).
     */
    private void badIndex(Inspection.Met lower) throws ErrnoException {
        if (lower == null || !indexOn) return;
        String name;
        try {
            name = layers.inspection().blobOf(lower.path(), lower.layer()).hex();
        } catch (ErrnoException e) {
            return;
        }
        Stat ist = Linux.lstatOrNull(layers.indexDir() + "/" + name);
        if (ist == null) return;
        String where = LayerSet.show(lower.layer(), lower.path());
        liveLower.putIfAbsent(name, where);
        if (lower.st().isDir()) {
            // an entry of another type is the index check's to report (an orphan, or one its mount keeps)
            if (!ist.isWhiteout()) return;
            Finding f = new Finding("bad-index", where, "its index entry " + name + " is a whiteout: lookup gives"
                    + " EIO (\"bad index found\"); --repair removes the entry, the trace of an interrupted copy-up",
                    false);
            findings.add(f);
            undo.put(name, f);
            return;
        }
        Finding f = new Finding("bad-index", where, "its index entry " + name + " is a " + typeName(ist)
                + ": lookup gives EIO (\"bad index found\")" + (ist.isWhiteout()
                ? "; --repair removes the whiteout, the end of an interrupted copy-up" : ""), false);
        findings.add(f);
        if (ist.isWhiteout()) undo.put(name, f);
    }
    /** {@code NS opaque} = "y", exactly one byte ("x" only marks a lower dir that holds xwhiteouts). */
    private boolean isOpaque(String p) throws ErrnoException {
        byte[] v = layers.getX(p, OverlayXattr.OPAQUE);
        if (v == null) return AufsWhiteouts.opaque(p, null);      // as the engine reads it
        return OverlayXattr.opaqueValue(v);
    }

    private void checkIfThere(Layer l, String p) throws ErrnoException {
        Stat st = Linux.lstatOrNull(p);
        if (st != null) checkCommon(l, p, st);
    }

    /** The engine's rule (OverlayXattr.validRedirect), on the value as lookup reads it. */
    private static boolean validRedirect(byte[] v) {
        return OverlayXattr.validRedirect(Linux.byteString(v));
    }

    /** Checks that apply to objects of any layer: whiteout forms, opaque, redirect syntax. */
    private void checkCommon(Layer l, String p, Stat st) throws ErrnoException {
        String where = LayerSet.show(l, p);
        String base = p.substring(p.lastIndexOf('/') + 1);
        if (base.startsWith(".wh.")) {
            add("whiteout", where, base.equals(".wh..wh..opq")
                    ? "aufs-style opaque marker: overlayj and fuse-overlayfs honour it, the kernel ignores it "
                    + "(use the 'opaque' xattr)"
                    : "aufs/fuse-overlayfs-style whiteout file: overlayj and fuse-overlayfs honour it, the kernel "
                    + "ignores it and shows it as a file", false);
        }
        if (st.isChr() && !st.isWhiteout() && l.upper() && st.rdevMajor() == 0) {
            add("whiteout", where, "character device " + st.rdevMajor() + ":" + st.rdevMinor()
                    + " is not a whiteout (only 0:0 is): the kernel shows it as a device", false);
        }
        byte[] wh = layers.getX(p, OverlayXattr.WHITEOUT);
        if (wh != null && !OverlayXattr.isXwhiteout(st.isReg(), st.size(), wh)) {
            add("whiteout", where, "'whiteout' xattr on " + (st.isReg() ? "a non-empty file" : "a non-regular"
                    + " file") + ": not an xwhiteout, the kernel ignores the xattr", false);
        }
        byte[] opaque = layers.getX(p, OverlayXattr.OPAQUE);
        if (opaque != null) {
            String v = printable(opaque);
            if (!st.isDir()) {
                add("opaque", where, "'opaque' xattr on a non-directory: ignored", false);
            } else if (!OverlayXattr.opaqueValue(opaque) && !OverlayXattr.xwhiteoutsValue(opaque)) {
                add("opaque", where, "'opaque' xattr is \"" + v + "\" (must be exactly \"y\", or \"x\" in a lower "
                        + "layer): the kernel ignores it, the directory is not opaque", false);
            } else if (OverlayXattr.xwhiteoutsValue(opaque) && l.upper()) {
                add("opaque", where, "'opaque' = \"x\" in the upper layer: ignored there", false);
            }
        }
        byte[] metacopy = layers.getX(p, OverlayXattr.METACOPY);
        if (OverlayXattr.metacopyValue(metacopy) == OverlayXattr.Metacopy.BAD) {
            add("metacopy", where, "'metacopy' xattr of " + metacopy.length + " bytes (empty or at least 4): "
                    + "lookup fails with EIO", false);
        }
        byte[] redirect = layers.getX(p, OverlayXattr.REDIRECT);
        if (redirect != null) {
            if (!validRedirect(redirect)) {
                add("redirect", where, "'redirect' xattr \"" + printable(redirect) + "\" is malformed: lookup "
                        + "fails with EINVAL", false);
            } else if (!st.isDir() && layers.getX(p, OverlayXattr.METACOPY) == null) {
                add("redirect", where, "'redirect' xattr on a non-directory without 'metacopy': ignored", false);
            }
        }
    }

    /** Checks of the xattrs that only the upper layer carries: origin, nlink, impure. */
    private void checkUpperX(String p, Stat st) throws ErrnoException {
        String where = LayerSet.show(layers.upper(), p);
        byte[] origin = layers.getX(p, OverlayXattr.ORIGIN);
        if (origin != null && origin.length > 0) {
            switch (Fh.parse(origin)) {
                case Fh.Bad(Fh.Problem pr, String why) -> add("origin", where, "'origin' xattr " + (pr
                        == Fh.Problem.INVALID ? "is malformed (" + why + ")" : "has an unknown format (" + why + ")")
                        + ": the kernel ignores it", false);
                case Fh.Ok(Fh fh) -> {
                    if (fh.upper()) {
                        add("origin", where, "'origin' xattr names an upper inode: the kernel ignores it", false);
                    } else {
                        LayerSet.Resolved r = layers.resolve(fh);
                        if (r == null) {
                            add("origin", where, "'origin' xattr points nowhere (the lower object is gone or the "
                                    + "uuid matches no lower layer): the kernel ignores it, st_ino changes", false);
                        } else if (r.stat().type() != st.type()) {
                            add("origin", where, "'origin' xattr names a " + typeName(r.stat()) + " ("
                                    + LayerSet.show(r.layer(), r.path() == null ? r.layer().root() : r.path())
                                    + ") but this is a " + typeName(st) + ": ignored", false);
                        }
                    }
                }
            }
        }
        byte[] nlink = layers.getX(p, OverlayXattr.NLINK);
        if (nlink != null && OverlayXattr.parseNlink(nlink) == null) {
            add("nlink", where, "'nlink' xattr \"" + printable(nlink) + "\" is malformed: the kernel warns "
                    + "\"failed to get index nlink\" and falls back to the real count", false);
        }
        byte[] protattr = layers.getX(p, OverlayXattr.PROTATTR);
        if (protattr != null && !OverlayXattr.validProtattr(protattr)) {
            add("protattr", where, "'protattr' xattr \"" + printable(protattr) + "\" is not made of 'a' and 'i': "
                    + "the kernel warns and ignores it", false);
        }
        byte[] impure = layers.getX(p, OverlayXattr.IMPURE);
        if (impure != null && !OverlayXattr.impureValue(impure)) {
            add("impure", where, "'impure' xattr is \"" + printable(impure) + "\", not \"y\": ignored", false);
        }
        if (impure != null && !st.isDir()) add("impure", where, "'impure' xattr on a non-directory: ignored", false);
    }

    // --- repair -----------------------------------------------------------------------------------------------------

    /**
     * Makes the repairs the kernel makes at a read-write mount: removes W/work leftovers (two levels deep, never
     * {@code incompat}) and '#' temporaries in W/index; removes stale index entries; turns orphan index entries into
     * whiteouts (nfs_export) or removes them — except the entries of lower objects still shown with no upper copy,
     * which it removes (undoing the copy-up: no upper alias ever linked the copy, so it holds nothing acknowledged).
     * Returns the findings it repaired.
     */
    public List<Finding> repair() throws ErrnoException {
        List<Finding> done = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        String work = layers.workDir();
        if (work != null && Linux.lstatOrNull(work) != null && layers.upper() != null) {
            for (DirEnt e : sorted(work)) {
                if (e.name().equals(WorkDir.INCOMPAT)) continue;
                WorkDir.cleanup(work, e.name(), 1, warnings::add);
            }
        }
        String idx = layers.indexDir();
        if (layers.options().index() && idx != null) {
            // Interrupted copy-ups of objects still visible below: their entries go, and the objects are lower-only
            // again, as before the copy-up (nothing was acknowledged into a copy that no upper alias linked).
            for (var u : undo.entrySet()) {
                WorkDir.cleanup(idx, u.getKey(), 1, warnings::add);
                if (Linux.lstatOrNull(idx + "/" + u.getKey()) == null) done.add(u.getValue());
            }
            for (IndexReport.Entry e : index.entries()) {
                if (undo.containsKey(e.name())) continue;
                String p = idx + "/" + e.name();
                switch (e.verdict()) {
                    case REMOVE_TEMP, REMOVE_STALE, REMOVE_ORPHAN -> WorkDir.cleanup(idx, e.name(), 1, warnings::add);
                    case WHITEOUT_ORPHAN -> {
                        String tmp = idx + "/#overlayj-fsck-" + ProcessHandle.current().pid();
                        Linux.mkwhiteout(tmp);
                        Linux.rename(tmp, p, Linux.RENAME_EXCHANGE);
                        WorkDir.cleanup(idx, tmp.substring(idx.length() + 1), 1, warnings::add);
                    }
                    default -> { }
                }
            }
        }
        // Objects whose entry a copy-up or removal did not write: written now, as a copy-up writes it (for
        // several names of one upper inode, once).
        Map<String, Boolean> written = new java.util.HashMap<>();
        for (var c : complete.entrySet()) {
            String hex = java.util.HexFormat.of().formatHex(c.getKey().origin());
            if (!written.containsKey(hex)) {
                try {
                    layers.inspection().addIndex(c.getKey().dir(), c.getKey().origin());
                    written.put(hex, true);
                } catch (ErrnoException e) {
                    warnings.add(c.getKey().where() + ": index entry not written: " + e.getMessage());
                    written.put(hex, false);
                }
            }
            if (written.get(hex)) done.add(c.getValue());
        }
        for (Finding f : findings) {
            if (!f.kernelRepairs()) continue;
            String p = f.where().startsWith("work/work/") ? work + f.where().substring("work/work".length())
                    : f.where().startsWith("work/index/") ? idx + f.where().substring("work/index".length()) : null;
            if (p == null) continue;
            Stat now = Linux.lstatOrNull(Linux.fromUtf8(p));
            if (now == null || f.code().equals("index-orphan") && layers.options().nfsExport() && now.isWhiteout()) {
                done.add(f);
            }
        }
        return done;
    }

    // --- helpers ----------------------------------------------------------------------------------------------------

    private static List<DirEnt> sorted(String dir) throws ErrnoException {
        List<DirEnt> l = new ArrayList<>();
        for (DirEnt e : Linux.readdir(dir)) if (!e.isDotOrDotDot()) l.add(e);
        l.sort(java.util.Comparator.comparing(DirEnt::name));
        return l;
    }

    private static String printable(byte[] v) {
        StringBuilder b = new StringBuilder();
        for (byte x : v) {
            int c = x & 0xff;
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') b.append((char) c);
            else b.append(String.format("\\x%02x", c));
        }
        return b.toString();
    }

    static String typeName(Stat st) {
        if (st.isWhiteout()) return "whiteout";
        return switch (st.type()) {
            case Stat.S_IFDIR -> "directory";
            case Stat.S_IFREG -> "regular file";
            case Stat.S_IFLNK -> "symlink";
            case Stat.S_IFCHR -> "character device";
            case Stat.S_IFBLK -> "block device";
            case Stat.S_IFIFO -> "fifo";
            case Stat.S_IFSOCK -> "socket";
            default -> "object";
        };
    }
}
