package org.overlayj.core;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.fh.Fh;
import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.layer.Layer;
import org.overlayj.core.layer.LayerPaths;
import org.overlayj.core.layer.LayerStack;
import org.overlayj.core.layer.OverrideStat;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.FileHandle;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The state of one mounted overlay (the kernel's ovl_fs): layers, xattr names, the namespace lock and its change
 * counts, and what every concern shares: the inode cache ({@link InodeCache}), the real paths of a node
 * ({@link RealPaths}), the scratch dir's names ({@link ScratchNames}), the effects told to the doors
 * ({@link Effects}), the xattr markers, st_ino mapping, origin decoding.
 */
final class OverlayFs {
    final LayerStack layers;
    final OverlayOptions opts;
    final OverlayXattr ns;
    final Layer upperLayer;
    final String upperRoot;
    /** Namespace lock: lookups read, changes write. Data I/O on open files takes neither. */
    final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /**
     * How many times the write lock was taken: every change made through this overlay bumps it before it touches
     * anything. So an answer worked out under the read lock when the count was c still holds while the count is c
     * (edits made to the layers behind the mount's back are undefined, as in the kernel). Guarded by {@link #lock}.
     */
    long changes;
    /**
     * The changes that may void a handle decode's answer (Export): all but the making of a new object (create,
     * mkdir, mknod, symlink). A new name leads no existing handle elsewhere: the objects already reachable keep
     * their nodes (a copy-up of the parent keeps its node too), and what was stale stays so; removals, renames,
     * links, copy-ups of the object itself count. An NFS client creating files would otherwise make every other
     * call of every client decode its handles from scratch (open_by_handle_at, readlink, stats, xattrs). Guarded
     * by {@link #lock}.
     */
    long decodeEpoch;
    /** The nodes of the objects in use, by inode number (the kernel's inode cache). */
    final InodeCache inodes = new InodeCache();
    /** Origin blob (hex) → decoded lower inode facts; lower layers never change while mounted. */
    private final Map<String, OriginInfo> origins = new ConcurrentHashMap<>();
    /** Read-only fds of each layer root, by st_dev: open_by_handle_at needs an fd on the fs. */
    private final Map<Long, Integer> mountFds = new HashMap<>();
    /** Small fs ids for inode numbers when layers are on several filesystems (xino-like high bits). */
    private final Map<Long, Integer> fsids = new HashMap<>();
    Node root;
    final Index index = new Index(this);
    /** Inode flags: their protection is checked by the namespace changes, copied by copy-up. */
    final FileAttr fileAttr = new FileAttr(this);
    /** Who this process is: what a new real object is owned by before any chown. */
    final int processUid = Linux.geteuid(), processGid = Linux.getegid();
    /**
     * Whether this process passes permission checks on what it owns regardless of mode (CAP_DAC_OVERRIDE), as the
     * kernel's mounter creds do: then scratch objects are made mode 0 as the kernel makes them. A plain user
     * (fusermount3 mount) has no such capability: it could not set a user.* xattr on, nor list, nor fill, a mode-0
     * directory of its own, so its scratch objects start owner-only (see {@link #scratchMode}).
     */
    final boolean dacOverride = org.overlayj.core.layer.FsIdentity.capable(1 /* CAP_DAC_OVERRIDE */);

    /** The mode a scratch object is made with before its real mode is set: 0, or owner-only without dacOverride. */
    int scratchMode(boolean dir) {
        return dacOverride ? 0 : dir ? 0700 : 0600;
    }

    /** What the changes did besides their own job, for the doors' listeners (ChangeListener). */
    final Effects effects = new Effects();

    record OriginInfo(long ino, int nlink, int type, long dev) {}

    /**
     * Data-only lower layers (format doc §1.6): never looked up by name nor listed; they only hold the data of
     * metacopy files in the other lower layers, found by an absolute redirect. They lend no inode numbers.
     */
    final List<Layer> dataLayers;

    /** Metacopy files in lower layers are followed to their data: under metacopy=on, or with data-only layers. */
    boolean followsMetacopy() {
        return opts.metacopy() || !dataLayers.isEmpty();
    }

    /**
     * Opened offline by {@link Inspection} (fsck): the layers are read-only and nothing is ever written, yet lookups
     * consult the index as a read-write mount's do, since what such a mount would serve is what is predicted.
     */
    final boolean offline;

    /** The test seam ({@link Probe#NONE} but in the core tests). */
    final Probe probe;

    OverlayFs(LayerStack layers, Probe probe) throws ErrnoException {
        this(layers, false, probe);
    }

    OverlayFs(LayerStack layers, boolean offline) throws ErrnoException {
        this(layers, offline, Probe.NONE);
    }

    private OverlayFs(LayerStack layers, boolean offline, Probe probe) throws ErrnoException {
        this.offline = offline;
        this.probe = probe;
        this.layers = layers;
        this.opts = layers.options();
        List<Layer> data = new ArrayList<>();
        for (String d : opts.dataDirs()) {
            String root = LayerPaths.realPath(d);
            data.add(new Layer(layers.lowers().size() + 1 + data.size(), root, Linux.stat(root).dev(), new byte[16],
                    false, 0, false, false, false));
        }
        this.dataLayers = List.copyOf(data);
        this.ns = new OverlayXattr(opts.xattrPrefix());
        this.upperLayer = layers.upper();
        this.upperRoot = upperLayer == null ? null : upperLayer.root();
        this.scratch = new ScratchNames(layers);
        int next = 0;
        if (upperLayer != null) {
            fsids.put(upperLayer.dev(), next++);
        }
        for (Layer l : layers.lowers()) {
            if (!fsids.containsKey(l.dev())) fsids.put(l.dev(), next++);
        }
        this.paths = new RealPaths(upperRoot, layers);
        for (Layer l : allLayers()) {
            OverrideStat o = OverrideStat.ofLayer(l.root());
            if (o.xattr() != null) overrides.put(l, o);
        }
        for (Layer l : allLayers()) {
            if (!mountFds.containsKey(l.dev())) {
                // open_by_handle_at refuses O_PATH fds (EBADF): a real directory open.
                mountFds.put(l.dev(), Linux.open(l.root(), Linux.O_RDONLY | Linux.O_DIRECTORY, 0));
            }
        }
    }

    /** Layers whose root says their objects keep owner and mode in an override_stat xattr (rootless storage). */
    private final Map<Layer, OverrideStat> overrides = new HashMap<>();

    /** The owner and mode an override_stat xattr gives {@code n}'s real inode, or null (the inode's own). */
    OverrideStat.Values overrideOf(Node n) throws ErrnoException {
        if (overrides.isEmpty()) return null;
        Layer l = n.isUpper() || n.indexPath() != null ? upperLayer
                : n.lowers() == null || n.lowers().isEmpty() ? null : n.topLower().layer();
        OverrideStat o = l == null ? null : overrides.get(l);
        return o == null || o.xattr() == null ? null : o.of(Getattr.xattrOrNull(paths.realPath(n), o.xattr()));
    }

    List<Layer> allLayers() {
        if (upperLayer == null) return layers.lowers();
        var all = new java.util.ArrayList<Layer>();
        all.add(upperLayer);
        all.addAll(layers.lowers());
        return all;
    }

    void close() {
        paths.close();
        for (int fd : mountFds.values()) Linux.closeQuietly(fd);
        mountFds.clear();
    }

    String x(String marker) { return ns.name(marker); }

    // --- real paths ----------------------------------------------------------------------------------------------

    /** The real inodes of the nodes: by path, or through an open file's fd once no name leads there. */
    final RealPaths paths;

    /**
     * The overlay markers on one real object, read with one listxattr (and a getxattr per marker present): lookups
     * need several of them for every entry, and most entries carry none.
     */
    record Markers(byte[] opaque, byte[] redirect, byte[] origin, byte[] whiteout, byte[] metacopy) {
        static final Markers NONE = new Markers(null, null, null, null, null);

        /** {@code NS opaque} is exactly the one byte 'y'. */
        boolean isOpaque() { return OverlayXattr.opaqueValue(opaque); }

        /** {@code NS opaque} = 'x': a lower directory holding xwhiteouts. */
        boolean hasXwhiteouts() { return OverlayXattr.xwhiteoutsValue(opaque); }
    }

    Markers markers(String path) throws ErrnoException {
        List<String> names = xattrNames(path);
        return names.isEmpty() ? Markers.NONE : markers(path, names);
    }

    /**
     * {@link #markers(String)} of {@code name} in the directory open as {@code dirFd} (the real object at
     * {@code path}): the listing by listxattrat, whose path walk is the one name (a lookup of every entry of a
     * listed lower directory reads the list of each zero-size file); by path where the kernel lacks it, and for
     * the values of the markers there (rare).
     */
    Markers markersAt(int dirFd, String name, String path) throws ErrnoException {
        List<String> names;
        try {
            names = Linux.llistxattratOrNull(dirFd, name);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) throw e;
            names = List.of();
        }
        if (names == null) return markers(path);
        return names.isEmpty() ? Markers.NONE : markers(path, names);
    }

    /**
     * Markers of a real directory: as {@link #markers(String)}, and a directory the overlay's own xattr does not
     * mark is opaque also by the markers fuse-overlayfs reads ({@link AufsWhiteouts#opaque}).
     */
    Markers dirMarkers(String path) throws ErrnoException {
        List<String> names = xattrNames(path);
        Markers m = names.isEmpty() ? Markers.NONE : markers(path, names);
        if (m.opaque() != null || !AufsWhiteouts.opaque(path, names)) return m;
        return new Markers(new byte[]{'y'}, m.redirect(), m.origin(), m.whiteout(), m.metacopy());
    }

    private static List<String> xattrNames(String path) throws ErrnoException {
        try {
            return Linux.llistxattr(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) throw e;
            return List.of();
        }
    }

    private Markers markers(String path, List<String> names) throws ErrnoException {
        byte[] opaque = null, redirect = null, origin = null, whiteout = null, metacopy = null;
        String prefix = ns.prefix();
        for (String name : names) {
            if (!name.startsWith(prefix)) continue;
            switch (name.substring(prefix.length())) {
                case OverlayXattr.OPAQUE -> opaque = Linux.lgetxattrOrNull(path, name);
                case OverlayXattr.REDIRECT -> redirect = Linux.lgetxattrOrNull(path, name);
                case OverlayXattr.ORIGIN -> origin = Linux.lgetxattrOrNull(path, name);
                case OverlayXattr.WHITEOUT -> whiteout = new byte[0];
                case OverlayXattr.METACOPY -> metacopy = Linux.lgetxattrOrNull(path, name);
                default -> { }
            }
        }
        if (opaque == null && redirect == null && origin == null && whiteout == null && metacopy == null) {
            return Markers.NONE;
        }
        return new Markers(opaque, redirect, origin, whiteout, metacopy);
    }

    // --- markers ---------------------------------------------------------------------------------------------------

    byte[] getX(String path, String marker) throws ErrnoException {
        return Linux.lgetxattrOrNull(path, x(marker));
    }

    /**
     * {@code NS opaque} is exactly the one byte 'y' (a longer value is not the marker: the kernel gets ERANGE), or,
     * without it, a marker fuse-overlayfs reads ({@link #dirMarkers}).
     */
    boolean isOpaque(String path) throws ErrnoException {
        return dirMarkers(path).isOpaque();
    }

    /** The single-byte value of a marker xattr, or 0 when absent or not exactly one byte. */
    int marker(String path, String marker) throws ErrnoException {
        try {
            byte[] v = Linux.lgetxattrLimited(path, x(marker), 1);
            return v.length == 1 ? v[0] : 0;
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENODATA || e.errno() == Errno.ERANGE || e.errno() == Errno.EOPNOTSUPP) return 0;
            throw e;
        }
    }

    /** A zero-size regular file carrying {@code NS whiteout}: an xwhiteout (format doc §3.3). */
    boolean isXwhiteout(String path, Stat st) throws ErrnoException {
        return st.isReg() && st.size() == 0 && getX(path, OverlayXattr.WHITEOUT) != null;
    }

    void setX(String path, String marker, byte[] value) throws ErrnoException {
        try {
            Linux.lsetxattr(path, x(marker), value, 0);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EACCES || dacOverride) throw e;
            lendingWrite(path, () -> Linux.lsetxattr(path, x(marker), value, 0));
        }
    }

    interface Step {
        void run() throws ErrnoException;
    }

    /**
     * Runs {@code step} on an upper object of this process's own whose mode forbids its owner to write it (a
     * user.* xattr set or removed on a 0555 directory, an entry put into one): the kernel does these with the
     * mounter's creds, which pass such checks; a plain user's mount (no CAP_DAC_OVERRIDE) lends the object u+w
     * for the moment instead. Anything else runs as it is.
     */
    void lendingWrite(String path, Step step) throws ErrnoException {
        Stat st = dacOverride ? null : Linux.lstat(path);
        boolean lend = st != null && !st.isLink() && st.uid() == processUid && (st.mode() & 0200) == 0;
        if (lend) Linux.chmod(path, (st.mode() & 07777) | 0200);
        try {
            step.run();
        } finally {
            if (lend) Linux.chmod(path, st.mode() & 07777);
        }
    }

    void setImpure(String upperDir) throws ErrnoException {
        if (marker(upperDir, OverlayXattr.IMPURE) != 'y') setX(upperDir, OverlayXattr.IMPURE, new byte[]{'y'});
    }

    // --- inode numbers ---------------------------------------------------------------------------------------------

    /** The overlay inode number of a real inode: its own number, plus fs id bits when layers span filesystems. */
    long mapIno(long realIno, long dev) {
        if (layers.samefs()) return realIno;
        int fsid = fsids.getOrDefault(dev, 0);
        if (fsid == 0) return realIno;
        int bits = layers.xinoBits();
        // xino (format doc §6.5): the fsid sits in the top bits - 1, as the kernel puts it: real | fsid << (65 - bits)
        if (bits > 0 && realIno >>> (64 - bits) == 0) return realIno | ((long) fsid << (64 - bits + 1));
        return realIno | ((long) fsid << 56);
    }

    /** Decodes an origin blob to the lower inode's facts, or null when it is unknown/invalid/not decodable. */
    OriginInfo decodeOrigin(byte[] blob) {
        if (blob == null || blob.length == 0) return null;
        String key = java.util.HexFormat.of().formatHex(blob);
        OriginInfo cached = origins.get(key);
        if (cached != null) return cached;
        if (!(Fh.parse(blob) instanceof Fh.Ok(Fh fh)) || fh.upper()) return null;
        Real r;
        try {
            r = decodeReal(fh);
        } catch (ErrnoException e) {
            return null;                    // EPERM: no CAP_DAC_READ_SEARCH, nothing decodes
        }
        if (r == null) return null;
        OriginInfo info = new OriginInfo(r.st().ino(), r.st().nlink(), r.st().type(), r.st().dev());
        origins.put(key, info);
        return info;
    }

    /**
     * A real inode an fh blob names: its layer, its stat, and the path the kernel names the open inode by ("/" for
     * a disconnected one: not checked to be inside the layer).
     */
    record Real(Layer layer, Stat st, String path) {}

    /**
     * Decodes an fh blob as origins and index entries are decoded: open_by_handle_at on the filesystem of each layer
     * whose uuid is the blob's (the lower layers top-down for a lower blob, the upper layer for an upper one), the
     * first that opens it. Null when none does (stale, or no such layer); EPERM when this process may not decode
     * handles at all (no CAP_DAC_READ_SEARCH), which is not a verdict on the blob.
     */
    Real decodeReal(Fh fh) throws ErrnoException {
        List<Layer> candidates = fh.upper() ? (upperLayer == null ? List.of() : List.of(upperLayer)) : layers.lowers();
        for (Layer l : candidates) {
            if (!java.util.Arrays.equals(l.uuid(), fh.uuid())) continue;
            Integer mfd = mountFds.get(l.dev());
            if (mfd == null) continue;
            int fd = -1;
            try {
                fd = Linux.openByHandle(mfd, fh.handle(), Linux.O_PATH);
                Stat st = Linux.fstat(fd);
                return new Real(l, st, Linux.fdPathOrRoot(fd));
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EPERM) throw e;
                // stale or foreign: try the next layer with this uuid
            } finally {
                Linux.closeQuietly(fd);
            }
        }
        return null;
    }

    /** open_by_handle_at on the filesystem with st_dev {@code dev} (O_PATH result). */
    int openByHandle(long dev, Fh fh) throws ErrnoException {
        Integer mfd = mountFds.get(dev);
        if (mfd == null) throw err(Errno.ESTALE, "no layer on that filesystem");
        return Linux.openByHandle(mfd, fh.handle(), Linux.O_PATH);
    }

    /** The fh blob of a real inode (for origin, index names, handles). */
    Fh blobOf(String path, Layer layer) throws ErrnoException {
        FileHandle h = Linux.nameToHandle(path, 0);
        return Fh.of(h, layer.uuid(), layer.upper());
    }

    /** {@link #blobOf} of {@code name} in the directory open as {@code dirFd}: a path walk of one name. */
    Fh blobAt(int dirFd, String name, Layer layer) throws ErrnoException {
        return Fh.of(Linux.nameToHandleAt(dirFd, name, 0), layer.uuid(), layer.upper());
    }

    /** The fh blob of {@code n}'s top lower inode, made once per node (Node#lowerBlob). */
    Fh lowerBlobOf(Node n) throws ErrnoException {
        Fh b = n.lowerBlob;
        if (b != null) return b;
        Node.Lower lo = n.topLower();
        b = blobOf(lo.path(), lo.layer());
        n.lowerBlob = b;
        return b;
    }

    /** The layer a lower path belongs to is known from the Lower record; this finds the upper layer object. */
    Layer upper() { return upperLayer; }

    // --- inode cache -----------------------------------------------------------------------------------------------

    /**
     * Forgets every cached node but the root, and the decoded origins: the state of a fresh mount as far as the
     * engine's caches go (the kernel's dentry and inode caches are not ours to drop). For benchmarks of cold paths
     * (bench/decode-bench reaches it from its own class in this package); nodes still held elsewhere stay valid.
     */
    void dropCaches() {
        inodes.dropCaches(root);
        origins.clear();
    }

    // --- scratch -------------------------------------------------------------------------------------------------

    /** Temporary names in the scratch dir (W/work, or W/index with index=on). */
    final ScratchNames scratch;

    /** Notes a directory's stat right before it is removed (Node#removedDir). */
    void noteRemovedDir(Node dir) {
        if (!dir.isDir()) return;
        try {
            dir.removing(Linux.lstat(paths.realPath(dir)));
        } catch (ErrnoException e) {
            // then it answers ENOENT once removed, as before
        }
    }

    static ErrnoException err(int errno, String msg) {
        return new ErrnoException(errno, msg);
    }
}
