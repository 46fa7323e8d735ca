package org.overlayj.nfs;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.overlayj.core.Overlay;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.nlm.NlmService;
import org.overlayj.nfs.rpc.Portmap;
import org.overlayj.nfs.rpc.Rpcbind;
import org.overlayj.nfs.rpc.RpcTcpServer;
import org.overlayj.nfs.rpc.RpcUdpServer;
import org.overlayj.nfs.xdr.Mount3;
import org.overlayj.nfs.xdr.Nfs3;
import org.overlayj.sys.ErrnoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The NFSv3 door: NFS, MOUNT and file locking (NLM v4 and NSM, org.overlayj.nfs.nlm; also on UDP) on one port
 * (RpcTcpServer: a platform thread per busy connection, a virtual one per idle one), an optional portmapper
 * (rpc/Portmap), periodic counters. A connection's thread answers the cheap calls itself, and on a platform thread
 * also the calls that may wait on the disk when no other call of that connection waits behind them (a large READ
 * only when its pages are all cached, and never a COMMIT); otherwise those go to a fixed pool of worker threads
 * (Nfs3Program#mayBlock), so a slow one holds up neither other connections nor the other calls a client has in
 * flight on the same connection.
 */
public final class NfsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NfsServer.class);

    /**
     * @param listen        address and port to bind (port 0 picks a free one)
     * @param portmap       also run a portmapper (portmap 2, rpcbind 3 and 4) on port 111 of the listen address, or
     *                      register with the one there
     * @param workers       worker threads for the calls that may block; calls beyond them queue
     * @param statsInterval seconds between counter log lines; 0 for none
     * @param connections   connection limits and idle time (RpcTcpServer)
     */
    public record Config(InetSocketAddress listen, boolean portmap, int workers, int statsInterval,
                         RpcTcpServer.Limits connections) {
        public Config {
            if (workers < 1) throw new IllegalArgumentException("workers must be at least 1");
        }

        /** The default connection limits: knfsd's idle time. */
        public Config(InetSocketAddress listen, boolean portmap, int workers, int statsInterval) {
            this(listen, portmap, workers, statsInterval, RpcTcpServer.Limits.defaults());
        }

        public static Config of(InetSocketAddress listen) { return new Config(listen, false, 8, 0); }
    }

    private final Overlay overlay;
    private final ExportedOverlay exported;
    private final NfsStats stats;
    private final RpcTcpServer rpc;
    private final Portmap portmap;
    private final ScheduledExecutorService ticker;
    private final ExecutorService workers;
    /** File locking (NLM, NSM) and its UDP socket (null when UDP could not be bound). */
    private final NlmService nlm;
    private final RpcUdpServer udp;
    private volatile boolean stopped;
    /** How long a stop waits for calls in flight (a COMMIT of a large file can take a while). */
    private static final long DRAIN_SECONDS = 30;
    /** The longest call we read: a WRITE of MAX_IO bytes with its header, credential and handle, and room to spare. */
    static final int MAX_RECORD = Nfs3Program.MAX_IO + 64 * 1024;

    private NfsServer(Overlay overlay, ExportedOverlay exported, NfsStats stats, RpcTcpServer rpc,
                      Portmap portmap, ScheduledExecutorService ticker, ExecutorService workers, NlmService nlm,
                      RpcUdpServer udp) {
        this.overlay = overlay;
        this.exported = exported;
        this.stats = stats;
        this.rpc = rpc;
        this.portmap = portmap;
        this.ticker = ticker;
        this.workers = workers;
        this.nlm = nlm;
        this.udp = udp;
    }

    /**
     * Starts serving {@code overlay} under {@code exports}. The overlay must have nfs_export: without it the
     * engine's handles do not survive copy-up or restart, and clients would see ESTALE for live files.
     */
    public static NfsServer start(Overlay overlay, Exports exports, Config config) throws IOException {
        return start(overlay, NodeHandles.of(overlay), exports, config, NlmService.Config.inMemory());
    }

    /** As {@link #start(Overlay, Exports, Config)}, with file locking kept as {@code locking} says. */
    public static NfsServer start(Overlay overlay, Exports exports, Config config, NlmService.Config locking)
            throws IOException {
        return start(overlay, NodeHandles.of(overlay), exports, config, locking);
    }

    static NfsServer start(Overlay overlay, NodeHandles handles, Exports exports, Config config) throws IOException {
        return start(overlay, handles, exports, config, NlmService.Config.inMemory());
    }

    static NfsServer start(Overlay overlay, NodeHandles handles, Exports exports, Config config,
                           NlmService.Config locking) throws IOException {
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
        AtomicInteger n = new AtomicInteger();
        // A ForkJoinPool rather than a fixed pool over a queue: its idle workers wait on a stack, so the next call
        // goes to the worker that finished last, whose caches still hold its READ buffer and the socket code; a
        // fixed pool hands calls round-robin to all its threads, and 1 MiB READs through 8 workers' buffers
        // took ~25% more CPU (nfs-cp of 512 MiB from tmpfs: 0.40-0.48 s against 0.46-0.61 s, 0.7 s against
        // 0.85-0.9 s wall). asyncMode: calls start in the order they came.
        ExecutorService workers = new ForkJoinPool(config.workers(), pool -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            t.setName("overlayj-nfs-worker-" + n.getAndIncrement());
            t.setDaemon(true);
            return t;
        }, null, true);
        // A connection's own thread decodes its calls and dispatches them; Nfs3Program hands the calls that may
        // block to the workers itself. A program put in this map is served on the port and registered with the
        // portmapper (--portmap) with it.
        NlmService nlm;
        try {
            nlm = NlmService.start(new LockedFiles(x), locking);
        } catch (IOException e) {
            workers.shutdownNow();
            x.openFiles.close();
            throw new IOException("cannot start file locking: " + e.getMessage(), e);
        }
        Map<OncRpcProgram, RpcDispatchable> programs = new LinkedHashMap<>();
        programs.put(new OncRpcProgram(Nfs3.NFS_PROGRAM, Nfs3.NFS_V3), new Nfs3Program(x, workers));
        programs.put(new OncRpcProgram(Mount3.MOUNT_PROGRAM, Mount3.MOUNT_V3), new Mount3Program(x));
        programs.putAll(nlm.programs());
        RpcTcpServer rpc;
        try {
            rpc = RpcTcpServer.start(config.listen(), programs, MAX_RECORD, config.connections(), "overlayj-nfs");
        } catch (IOException e) {
            workers.shutdownNow();
            x.openFiles.close();
            nlm.close();
            throw e;
        }
        // NLM and NSM also on UDP, same port: a rebooted client's sm-notify reaches our status monitor that way.
        RpcUdpServer udp = null;
        try {
            udp = RpcUdpServer.start(rpc.address(), nlm.programs(), "overlayj-nlm");
        } catch (IOException e) {
            log.warn("no UDP on {}: rebooted clients' SM_NOTIFY will not reach us ({})", rpc.address(), e.toString());
        }
        Portmap pm = null;
        if (config.portmap()) {
            List<Rpcbind.Entry> entries = new ArrayList<>(Portmap.entries(programs.keySet(), "tcp", rpc.address()));
            if (udp != null) entries.addAll(Portmap.entries(nlm.programs().keySet(), "udp", udp.address()));
            try {
                pm = Portmap.start(rpc.address().getAddress(), entries);
            } catch (IOException | RuntimeException e) {
                rpc.close();
                if (udp != null) udp.close();
                nlm.close();
                workers.shutdownNow();
                x.openFiles.close();
                throw new IOException("cannot start the portmapper on port 111 of "
                        + rpc.address().getAddress().getHostAddress() + ": " + e.getMessage(), e);
            }
        }
        nlm.listening(rpc.address());
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
        return new NfsServer(overlay, x, stats, rpc, pm, ticker, workers, nlm, udp);
    }

    public NfsStats stats() { return stats; }

    /** The bound TCP address (with the real port when 0 was asked). */
    public InetSocketAddress address() { return rpc.address(); }

    /** TCP connections open now. */
    public int connections() { return rpc.connections(); }

    /** File locking of this server. */
    public NlmService locking() { return nlm; }

    /** How many files were read ahead of their READs ({@link org.overlayj.core.Prefetch} streams started). */
    public long prefetchStreams() { return exported.prefetch.started(); }

    /** How many bytes the prefetch streams read. */
    public long prefetchedBytes() { return exported.prefetch.prefetched(); }

    public void logStats() { log.info("nfs counters: {}", stats); }

    /**
     * Stops taking calls, lets the calls in flight reply, closes the connections, then syncs the upper layer.
     * Idempotent.
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
            rpc.close();
            if (udp != null) udp.close();
        } finally {
            exported.prefetch.close();         // its streams' files closed when it returns (a layer left unused)
            exported.openFiles.close();        // before the sync, and so that nothing of the layers stays open
            nlm.close();
            workers.shutdown();                // idle once drained; a call still running past the drain finishes
            if (portmap != null) portmap.close();
            try {
                if (!overlay.readOnly()) overlay.sync();
            } catch (ErrnoException e) {
                log.warn("sync of the upper layer at shutdown failed: {}", e.getMessage());
            }
            logStats();
        }
    }
}
