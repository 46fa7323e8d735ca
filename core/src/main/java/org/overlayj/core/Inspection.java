package org.overlayj.core;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.Layer;
import org.overlayj.core.layer.LayerStack;
import org.overlayj.core.layer.WorkDir;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.List;

/**
 * The engine's own lookup and handle decoding on layers that are not mounted, for the tools (fsck, index verify):
 * what a read-write mount of these layers would serve, worked out by the code that serves it, so the engine, the
 * tools and the kernel cannot drift. Opened read-only with none of the mount's effects (no in-use locks, no work dir
 * reset, no index clean-up, no origin written by a lookup); lookups still consult the index as a read-write index=on
 * mount's do. A lookup that fails does not end the walk: it gives its reason ({@link Failure}) and what it met, and
 * the caller carries on with the next name. One thread only.
 */
public final class Inspection implements AutoCloseable {
    /** Why a lookup fails (the kernel gives the same errno for the same reason). */
    public enum Failure {
        /** A layer's own directory met inside a layer: ELOOP. */
        OVERLAPPING_LAYERS,
        /** An upper metadata-only copy under metacopy=off: EPERM. */
        METACOPY_OFF,
        /** A {@code metacopy} xattr of a bad length: EIO. */
        METACOPY_XATTR,
        /** A metadata-only copy whose data no lower layer has: EIO. */
        METACOPY_NO_DATA,
        /** A redirect under redirect_dir=off/nofollow: EPERM. */
        REDIRECT_NOFOLLOW,
        /** A malformed redirect: EINVAL. */
        REDIRECT_INVALID,
        /**
         * The index entry of a lower object the overlay shows with no upper copy makes it fail (a whiteout or an
         * entry of another type for a file, any entry for a directory under nfs_export): EIO.
         */
        INDEX,
        /** The overlay inode is already known at another upper inode (two upper objects with one origin): ESTALE. */
        INODE_ELSEWHERE,
        /** A directory's index entry names another upper directory: EIO. */
        DIR_INDEX_ELSEWHERE
    }

    /** A real object a lookup met at the name it looked for. */
    public record Met(Layer layer, String path, Stat st) {}

    /** A lower object an overlay object is made of: the merged lower dirs, or a lower file (and its data). */
    public record Lower(Layer layer, String path) {}

    /** One overlay object a lookup found. */
    public static final class Entry {
        private final Node node;
        private final String upperPath;

        private Entry(Node node, String upperPath) {
            this.node = node;
            this.upperPath = upperPath;
        }

        /** Its upper object (an index entry for a lower alias of an indexed file), or null. */
        public String upperPath() { return upperPath; }

        /** It has an upper object at its own name. */
        public boolean isUpper() { return node.isUpper(); }

        public boolean isDir() { return node.isDir(); }

        /** The lower objects it is made of, top-down. */
        public List<Lower> lowers() {
            if (node.lowers() == null) return List.of();
            return node.lowers().stream().map(l -> new Lower(l.layer(), l.path())).toList();
        }

        /** A directory whose upper whiteouts are hidden (it merges lower dirs, or its upper dir has an origin). */
        public boolean merged() { return node.merge(); }

        /** A lower-only object found through its index entry (another alias was copied up): the entry's path. */
        public String indexPath() { return node.indexPath(); }

        /** A metadata-only copy whose data the data-only layers do not have: its first open fails with EIO. */
        public boolean dataMissing() { return node.dataMissing(); }
    }

    /**
     * The outcome of one lookup: the object found (null when the name shows nothing, or the lookup failed), every
     * real object it met top-down, and when it failed why, the real object it blames (null when none) and the error.
     */
    public record Step(Entry entry, List<Met> met, Failure failure, String blamed, ErrnoException error) {}

    private final OverlayFs fs;
    private final Lookup lookup;
    private final Entry root;
    /**
     * Every node found, held: the engine's node cache is weak, and the inode verification (a second name of an
     * inode known elsewhere) must see every node of the walk, as a mount with warm caches does, whatever the GC.
     */
    private final List<Node> held = new ArrayList<>();

    private Inspection(LayerStack layers) throws ErrnoException {
        this.fs = new OverlayFs(layers, true);
        try {
            this.lookup = new Lookup(fs);
            Node r = lookup.root();
            fs.root = r;
            this.root = new Entry(r, fs.upperRoot);
        } catch (ErrnoException | RuntimeException e) {
            fs.close();
            throw e;
        }
    }

    /**
     * Opens layers offline: {@code upper} (null when none) and {@code lowers} as the tools found them (nothing is
     * checked or written), with the options as given. W/index is used when index=on and it exists.
     */
    public static Inspection open(OverlayOptions options, Layer upper, List<Layer> lowers) throws ErrnoException {
        return new Inspection(offlineStack(options, upper, lowers));
    }

    /**
     * The layers as the tools found them, for an engine opened offline (read-only, no lock; W/index used when
     * index=on and it exists): here and {@link Overlay#inspect}.
     */
    static LayerStack offlineStack(OverlayOptions options, Layer upper, List<Layer> lowers) throws ErrnoException {
        String workBase = options.workDir();
        String workDir = workBase == null ? null : workBase + "/" + WorkDir.WORK;
        String indexDir = null;
        if (workBase != null && upper != null && options.index()) {
            Stat st = Linux.lstatOrNull(workBase + "/" + WorkDir.INDEX);
            if (st != null && st.isDir()) indexDir = workBase + "/" + WorkDir.INDEX;
        }
        long dev = lowers.getFirst().dev();
        boolean samefs = lowers.stream().allMatch(l -> l.dev() == dev) && (upper == null || upper.dev() == dev);
        return new LayerStack(options, upper, lowers, workBase, workDir, indexDir, true, false, samefs,
                new byte[16], List.of(), 0, false, true, upper != null, null);
    }

    /** The root directory. */
    public Entry root() { return root; }

    /** Looks {@code name} up in {@code dir} as a mount does; a failure is an answer, not an exception. */
    public Step lookup(Entry dir, String name) {
        List<Met> met = new ArrayList<>();
        Failure[] why = new Failure[1];
        String[] blamed = new String[1];
        lookup.trace = new Lookup.Trace() {
            @Override public void met(Layer layer, String path, Stat st) {
                met.add(new Met(layer, path, st));
            }

            @Override public void failed(Failure f, String path) {
                if (why[0] == null) {
                    why[0] = f;
                    blamed[0] = path;
                }
            }
        };
        try {
            Node n = lookup.child(dir.node, name);
            if (n == null) return new Step(null, List.copyOf(met), null, null, null);
            held.add(n);
            return new Step(new Entry(n, n.isUpper() ? fs.paths.upperPath(n) : n.indexPath()), List.copyOf(met),
                    null, null, null);
        } catch (ErrnoException e) {
            return new Step(null, List.copyOf(met), why[0], blamed[0], e);
        } finally {
            lookup.trace = null;
        }
    }

    /**
     * A real inode an fh blob names, decoded as the engine decodes origins and index names: its layer, stat, and
     * the path the kernel names it by ("/" when disconnected; not checked to be inside the layer).
     */
    public record Decoded(Layer layer, Stat st, String path) {}

    /** The engine's decode of an fh blob; null when it names nothing; EPERM without CAP_DAC_READ_SEARCH. */
    public Decoded decode(Fh fh) throws ErrnoException {
        OverlayFs.Real r = fs.decodeReal(fh);
        return r == null ? null : new Decoded(r.layer(), r.st(), r.path());
    }

    /**
     * The upper inode a directory index entry's {@code NS upper} names, decoded as the mount-time index check
     * decodes it; null when it names nothing.
     */
    public Stat decodeIndexUpper(byte[] blob) {
        return fs.index.decodeUpper(blob);
    }

    /** The fh blob of a real inode in a layer, as the engine (and the kernel) builds it. */
    public Fh blobOf(String path, Layer layer) throws ErrnoException {
        return fs.blobOf(path, layer);
    }

    /**
     * Under nfs_export, the origin blob of an upper object that should be indexed and has no index entry; null
     * otherwise. A directory that a lookup merged with the lower directory its origin names: the trace of a copy-up
     * killed between the directory's name and its entry (CopyUp#copyOther), or of a removal killed after its first
     * step (Namespace#prepareIndexedRemoval); the kernel serves it as a copied-up directory that is not indexed (its
     * upper st_ino, upper handles) and never adds the entry, so a lower handle of the directory from before goes
     * stale (ESTALE, "failed to lookup by real") once the directory is renamed. A non-directory whose origin is a
     * single-link lower inode of its type: a copy-up killed between the copy's name and its index link
     * (CopyUp#copyUpIndexed); the kernel serves it unindexed too, and a lower handle of it from before decodes to
     * the lower file, its data before the copy-up (kernel 6.18).
     */
    public byte[] missingIndex(Entry e) throws ErrnoException {
        if (!e.isUpper() || e.upperPath() == null || !fs.opts.nfsExport() || !fs.index.on()) return null;
        byte[] origin = fs.getX(e.upperPath(), org.overlayj.core.xattr.OverlayXattr.ORIGIN);
        if (origin == null || origin.length == 0) return null;
        if (e.isDir()) {
            List<Node.Lower> lowers = e.node.lowers();
            if (lowers == null || lowers.isEmpty()) return null;
            try {
                Node.Lower top = lowers.getFirst();
                if (!java.util.Arrays.equals(origin, fs.blobOf(top.path(), top.layer()).bytes())) return null;
            } catch (ErrnoException x) {
                return null;                // a lower with no file handles: no index either
            }
        } else {
            OverlayFs.OriginInfo o = fs.decodeOrigin(origin);
            // (a lower hard link copied up without the index is a broken link, not an interrupted copy-up)
            if (o == null || o.nlink() != 1 || o.type() != Linux.lstat(e.upperPath()).type()) return null;
        }
        return Linux.lstatOrNull(fs.index.path(origin)) == null ? origin : null;
    }

    /**
     * Writes the missing index entry of {@link #missingIndex} as a copy-up writes it (Index#addDirEntry,
     * Index#linkIntoIndex): the one write an inspection makes, for {@code fsck --repair}. Refused (EEXIST) if an
     * entry appeared meanwhile.
     */
    public void addIndex(Entry e, byte[] origin) throws ErrnoException {
        if (e.isDir()) fs.index.addDirEntry(origin, e.upperPath(), false);
        else fs.index.linkIntoIndex(origin, e.upperPath());
    }

    @Override public void close() {
        held.clear();
        fs.close();
    }
}
