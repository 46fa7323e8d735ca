package org.overlayj.core.tools;

import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.layer.WorkDir;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Offline consistency check of layers in the kernel's format: walks the overlay tree the way lookup resolves it
 * (upper first, whiteouts, opaque dirs, redirects — format doc §3.5), checks every overlay xattr it meets, the
 * index (§5.7) and the work dir (§1.4), and says for each finding whether the kernel itself repairs it at the next
 * read-write mount. {@link #repair()} does exactly those repairs and nothing else.
 */
public final class Fsck {
    /**
     * One finding.
     *
     * @param code     short stable name of the check, e.g. "opaque", "index-orphan"
     * @param where    "upper:/a/b", "lower 1:/c", "work/index/NAME", ...
     * @param message  what is wrong and what the kernel does about it
     * @param kernelRepairs the kernel repairs it at the next read-write mount (so {@code --repair} does)
     */
    public record Finding(String code, String where, String message, boolean kernelRepairs) {
        @Override public String toString() {
            return code + ": " + where + ": " + message;
        }
    }

    private final LayerSet layers;
    private final OverlayXattr ns;
    private final List<Finding> findings = new ArrayList<>();
    private final IndexReport index;
    /** Visible overlay aliases per index entry name: the real union link count of §5.5. */
    private final Map<String, Integer> aliases = new HashMap<>();
    private final boolean indexOn;

    private Fsck(LayerSet layers) throws ErrnoException {
        this.layers = layers;
        this.ns = layers.ns();
        this.index = IndexReport.scan(layers);
        String idx = layers.indexDir();
        this.indexOn = layers.options().index() && idx != null && Linux.lstatOrNull(idx) != null;
    }

    public List<Finding> findings() { return findings; }

    /** Runs every check; writes nothing. */
    public static Fsck check(LayerSet layers) throws ErrnoException {
        Fsck f = new Fsck(layers);
        f.checkWork();
        f.checkIndex();
        f.walkTree();
        f.checkUnionCounts();
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
            if (!e.problem()) continue;
            String code = switch (e.verdict()) {
                case REMOVE_TEMP -> "index-temp";
                case REMOVE_STALE -> "index-stale";
                case WHITEOUT_ORPHAN, REMOVE_ORPHAN -> "index-orphan";
                default -> "index-bad";
            };
            add(code, "work/index/" + Linux.toUtf8(e.name()), e.why() + ": at mount " + e.verdict().text,
                    e.verdict().repaired && layers.options().index());
        }
    }

    // --- the tree -------------------------------------------------------------------------------------------------

    /** A lower directory merged into an overlay directory. */
    private record LowerDir(LayerSet.Layer layer, String path) {}

    private void walkTree() throws ErrnoException {
        List<LowerDir> lowers = new ArrayList<>();
        for (LayerSet.Layer l : layers.lowers()) lowers.add(new LowerDir(l, l.root()));
        String upper = layers.upper() == null ? null : layers.upper().root();
        if (upper != null) checkUpperRoot(upper);
        for (LowerDir d : lowers) checkCommon(d.layer(), d.path(), Linux.lstat(d.path()));
        walk("", upper, lowers, true);
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
     * One overlay directory: its upper dir (null when none) and the lower dirs merged into it, top-down.
     * {@code merged}: readdir merges it, so whiteouts in its upper dir are hidden.
     */
    private void walk(String opath, String upper, List<LowerDir> lowers, boolean merged) throws ErrnoException {
        Set<String> names = new LinkedHashSet<>();
        if (upper != null) for (DirEnt e : sorted(upper)) names.add(e.name());
        for (LowerDir d : lowers) for (DirEnt e : sorted(d.path())) names.add(e.name());
        for (String name : names) resolve(opath, name, upper, lowers, merged);
    }

    /** Resolves one name top-down as lookup does, checking each real object met on the way. */
    private void resolve(String opath, String name, String upperDir, List<LowerDir> parentLowers, boolean merged)
            throws ErrnoException {
        if (AufsWhiteouts.isMeta(name)) {
            // AUFS metadata: read as overlayj and fuse-overlayfs read it (never an object); checked for the report
            if (upperDir != null) checkIfThere(layers.upper(), upperDir + "/" + name);
            for (LowerDir d : parentLowers) checkIfThere(d.layer(), d.path() + "/" + name);
            return;
        }
        String child = opath + "/" + name;
        boolean visibleDir = false, stop = false, opaque = false;
        String upperChild = null;
        Stat visible = null;
        String relName = name;     // the name looked up in the parent's lower dirs (a relative redirect renames)
        String absPath = null;     // an absolute redirect: the path looked up under every lower root
        if (upperDir != null) {
            String p = upperDir + "/" + name;
            Stat st = Linux.lstatOrNull(p);
            if (st != null) {
                LayerSet.Layer up = layers.upper();
                checkCommon(up, p, st);
                checkUpperX(p, st);
                if (st.isWhiteout()) {
                    if (!merged) add("whiteout", LayerSet.show(up, p), "whiteout in a directory that is not "
                            + "merged (no lower dir, no origin): readdir lists it and stat gives ENOENT", false);
                    return;
                }
                if (isXwhiteout(p, st)) return;
                if (!st.isDir()) {
                    countUpperAlias(p, st);
                    return;
                }
                visibleDir = true;
                upperChild = p;
                visible = st;
                opaque = isOpaque(p);
                byte[] redirect = layers.getX(p, OverlayXattr.REDIRECT);
                if (redirect != null && validRedirect(redirect)) {
                    if (!layers.options().redirectFollow()) {
                        add("redirect", LayerSet.show(up, p), "redirect present but redirect_dir="
                                + layers.options().redirectDir().name().toLowerCase(java.util.Locale.ROOT)
                                + ": lookup of this directory fails with EPERM", false);
                        stop = true;
                    } else {
                        String v = new String(redirect, StandardCharsets.ISO_8859_1);
                        if (v.startsWith("/")) absPath = v;
                        else relName = v;
                    }
                }
                stop |= opaque;
            } else if (AufsWhiteouts.whitedOut(p)) {
                return;
            }
        }
        List<LowerDir> childLowers = new ArrayList<>();
        boolean redirected = absPath != null || !relName.equals(name);
        if (!stop) {
            for (LayerSet.Layer l : layers.lowers()) {
                String p;
                if (absPath != null) {
                    p = l.root() + absPath;
                } else {
                    LowerDir pd = parentLowers.stream().filter(d -> d.layer() == l).findFirst().orElse(null);
                    if (pd == null) continue;
                    p = pd.path() + "/" + relName;
                }
                Stat st = Linux.lstatOrNull(p);
                if (st == null) {
                    if (AufsWhiteouts.whitedOut(p)) break;
                    continue;
                }
                checkCommon(l, p, st);
                if (st.isWhiteout() || isXwhiteout(p, st)) break;
                if (!st.isDir()) {
                    if (visible == null) countLowerAlias(l, p, st);
                    break;
                }
                visibleDir = true;
                if (visible == null) visible = st;
                childLowers.add(new LowerDir(l, p));
                if (isOpaque(p)) break;
                byte[] redirect = layers.getX(p, OverlayXattr.REDIRECT);
                if (redirect != null && validRedirect(redirect) && layers.options().redirectFollow()) {
                    String v = new String(redirect, StandardCharsets.ISO_8859_1);
                    if (v.startsWith("/")) absPath = v;
                    else relName = v;
                    redirected = true;
                }
            }
        }
        if (upperChild != null && redirected && childLowers.isEmpty() && !stop) {
            add("redirect", LayerSet.show(layers.upper(), upperChild), "redirect to '"
                    + Linux.toUtf8(absPath != null ? absPath : relName) + "' names no lower directory", false);
        }
        if (visibleDir) {
            boolean childMerged = !childLowers.isEmpty()
                    || upperChild != null && layers.getX(upperChild, OverlayXattr.ORIGIN) != null;
            walk(child, upperChild, childLowers, childMerged);
        }
    }

    private boolean isXwhiteout(String p, Stat st) throws ErrnoException {
        return st.isReg() && st.size() == 0 && layers.getX(p, OverlayXattr.WHITEOUT) != null;
    }

    /** {@code NS opaque} = "y", exactly one byte ("x" only marks a lower dir that holds xwhiteouts). */
    private boolean isOpaque(String p) throws ErrnoException {
        byte[] v = layers.getX(p, OverlayXattr.OPAQUE);
        if (v == null) return AufsWhiteouts.opaque(p, null);      // as the engine reads it
        return v.length == 1 && v[0] == 'y';
    }

    private void checkIfThere(LayerSet.Layer l, String p) throws ErrnoException {
        Stat st = Linux.lstatOrNull(p);
        if (st != null) checkCommon(l, p, st);
    }

    private static boolean validRedirect(byte[] v) {
        if (v.length == 0) return false;
        String s = new String(v, StandardCharsets.ISO_8859_1);
        if (s.indexOf('\0') >= 0) return false;
        if (s.startsWith("/")) return !s.contains("//") && !s.endsWith("/") || s.equals("/");
        return !s.contains("/") && !s.equals(".") && !s.equals("..");
    }

    /** Checks that apply to objects of any layer: whiteout forms, opaque, redirect syntax. */
    private void checkCommon(LayerSet.Layer l, String p, Stat st) throws ErrnoException {
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
        if (wh != null && !(st.isReg() && st.size() == 0)) {
            add("whiteout", where, "'whiteout' xattr on " + (st.isReg() ? "a non-empty file" : "a non-regular"
                    + " file") + ": not an xwhiteout, the kernel ignores the xattr", false);
        }
        byte[] opaque = layers.getX(p, OverlayXattr.OPAQUE);
        if (opaque != null) {
            String v = printable(opaque);
            if (!st.isDir()) {
                add("opaque", where, "'opaque' xattr on a non-directory: ignored", false);
            } else if (opaque.length != 1 || opaque[0] != 'y' && opaque[0] != 'x') {
                add("opaque", where, "'opaque' xattr is \"" + v + "\" (must be exactly \"y\", or \"x\" in a lower "
                        + "layer): the kernel ignores it, the directory is not opaque", false);
            } else if (opaque[0] == 'x' && l.upper()) {
                add("opaque", where, "'opaque' = \"x\" in the upper layer: ignored there", false);
            }
        }
        byte[] metacopy = layers.getX(p, OverlayXattr.METACOPY);
        if (metacopy != null && metacopy.length > 0 && metacopy.length < 4) {
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
        if (nlink != null && !IndexReport.nlinkWellFormed(nlink)) {
            add("nlink", where, "'nlink' xattr \"" + printable(nlink) + "\" is malformed: the kernel warns "
                    + "\"failed to get index nlink\" and falls back to the real count", false);
        }
        byte[] protattr = layers.getX(p, OverlayXattr.PROTATTR);
        if (protattr != null && (protattr.length == 0 || protattr.length > 32
                || !new String(protattr, StandardCharsets.ISO_8859_1).matches("[ai]+"))) {
            add("protattr", where, "'protattr' xattr \"" + printable(protattr) + "\" is not made of 'a' and 'i': "
                    + "the kernel warns and ignores it", false);
        }
        byte[] impure = layers.getX(p, OverlayXattr.IMPURE);
        if (impure != null && !(impure.length == 1 && impure[0] == 'y')) {
            add("impure", where, "'impure' xattr is \"" + printable(impure) + "\", not \"y\": ignored", false);
        }
        if (impure != null && !st.isDir()) add("impure", where, "'impure' xattr on a non-directory: ignored", false);
    }

    // --- union link counts ------------------------------------------------------------------------------------------

    private void countUpperAlias(String p, Stat st) throws ErrnoException {
        if (!indexOn || st.nlink() < 2) return;
        byte[] origin = layers.getX(p, OverlayXattr.ORIGIN);
        if (origin == null || !(Fh.parse(origin) instanceof Fh.Ok(Fh fh))) return;
        String name = fh.hex();
        Stat ist = Linux.lstatOrNull(layers.indexDir() + "/" + name);
        if (ist != null && ist.ino() == st.ino() && ist.dev() == st.dev()) aliases.merge(name, 1, Integer::sum);
    }

    private void countLowerAlias(LayerSet.Layer l, String p, Stat st) throws ErrnoException {
        if (!indexOn || st.isDir() || st.nlink() < 2 && !layers.options().nfsExport()) return;
        Fh fh;
        try {
            fh = layers.blobOf(p, l);
        } catch (ErrnoException e) {
            return;
        }
        String name = fh.hex();
        Stat ist = Linux.lstatOrNull(layers.indexDir() + "/" + name);
        if (ist == null) return;
        if (ist.isWhiteout() || ist.type() != st.type()) {
            add("bad-index", LayerSet.show(l, p), "its index entry " + name + " is a " + typeName(ist)
                    + ": lookup gives EIO (\"bad index found\")", false);
            return;
        }
        aliases.merge(name, 1, Integer::sum);
    }

    /** NS nlink must equal the aliases the overlay shows (§5.5), where the kernel reads it (lower nlink > 1). */
    private void checkUnionCounts() throws ErrnoException {
        if (!indexOn) return;
        for (IndexReport.Entry e : index.entries()) {
            if (e.kind() != IndexReport.Kind.HARD_LINK || e.verdict() != IndexReport.Verdict.KEEP
                    || e.union() == null) continue;
            if (!(Fh.parseHex(e.name()) instanceof Fh.Ok(Fh fh))) continue;
            LayerSet.Resolved lower = layers.resolve(fh);
            if (lower == null || lower.stat().nlink() < 2) continue;
            int real = aliases.getOrDefault(e.name(), 0);
            if (real != e.union()) {
                add("nlink", "work/index/" + e.name(), "'nlink' xattr says " + e.union() + " links but the overlay"
                        + " shows " + real + " (" + String.join(", ", e.upperPaths()) + (e.origin() == null ? ""
                        : "; origin " + e.origin()) + "): st_nlink is wrong until the count is rewritten", false);
            }
        }
    }

    // --- repair -----------------------------------------------------------------------------------------------------

    /**
     * Makes the repairs the kernel makes at a read-write mount (and only those): removes W/work leftovers (two
     * levels deep, never {@code incompat}) and '#' temporaries in W/index; removes stale index entries; turns
     * orphan index entries into whiteouts (nfs_export) or removes them. Returns the findings it repaired.
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
        Map<String, IndexReport.Entry> byName = new LinkedHashMap<>();
        for (IndexReport.Entry e : index.entries()) byName.put(e.name(), e);
        String idx = layers.indexDir();
        if (layers.options().index() && idx != null) {
            for (IndexReport.Entry e : index.entries()) {
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
