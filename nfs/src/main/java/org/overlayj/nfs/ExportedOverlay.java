package org.overlayj.nfs;

import org.overlayj.core.Attr;
import org.overlayj.core.Creds;
import org.overlayj.core.Node;
import org.overlayj.core.Overlay;
import org.overlayj.core.Prefetch;
import org.overlayj.nfs.exports.Export;
import org.overlayj.nfs.exports.ExportOptions;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.xdr.nfsstat3;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;

/**
 * What both RPC programs share: the overlay, the export table with each export's root node, the write verifier
 * of this server instance, and the counters. Resolving a call's file handle and caller happens here, so NFS and
 * MOUNT apply the same export rules.
 */
final class ExportedOverlay {
    final Overlay overlay;
    final Exports exports;
    final NfsStats stats;
    /** New at every start: a client that sees it change after an UNSTABLE write resends its uncommitted data. */
    final byte[] writeVerifier;
    /** One filesystem for every export: fattr3.fsid, stable across restarts for the same layers. */
    final long fsid;
    private final List<Node> roots;
    private final long verifierSalt;

    private final NodeHandles handles;
    /** The calls being served, which a clean stop lets finish. */
    final InFlight inFlight = new InFlight();
    /** The open files READ, WRITE and COMMIT use, kept between calls; closed by the server's stop. */
    final OpenFileCache openFiles;
    /**
     * How far ahead of the READs of a file read in order its data file is read at most ({@link Prefetch}), in MiB:
     * {@code -Doverlayj.nfs.prefetchMib=N}, 0 never. 64, as the FUSE door's (bench/README.md, fuselower, nfsread).
     */
    static final long PREFETCH_BYTES = Long.getLong("overlayj.nfs.prefetchMib", 64) << 20;
    /**
     * How far apart READs of one file may be and still count as in order: a kernel client keeps several READs of
     * its readahead in flight (up to 15 of rsize), which the workers serve in any order.
     */
    static final long PREFETCH_NEAR = 16L << 20;
    /** Reads files read in order ahead of their READs; closed by the server's stop, before the open files. */
    final Prefetch prefetch = new Prefetch("overlayj-nfs-prefetch", PREFETCH_BYTES, PREFETCH_NEAR);
    /**
     * The nodes of the handles last handed out or decoded, held: the engine keeps nodes only while someone does
     * (weakly cached), and a handle whose node was collected decodes from scratch (open_by_handle_at, the fd's
     * path, a walk: ~25 system calls where a remembered decode makes none). A FUSE client holds its nodes until it
     * forgets them; an NFS client holds only handles, so the door holds the most recent nodes for it, as
     * ganesha's and knfsd's inode caches do. A ring overwritten in turn: races only lose a slot.
     */
    private final Node[] recent = new Node[RECENT];
    private final java.util.concurrent.atomic.AtomicInteger recentNext = new java.util.concurrent.atomic.AtomicInteger();
    static final int RECENT = 8192;

    ExportedOverlay(Overlay overlay, NodeHandles handles, Exports exports, NfsStats stats) throws ErrnoException {
        this.overlay = overlay;
        this.handles = handles;
        this.exports = exports;
        this.stats = stats;
        this.writeVerifier = new byte[8];
        SecureRandom random = new SecureRandom();
        random.nextBytes(writeVerifier);
        this.verifierSalt = random.nextLong() | 1L << 62;
        long h = 0x6f766c6a00000000L;
        String layers = overlay.options().lowerDirs() + "|" + overlay.options().upperDir();
        for (int i = 0; i < layers.length(); i++) h = h * 31 + layers.charAt(i);
        this.fsid = h & 0x7fffffffffffffffL;
        List<Node> r = new ArrayList<>();
        for (Export e : exports.exports()) r.add(resolvePath(e.path()));
        this.roots = List.copyOf(r);
        this.openFiles = new OpenFileCache(overlay);
    }

    /** Walks an export path from the overlay root, as root: exports are the administrator's choice. */
    private Node resolvePath(String path) throws ErrnoException {
        Node n = overlay.root();
        for (String part : path.split("/")) {
            if (part.isEmpty()) continue;
            n = overlay.lookup(n, Linux.fromUtf8(part), Creds.ROOT);
        }
        if (!overlay.getattr(n).isDir())
            throw new ErrnoException(org.overlayj.sys.Errno.ENOTDIR, "export " + path + " is not a directory");
        return n;
    }

    Node root(int exportId) { return roots.get(exportId); }

    byte[] handle(int exportId, Node n) throws ErrnoException {
        hold(n);
        byte[] engine = handles.encode(n);
        if (engine.length > FileHandles.MAX_ENGINE_HANDLE)
            throw new ErrnoException(org.overlayj.sys.Errno.EOVERFLOW, "engine handle too long for NFSv3");
        return FileHandles.encode(exportId, engine);
    }

    /** Where a call comes from and under which export rules it runs. */
    record Caller(int exportId, Export export, ExportOptions options, Creds creds) {
        void checkWritable() throws NfsStatus {
            if (options.readOnly()) throw new NfsStatus(nfsstat3.NFS3ERR_ROFS, "export is read-only");
        }
    }

    /**
     * The client's rules for an export: ACCES when no client spec matches it, PERM when the export is
     * {@code secure} and the request came from an unprivileged port (as knfsd answers).
     */
    Caller caller(int exportId, InetSocketAddress remote, int uid, int gid, int[] gids) throws NfsStatus {
        Export e = exports.byId(exportId)
                .orElseThrow(() -> new NfsStatus(nfsstat3.NFS3ERR_STALE, "no export " + exportId));
        ExportOptions o = e.optionsFor(remote.getAddress())
                .orElseThrow(() -> new NfsStatus(nfsstat3.NFS3ERR_ACCES, remote + " not allowed on " + e.path()));
        if (o.secure() && remote.getPort() >= 1024)
            throw new NfsStatus(nfsstat3.NFS3ERR_PERM, "insecure source port " + remote.getPort());
        return new Caller(exportId, e, o, o.squash(uid, gid, gids));
    }

    /** A handle's node, and its attributes when they could be read (null otherwise). */
    record Resolved(Node node, Attr attr) {}

    /**
     * The engine node a handle names: BADHANDLE when it is not one of ours, STALE when its object is gone. Its
     * attributes are read here anyway (that is how a removed object shows), and the caller uses them rather than
     * asking again a moment later.
     */
    Resolved node(FileHandles.Decoded fh) throws NfsStatus {
        Node n;
        try {
            n = handles.decode(fh.engineHandle());
        } catch (ErrnoException e) {
            throw new NfsStatus(nfsstat3.NFS3ERR_STALE, e.getMessage());
        }
        hold(n);
        try {
            return new Resolved(n, overlay.getattr(n));
        } catch (ErrnoException e) {
            // Decoded, but the object has gone since (removed through another handle): stale, not "no entry".
            if (e.errno() == org.overlayj.sys.Errno.ENOENT || e.errno() == org.overlayj.sys.Errno.ESTALE)
                throw new NfsStatus(nfsstat3.NFS3ERR_STALE, e.getMessage());
            return new Resolved(n, null);
        }
    }

    private void hold(Node n) {
        recent[recentNext.getAndIncrement() & (RECENT - 1)] = n;
    }

    static FileHandles.Decoded decode(byte[] fh) throws NfsStatus {
        FileHandles.Decoded d = FileHandles.decode(fh);
        if (d == null) throw new NfsStatus(nfsstat3.NFS3ERR_BADHANDLE, "malformed file handle");
        return d;
    }

    /**
     * The READDIR cookie verifier of a directory: its engine version plus a salt of this server instance. The
     * salt keeps it from ever being all zeros (which clients send when they have no verifier) and makes cookies
     * of a previous server instance fail with BAD_COOKIE rather than resume at the wrong place.
     */
    byte[] cookieVerifier(Node dir) {
        return ByteBuffer.allocate(8).putLong(verifierSalt + overlay.dirVersion(dir)).array();
    }
}
