package org.overlayj.core.tools;

import org.overlayj.core.layer.MountInfo;

import org.overlayj.core.Inspection;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.FsIdentity;
import org.overlayj.core.layer.Layer;
import org.overlayj.core.layer.WorkDir;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The layers of an overlay seen offline, for the tools (the engine's {@link Layer} records, without the
 * mount-time checks of {@code MountChecks}): no in-use locks, no work dir reset, no index cleanup —
 * nothing is written by opening one. Lookups and the decoding of fh blobs (origin, upper, index names) are the
 * engine's own ({@link Inspection}: only in layers whose filesystem uuid is the blob's, as the kernel decodes
 * them); this adds the words for the report: which layer's tree holds a decoded inode, and a path there.
 */
public final class LayerSet implements AutoCloseable {
    /**
     * A layer's name in messages: "upper", or "lower N" (the engine's {@link Layer}: 0 is the upper, then the
     * lowers top-down, numbered 1.. as in the doc).
     */
    public static String label(Layer l) { return l.upper() ? "upper" : "lower " + l.index(); }

    /** A real inode a blob resolved to: its layer, a path that names it now (null when none was found), its stat. */
    public record Resolved(Layer layer, String path, Stat stat) {
        /** The path below the layer root, "/" for the root itself, or null when unknown. */
        public String relative() {
            if (path == null) return null;
            String r = path.substring(layer.root().length());
            return r.isEmpty() ? "/" : r;
        }
    }

    private final OverlayOptions options;
    private final OverlayXattr ns;
    private final Layer upper;
    private final List<Layer> lowers;
    private final String workBase;
    /** The engine on these layers, opened on first use. */
    private Inspection inspection;
    /** Per layer root: inode number → one path, filled on demand when /proc/self/fd cannot name an inode. */
    private final Map<String, Map<Long, String>> inodePaths = new HashMap<>();

    private LayerSet(OverlayOptions options) throws ErrnoException {
        this.options = options;
        this.ns = new OverlayXattr(options.xattrPrefix());
        this.workBase = options.workDir();
        try {
            this.upper = options.upperDir() == null ? null : layer(0, options.upperDir(), true);
            List<Layer> ls = new ArrayList<>();
            int i = 1;
            for (String d : options.lowerDirs()) ls.add(layer(i++, d, false));
            this.lowers = List.copyOf(ls);
        } catch (ErrnoException | RuntimeException e) {
            close();
            throw e;
        }
    }

    private Layer layer(int number, String dir, boolean isUpper) throws ErrnoException {
        int fd = Linux.open(dir, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        String root;
        Stat st;
        try {
            root = Linux.fdPath(fd);
            st = Linux.fstat(fd);
        } catch (ErrnoException e) {
            Linux.closeQuietly(fd);
            throw e;
        }
        Linux.closeQuietly(fd);
        byte[] uuid = options.originUuid() ? FsIdentity.fsUuid(dir) : new byte[16];
        return new Layer(number, root, st.dev(), uuid, isUpper);
    }

    /** Opens the layers named by {@code options}; writes nothing. */
    public static LayerSet open(OverlayOptions options) throws ErrnoException {
        return new LayerSet(options);
    }

    public OverlayOptions options() { return options; }

    public OverlayXattr ns() { return ns; }

    public Layer upper() { return upper; }

    public List<Layer> lowers() { return lowers; }

    public List<Layer> all() {
        List<Layer> l = new ArrayList<>();
        if (upper != null) l.add(upper);
        l.addAll(lowers);
        return l;
    }

    /** W/index, or null when there is no work dir. It may not exist. */
    public String indexDir() { return workBase == null ? null : workBase + "/" + WorkDir.INDEX; }

    /** W/work, or null. */
    public String workDir() { return workBase == null ? null : workBase + "/" + WorkDir.WORK; }

    /** The value of {@code NS marker} on a real path, or null when absent. */
    public byte[] getX(String path, String marker) throws ErrnoException {
        return Linux.lgetxattrOrNull(path, ns.name(marker));
    }

    /** The fh blob of a real inode in a layer, as the kernel builds it. */
    public Fh blobOf(String path, Layer layer) throws ErrnoException {
        return inspection().blobOf(path, layer);
    }

    /** The engine on these layers (read-only, offline): its lookup and its handle decoding. */
    public Inspection inspection() throws ErrnoException {
        if (inspection == null) inspection = Inspection.open(options, upper, lowers);
        return inspection;
    }

    /**
     * The real inode a blob names, or null when it names nothing any more (stale, or no layer with that uuid),
     * decoded by the engine ({@link Inspection#decode}); the layer is the one whose tree holds it (several lower
     * layers may share a filesystem), the path one that names it there (null when none was found).
     */
    public Resolved resolve(Fh fh) throws ErrnoException {
        Inspection.Decoded d;
        try {
            d = inspection().decode(fh);
        } catch (ErrnoException e) {
            // without CAP_DAC_READ_SEARCH nothing decodes: an error, not a verdict of "stale" on every blob
            if (e.errno() == Errno.EPERM) throw new ErrnoException(Errno.EPERM,
                    "open_by_handle_at needs CAP_DAC_READ_SEARCH (run as root)");
            throw e;
        }
        if (d == null) return null;
        Stat st = d.st();
        List<Layer> candidates = fh.upper() ? List.of(d.layer()) : lowers;
        for (Layer l : candidates) {
            if (l.dev() != st.dev() || !java.util.Arrays.equals(l.uuid(), fh.uuid())) continue;
            String p = pathIn(l, d.path(), st);
            if (p != null) return new Resolved(l, p, st);
        }
        for (Layer l : candidates) {
            if (l.dev() != st.dev() || !java.util.Arrays.equals(l.uuid(), fh.uuid())) continue;
            String p = findInode(l, st);
            if (p != null) return new Resolved(l, p, st);
        }
        // an inode found in no layer's tree: unnamed in the one layer of its filesystem; with several lower layers
        // on it, none can be told to hold it
        if (st.dev() != d.layer().dev()) return null;
        if (!fh.upper() && lowers.stream().filter(l -> l.dev() == st.dev()).count() > 1) return null;
        return new Resolved(d.layer(), null, st);
    }

    /** The path if it is inside the layer and really is that inode now; else null. */
    private static String pathIn(Layer l, String path, Stat st) throws ErrnoException {
        if (!path.equals(l.root()) && !path.startsWith(l.root() + "/")) return null;
        Stat now = Linux.lstatOrNull(path);
        return now != null && now.ino() == st.ino() && now.dev() == st.dev() ? path : null;
    }

    /**
     * A path of the inode inside the layer, found by walking the layer once (non-directories the dentry cache
     * does not know come back from open_by_handle_at disconnected, named "/").
     */
    public String findInode(Layer l, Stat st) throws ErrnoException {
        Map<Long, String> m = inodePaths.get(l.root());
        if (m == null) {
            m = new HashMap<>();
            index(l.root(), l.dev(), m);
            inodePaths.put(l.root(), m);
        }
        return m.get(st.ino());
    }

    private void index(String dir, long dev, Map<Long, String> m) throws ErrnoException {
        for (DirEnt e : Linux.readdir(dir)) {
            if (e.isDotOrDotDot()) continue;
            String p = dir + "/" + e.name();
            m.putIfAbsent(e.ino(), p);
            if (e.type() == DirEnt.DT_DIR) {
                Stat st = Linux.lstatOrNull(p);
                if (st != null && st.dev() == dev) index(p, dev, m);
            }
        }
    }

    private final Map<String, Map<Long, List<String>>> aliases = new HashMap<>();

    /** Every path of a layer whose inode is {@code ino} (non-directories: its hard links), in tree order. */
    public List<String> pathsOf(Layer l, long ino) throws ErrnoException {
        Map<Long, List<String>> m = aliases.get(l.root());
        if (m == null) {
            m = new HashMap<>();
            collect(l.root(), l.dev(), m);
            aliases.put(l.root(), m);
        }
        return m.getOrDefault(ino, List.of());
    }

    private void collect(String dir, long dev, Map<Long, List<String>> m) throws ErrnoException {
        for (DirEnt e : Linux.readdir(dir)) {
            if (e.isDotOrDotDot()) continue;
            String p = dir + "/" + e.name();
            if (e.type() != DirEnt.DT_DIR) {
                m.computeIfAbsent(e.ino(), k -> new ArrayList<>()).add(p);
            } else {
                Stat st = Linux.lstatOrNull(p);
                if (st != null && st.dev() == dev) collect(p, dev, m);
            }
        }
    }

    /**
     * Claims the upper and work dirs for a repair: EBUSY when a kernel overlay mount names either as upperdir or
     * workdir, or another overlayj holds its exclusive-use lock on them (a repair under a live mount would race
     * it). The returned lock releases them.
     */
    public AutoCloseable lockForRepair() throws ErrnoException {
        List<Integer> fds = new ArrayList<>();
        AutoCloseable release = () -> fds.forEach(Linux::closeQuietly);
        if (upper == null) return release;
        try {
            for (String dir : List.of(upper.root(), workBase)) {
                if (kernelUses(dir)) throw new ErrnoException(Errno.EBUSY, Linux.toUtf8(dir)
                        + " is in use by a kernel overlay mount");
                int fd = Linux.open(dir, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
                fds.add(fd);
                try {
                    Linux.flock(fd, Linux.LOCK_EX | Linux.LOCK_NB);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EAGAIN) throw e;
                    throw new ErrnoException(Errno.EBUSY, Linux.toUtf8(dir) + " is in use by a mounted overlayj");
                }
            }
        } catch (ErrnoException | RuntimeException e) {
            fds.forEach(Linux::closeQuietly);
            throw e;
        }
        return release;
    }

    /** A kernel overlay in /proc/self/mountinfo has this directory as its upperdir or workdir. */
    private static boolean kernelUses(String dir) throws ErrnoException {
        Stat me = Linux.stat(dir);
        List<String> lines;
        try {
            lines = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/mountinfo"),
                    java.nio.charset.StandardCharsets.ISO_8859_1);
        } catch (java.io.IOException e) {
            return false;
        }
        for (String line : lines) {
            int dash = line.indexOf(" - ");
            if (dash < 0) continue;
            String[] tail = line.substring(dash + 3).split(" ");
            if (tail.length < 3 || !tail[0].equals("overlay")) continue;
            for (String opt : tail[2].split(",")) {
                String p = opt.startsWith("upperdir=") ? opt.substring(9)
                        : opt.startsWith("workdir=") ? opt.substring(8) : null;
                if (p == null) continue;
                Stat st = Linux.lstatOrNull(MountInfo.unescape(p));
                if (st != null && st.ino() == me.ino() && st.dev() == me.dev()) return true;
            }
        }
        return false;
    }


    /** A layer-relative path for messages: "upper:/a/b", "lower 2:/c". */
    public static String show(Layer l, String path) {
        String r = path.substring(l.root().length());
        return label(l) + ":" + (r.isEmpty() ? "/" : Linux.toUtf8(r));
    }

    @Override public void close() {
        if (inspection != null) inspection.close();
        inspection = null;
    }
}
