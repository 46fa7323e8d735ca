package org.overlayj.core;

import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Directory listings (the kernel's readdir.c, format doc §3.4, §3.6). A merge directory is read from every layer
 * top down with names deduplicated and whiteouts hidden; the lowest layer's names come first in that layer's order,
 * then the names only seen higher up, in the order met. A plain upper or lower directory is read as it is. AUFS
 * metadata names ({@link AufsWhiteouts}) are never listed, and an AUFS whiteout hides its name in the layers below. Each
 * entry's d_ino is the st_ino a lookup would give.
 */
final class Readdir {
    private final OverlayFs fs;
    private final Lookup lookup;

    Readdir(OverlayFs fs, Lookup lookup) {
        this.fs = fs;
        this.lookup = lookup;
    }

    /** A cached listing of one directory at one version. Cookies are positions + 1 in {@code entries}. */
    record Listing(long version, List<DirEntry> entries) {}

    Listing list(Node dir) throws ErrnoException {
        Listing cached = dir.listing;
        if (cached != null && cached.version() == dir.dirVersion) return cached;
        List<DirEntry> out = new ArrayList<>();
        long parentIno = dir.parent() == null ? dir.ino : dir.parent().ino;
        out.add(new DirEntry(".", dir.ino, DirEnt.DT_DIR, 1));
        out.add(new DirEntry("..", parentIno, DirEnt.DT_DIR, 2));
        for (Named e : dir.merge() || dir.whiteouts() ? merged(dir) : plain(dir)) {
            out.add(new DirEntry(e.name(), e.ino, e.type, out.size() + 1));
        }
        Listing l = new Listing(dir.dirVersion, List.copyOf(out));
        dir.listing = l;
        return l;
    }

    private record Named(String name, long ino, int type) {}

    /** One real directory's entries without "." and "..", in getdents order. */
    private static List<DirEnt> read(String path) throws ErrnoException {
        List<DirEnt> out = new ArrayList<>();
        for (DirEnt e : Linux.readdir(path)) if (!e.isDotOrDotDot()) out.add(e);
        return out;
    }

    /**
     * Names of a lower directory bigger than this are not kept ({@link Node#lowerNames}): a lookup then asks the
     * layer, as before, rather than the engine holding a huge set per directory.
     */
    static final int LOWER_NAMES_MAX = 65_536;

    /**
     * Keeps the names a listing read from the lower directory {@code path} of {@code dir} (see
     * {@link Node#lowerNames}). Not for a path through a /proc/self/fd link (a decoded object's), whose meaning
     * lasts only as long as that fd.
     */
    private static void keepLowerNames(Node dir, String path, List<DirEnt> entries) {
        if (entries.size() > LOWER_NAMES_MAX || RealPaths.isFdPath(path)) return;
        Set<String> names = HashSet.newHashSet(entries.size());
        for (DirEnt e : entries) names.add(e.name());
        java.util.Map<String, Set<String>> had = dir.lowerNames;
        java.util.Map<String, Set<String>> now = new java.util.HashMap<>(had == null ? java.util.Map.of() : had);
        now.put(path, java.util.Collections.unmodifiableSet(names));
        dir.lowerNames = java.util.Map.copyOf(now);
    }

    /** A directory with a single layer: its entries as they are (whiteouts of a pure upper dir included). */
    private List<Named> plain(Node dir) throws ErrnoException {
        String path = fs.paths.realPath(dir);
        boolean impure = dir.isUpper() && fs.marker(path, OverlayXattr.IMPURE) == 'y';
        List<Named> out = new ArrayList<>();
        boolean stillImpure = false;
        List<DirEnt> entries = read(path);
        if (!dir.isUpper() && dir.hasLower() && path.equals(dir.topLower().path())) keepLowerNames(dir, path, entries);
        for (DirEnt e : entries) {
            if (AufsWhiteouts.isMeta(e.name())) continue;
            long ino = e.ino();
            if (impure && !stillImpure) {
                OverlayFs.Markers m = fs.markers(path + "/" + e.name());
                stillImpure = m.origin() != null || m.redirect() != null;
            }
            if (impure || !dir.isUpper()) ino = childIno(dir, path, e, dir.isUpper());
            else ino = fs.mapIno(ino, fsDev(dir));
            out.add(new Named(e.name(), ino, e.type()));
        }
        // Nothing here needs its number mapped any more: drop the marker, as the kernel's readdir does.
        if (impure && !stillImpure && !fs.layers.readOnly()) {
            try {
                Linux.lremovexattr(path, fs.x(OverlayXattr.IMPURE));
            } catch (ErrnoException e) {
                // only an optimisation for later listings
            }
        }
        return out;
    }

    private long fsDev(Node dir) throws ErrnoException {
        return dir.isUpper() ? fs.upperLayer.dev() : dir.topLower().layer().dev();
    }

    /**
     * d_ino of an entry: where the overlay may map it (copied-up objects, lower objects on several filesystems),
     * by a lookup; otherwise the real number.
     */
    private long childIno(Node dir, String dirPath, DirEnt e, boolean fromUpper) throws ErrnoException {
        long realIno = e.ino();
        if (!fromUpper) return fs.mapIno(realIno, dir.topLower().layer().dev());
        long upperDev = fs.upperLayer.dev();
        // Only directories and copied-up objects (they carry an origin) can have a number other than their own.
        if (e.type() != DirEnt.DT_DIR && fs.markers(dirPath + "/" + e.name()).origin() == null) {
            return fs.mapIno(realIno, upperDev);
        }
        try {
            Node c = lookup.child(dir, e.name());
            return c == null ? fs.mapIno(realIno, upperDev) : c.ino;
        } catch (ErrnoException ex) {
            return fs.mapIno(realIno, upperDev);
        }
    }

    private List<Named> merged(Node dir) throws ErrnoException {
        // Layers top down: the upper dir (if any), then each lower dir of the stack.
        List<String> paths = new ArrayList<>();
        List<Boolean> isUpper = new ArrayList<>();
        if (dir.isUpper()) {
            paths.add(fs.paths.upperPath(dir));
            isUpper.add(true);
        }
        if (dir.lowers() != null) {
            for (Node.Lower l : dir.lowers()) {
                paths.add(l.path());
                isUpper.add(false);
            }
        }
        Set<String> seen = new HashSet<>();
        Map<String, Named> higher = new LinkedHashMap<>();
        List<Named> lowest = new ArrayList<>();
        for (int i = 0; i < paths.size(); i++) {
            String p = paths.get(i);
            boolean last = i == paths.size() - 1;
            boolean up = isUpper.get(i);
            boolean xwhiteouts = !up && fs.marker(p, OverlayXattr.OPAQUE) == 'x';
            // AUFS whiteouts hide names of the layers below only: a name this layer holds beside its .wh.NAME stays
            List<String> aufsHidden = new ArrayList<>();
            List<DirEnt> entries = read(p);
            if (!up) keepLowerNames(dir, p, entries);
            for (DirEnt e : entries) {
                String name = e.name();
                if (AufsWhiteouts.isMeta(name)) {
                    String hidden = AufsWhiteouts.hiddenName(name);
                    if (hidden != null) aufsHidden.add(hidden);
                    continue;
                }
                if (e.type() == DirEnt.DT_CHR) {
                    Stat st = Linux.lstatOrNull(p + "/" + name);
                    if (st != null && st.isWhiteout()) {
                        seen.add(name);
                        continue;
                    }
                }
                if (xwhiteouts && e.type() == DirEnt.DT_REG) {
                    Stat st = Linux.lstatOrNull(p + "/" + name);
                    if (st != null && fs.isXwhiteout(p + "/" + name, st)) {
                        seen.add(name);
                        continue;
                    }
                }
                if (last) {
                    if (seen.contains(name) && !higher.containsKey(name)) continue;
                    Named h = higher.remove(name);
                    // an upper dir with no lower left (its origin deleted) may hold copied-up objects: their
                    // numbers are mapped as in an impure dir
                    long ino = up ? childIno(dir, p, e, true) : fs.mapIno(e.ino(), devOf(dir, i, false));
                    lowest.add(h != null ? h : new Named(name, ino, e.type()));
                } else {
                    if (!seen.add(name)) continue;
                    long ino = up ? childIno(dir, p, e, true) : fs.mapIno(e.ino(), devOf(dir, i, false));
                    higher.put(name, new Named(name, ino, e.type()));
                }
            }
            seen.addAll(aufsHidden);
        }
        List<Named> out = new ArrayList<>(lowest);
        out.addAll(higher.values());
        return out;
    }

    private long devOf(Node dir, int i, boolean up) {
        if (up) return fs.upperLayer.dev();
        return dir.lowers().get(dir.isUpper() ? i - 1 : i).layer().dev();
    }

    /** Empty for rmdir: only whiteouts (and ".", "..") in every layer. */
    boolean isEmpty(Node dir) throws ErrnoException {
        return list(dir).entries().size() <= 2;
    }
}
