package org.overlayj.nfs;

import org.dcache.oncrpc4j.portmap.OncRpcEmbeddedPortmap;
import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.OncRpcSvc;
import org.dcache.oncrpc4j.rpc.OncRpcSvcBuilder;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.overlayj.core.Overlay;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.xdr.Mount3;
import org.overlayj.nfs.xdr.Nfs3;
import org.overlayj.sys.ErrnoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The NFSv3 door: NFS and MOUNT on one TCP port, an optional embedded portmapper, periodic counters. The I/O
 * threads that read and decode calls answer the cheap ones themselves; calls that may wait on the disk go to a
 * fixed pool of worker threads (Nfs3Program#mayBlock), so a slow one holds up no other connection and the number
 * of threads stays fixed however many clients send.
 */
public final class NfsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NfsServer.class);

    /**
     * @param listen        address and port to bind (port 0 picks a free one)
     * @param portmap       also run a portmapper (v2) on port 111 when none is running, and register there
     * @param workers       worker threads for the calls that may block; calls beyond them queue
     * @param statsInterval seconds between counter log lines; 0 for none
     */
    public record Config(InetSocketAddress listen, boolean portmap, int workers, int statsInterval) {
        public Config {
            if (workers < 1) throw new IllegalArgumentException("workers must be at least 1");
        }

        public static Config of(InetSocketAddress listen) { return new Config(listen, false, 8, 0); }
    }

    private final Overlay overlay;
    private final ExportedOverlay exported;
    private final NfsStats stats;
    private final OncRpcSvc svc;
    private final OncRpcEmbeddedPortmap portmap;
    private final ScheduledExecutorService ticker;
    private final ExecutorService workers;
    private volatile boolean stopped;
    /** How long a stop waits for calls in flight (a COMMIT of a large file can take a while). */
    private static final long DRAIN_SECONDS = 30;

    private NfsServer(Overlay overlay, ExportedOverlay exported, NfsStats stats, OncRpcSvc svc,
                      OncRpcEmbeddedPortmap portmap, ScheduledExecutorService ticker, ExecutorService workers) {
        this.overlay = overlay;
        this.exported = exported;
        this.stats = stats;
        this.svc = svc;
        this.portmap = portmap;
        this.ticker = ticker;
        this.workers = workers;
    }

    /**
     * Starts serving {@code overlay} under {@code exports}. The overlay must have nfs_export: without it the
     * engine's handles do not survive copy-up or restart, and clients would see ESTALE for live files.
     */
    public static NfsServer start(Overlay overlay, Exports exports, Config config) throws IOException {
        return start(overlay, NodeHandles.of(overlay), exports, config);
    }

    static NfsServer start(Overlay overlay, NodeHandles handles, Exports exports, Config config) throws IOException {
        if (!overlay.options().nfsExport())
            throw new IOException("refusing to serve NFS: the overlay is not mounted with nfs_export=on, so file "
                    + "handles would not survive copy-up or a restart (add index=on,nfs_export=on)");
        NfsStats stats = new NfsStats();
        ExportedOverlay x;
        try {
            x = new ExportedOverlay(overlay, handles, exports, stats);
        } catch (ErrnoException e) {
            throw new IOException("cannot resolve the exports: " + e.getMessage(), e);
        }
        OncRpcEmbeddedPortmap pm = config.portmap() ? new OncRpcEmbeddedPortmap() : null;
        AtomicInteger n = new AtomicInteger();
        ExecutorService workers = Executors.newFixedThreadPool(config.workers(), r -> {
            Thread t = new Thread(r, "overlayj-nfs-worker-" + n.getAndIncrement());
            t.setDaemon(true);
            return t;
        });
        // Same-thread I/O: the I/O thread that decodes a call also dispatches it; Nfs3Program hands the calls that
        // may block to the workers itself. (oncrpc4j's worker strategy would hand every call off, NULL included.)
        OncRpcSvcBuilder b = new OncRpcSvcBuilder()
                .withTCP()
                .withBindAddress(config.listen().getAddress().getHostAddress())
                .withPort(config.listen().getPort())
                .withSameThreadIoStrategy()
                .withServiceName("overlayj-nfs")
                .withRpcService(new OncRpcProgram(Nfs3.NFS_PROGRAM, Nfs3.NFS_V3), new Nfs3Program(x, workers))
                .withRpcService(new OncRpcProgram(Mount3.MOUNT_PROGRAM, Mount3.MOUNT_V3), new Mount3Program(x));
        b = config.portmap() ? b.withAutoPublish() : b.withoutAutoPublish();
        OncRpcSvc svc = b.build();
        try {
            svc.start();
        } catch (IOException e) {
            if (pm != null) pm.shutdown();
            workers.shutdownNow();
            throw e;
        }
        ScheduledExecutorService ticker = null;
        if (config.statsInterval() > 0) {
            ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "overlayj-nfs-stats");
                t.setDaemon(true);
                return t;
            });
            ticker.scheduleAtFixedRate(() -> log.info("nfs counters: {}", stats), config.statsInterval(),
                    config.statsInterval(), TimeUnit.SECONDS);
        }
        return new NfsServer(overlay, x, stats, svc, pm, ticker, workers);
    }

    public NfsStats stats() { return stats; }

    /** The bound TCP address (with the real port when 0 was asked). */
    public InetSocketAddress address() { return svc.getInetSocketAddress(IpProtocolType.TCP); }

    public void logStats() { log.info("nfs counters: {}", stats); }

    /**
     * Stops taking calls, lets the calls in flight reply (grizzly's own graceful stop does not wait for worker
     * threads), stops the transport, then syncs the upper layer. Idempotent.
     */
    @Override
    public synchronized void close() throws IOException {
        if (stopped) return;
        stopped = true;
        if (ticker != null) ticker.shutdownNow();
        try {
            try {
                if (!exported.inFlight.drain(DRAIN_SECONDS, TimeUnit.SECONDS))
                    log.warn("stopping with {} calls still running after {} s", exported.inFlight.active(),
                            DRAIN_SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            svc.stop(10, TimeUnit.SECONDS);
        } finally {
            workers.shutdown();                // idle once drained; a call still running past the drain finishes
            if (portmap != null) portmap.shutdown();
            try {
                if (!overlay.readOnly()) overlay.sync();
            } catch (ErrnoException e) {
                log.warn("sync of the upper layer at shutdown failed: {}", e.getMessage());
            }
            logStats();
        }
    }
}
