package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * ONC RPC over TCP (RFC 5531 §11, record marking) for the programs of one server: a listening socket and, per
 * connection, a thread that reads whole records with blocking reads and dispatches each call on itself.
 *
 * <p>Why not oncrpc4j's own transport (grizzly): with non-blocking sockets and a selector, a 1 MiB WRITE arrives
 * as ~17 readiness events (one per 64 KiB loopback segment), each a wake-up of a selector thread and a pass
 * through grizzly's filter chain before the record is whole. Accepting and closing a connection was also ~1 ms of
 * server CPU with grizzly (a few exceptions per close, a selector hand-off per accept), which a client starting
 * one process per file (nfs-cp) pays twice per file. oncrpc4j still does the rest: call header and credential
 * decoding, replies, XDR.
 *
 * <p>Why virtual threads: a platform thread per connection made every idle connection cost a thread, and 1024 idle
 * connections locked every other client out. A virtual thread blocked in a socket read is parked on the JDK's
 * poller and costs a few KiB; the code stays the simple blocking loop. But a call that wakes a parked virtual
 * thread wakes the poller, then a carrier thread, then (for a call that may block) a worker: on a 2-core VM those
 * wake-ups were most of a small call's server time, about 11 futex calls and 6 epoll calls per 1 MiB WRITE of a
 * client that sends one call at a time (nfs-cp). So a connection whose calls come is served by a platform thread
 * of a small pool ({@link #MAX_ACTIVE}), which sleeps in the socket's read and serves each call itself, and goes
 * back to a virtual thread when no call came for {@link #LINGER_MILLIS}; past the pool's size, connections are
 * served by their virtual threads as before.
 *
 * <p>Connections are bounded the way knfsd bounds them, plus a bound per client address: an idle connection (no
 * call received and no reply sent for {@link Limits#idleTimeout}) is closed, as knfsd closes its temporary
 * transports after 6 minutes; and a connection over a limit does not lock the newcomer out: the least recently
 * used connection of the same client address (past {@link Limits#maxPerClient}) or of all (past
 * {@link Limits#maxConnections}) is closed to make room, as knfsd closes its oldest connection. NFS clients
 * reconnect and resend what was in flight (RFC 1813 §4.1).
 *
 * <p>The programs decide where a call runs: on the connection's thread (cheap calls) or elsewhere; replies may
 * come from any thread. A record longer than {@code maxRecord} closes its connection (a length lie would
 * otherwise cost that much memory).
 */
public final class RpcTcpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RpcTcpServer.class);

    /**
     * @param maxConnections connections served at once
     * @param maxPerClient   connections from one client address at once
     * @param idleTimeout    a connection with no call and no reply for this long is closed; zero: never
     */
    public record Limits(int maxConnections, int maxPerClient, Duration idleTimeout) {
        /** knfsd's idle time for a connection: svc_conn_age_period, 6 minutes. */
        public static final Duration KNFSD_IDLE = Duration.ofMinutes(6);

        public Limits {
            if (maxConnections < 1 || maxPerClient < 1) throw new IllegalArgumentException("connection limits must be at least 1");
            if (idleTimeout.isNegative()) throw new IllegalArgumentException("negative idle timeout");
        }

        public static Limits defaults() { return new Limits(4096, 256, KNFSD_IDLE); }
    }

    private final ServerSocketChannel listener;
    private final Map<OncRpcProgram, RpcDispatchable> programs;
    private final int maxRecord;
    private final Limits limits;
    private final Set<RpcConnection> connections = ConcurrentHashMap.newKeySet();
    private final Map<InetAddress, Integer> perClient = new ConcurrentHashMap<>();
    private final Thread acceptor;
    private final Thread reaper;
    private final Thread.Builder connectionThreads;
    /** Platform threads for the connections that are busy (LINGER_MILLIS), at most MAX_ACTIVE. */
    private final ThreadPoolExecutor activeThreads;
    private volatile boolean closed;
    private long lastEvictionWarning = System.nanoTime() - TimeUnit.MINUTES.toNanos(2);

    private RpcTcpServer(ServerSocketChannel listener, Map<OncRpcProgram, RpcDispatchable> programs, int maxRecord,
                         Limits limits, String name) {
        this.listener = listener;
        this.programs = Map.copyOf(programs);
        this.maxRecord = maxRecord;
        this.limits = limits;
        this.acceptor = Thread.ofPlatform().daemon().name(name + "-accept").unstarted(this::acceptLoop);
        this.reaper = Thread.ofVirtual().name(name + "-idle").unstarted(this::closeIdle);
        this.connectionThreads = Thread.ofVirtual().name(name + "-conn-", 0);
        ThreadFactory platform = Thread.ofPlatform().daemon().name(name + "-active-", 0).factory();
        // No queue: a connection gets a thread at once or stays on its virtual thread.
        this.activeThreads = new ThreadPoolExecutor(0, MAX_ACTIVE, 30, TimeUnit.SECONDS, new SynchronousQueue<>(), platform);
    }

    /**
     * Binds {@code listen} (port 0: any free port) and starts accepting.
     *
     * @param programs  what it serves: a call for a program and version not among them is refused (PROG_UNAVAIL or
     *                  PROG_MISMATCH); adding a program is one more entry here
     * @param maxRecord the longest record (call) accepted, in bytes
     * @param name      prefix of the threads' names
     */
    public static RpcTcpServer start(InetSocketAddress listen, Map<OncRpcProgram, RpcDispatchable> programs,
                                     int maxRecord, Limits limits, String name) throws IOException {
        ServerSocketChannel ch = ServerSocketChannel.open();
        try {
            ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            ch.bind(listen, 1024);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        RpcTcpServer s = new RpcTcpServer(ch, programs, maxRecord, limits, name);
        s.acceptor.start();
        if (!limits.idleTimeout().isZero()) s.reaper.start();
        return s;
    }

    /** The bound address (with the real port when 0 was asked). */
    public InetSocketAddress address() {
        try {
            return (InetSocketAddress) listener.getLocalAddress();
        } catch (IOException e) {
            throw new IllegalStateException("listening socket closed", e);
        }
    }

    Map<OncRpcProgram, RpcDispatchable> programs() { return programs; }

    int maxRecord() { return maxRecord; }

    /**
     * How long a connection's platform thread waits for the next call before the connection goes back to a
     * virtual thread. A client that sends calls one after the other sends the next within microseconds of a reply;
     * a second is long enough for its think time and short enough that a quiet client gives its thread back soon.
     */
    static final int LINGER_MILLIS = 1000;

    /**
     * Connections served by platform threads at once (see RpcConnection#serveActive); the ones past it are served
     * by virtual threads, as all were before, until a platform thread is free when their next call comes.
     */
    static final int MAX_ACTIVE = 64;

    /** Hands {@code c} to a platform thread of the pool; false when all are busy (or the server is closing). */
    boolean activate(RpcConnection c) {
        if (closed) return false;
        try {
            activeThreads.execute(c::serveActive);
            return true;
        } catch (RejectedExecutionException e) {
            return false;
        }
    }

    /** Hands {@code c}, idle for the linger time, to a virtual thread; false when the server is closing. */
    boolean idle(RpcConnection c) {
        if (closed) return false;
        startVirtual(c);
        return true;
    }

    private final AtomicInteger virtualStarts = new AtomicInteger();

    private void startVirtual(RpcConnection c) {
        virtualStarts.incrementAndGet();
        connectionThreads.start(c::serveIdle);
    }

    /** How many times a connection was given to a virtual thread (new, past the pool, or idle): for the tests. */
    int virtualStarts() { return virtualStarts.get(); }

    /**
     * True while the current thread serves a call of a connection's platform thread with no other call of that
     * connection waiting behind it: a call that may block may be served right here instead of by a worker
     * (one thread wake-up less). False on virtual threads, where a native call that blocks holds a carrier thread.
     */
    public static boolean servesBlockingCalls() { return RpcConnection.servesBlockingCalls(); }

    /**
     * Native buffers for large records (RpcConnection#DIRECT_RECORD), shared by all connections: a connection takes
     * one for a record and the reply gives it back. Per connection they would pile up where a client opens a
     * connection per file (nfs-cp): direct memory goes only when the garbage collector finds the connection.
     */
    private final ConcurrentLinkedQueue<ByteBuffer> spareBuffers = new ConcurrentLinkedQueue<>();
    private final AtomicInteger spares = new AtomicInteger();
    private static final int MAX_SPARE_BUFFERS = 16;

    /** A native buffer of at least {@code n} bytes (maxRecord, normally), from the spares or new. */
    ByteBuffer directBuffer(int n) {
        ByteBuffer b = spareBuffers.poll();
        if (b != null) {
            spares.decrementAndGet();
            if (b.capacity() >= n) return b;
        }
        return ByteBuffer.allocateDirect(Math.max(n, maxRecord));
    }

    /** Takes back a buffer of {@link #directBuffer} whose record is done with; past MAX_SPARE_BUFFERS it is let go. */
    void giveBack(ByteBuffer b) {
        if (spares.incrementAndGet() <= MAX_SPARE_BUFFERS) spareBuffers.offer(b);
        else spares.decrementAndGet();
    }

    /** Called once per connection, by its close. */
    void forget(RpcConnection c) {
        if (connections.remove(c)) perClient.computeIfPresent(c.getRemoteSocketAddress().getAddress(), (a, n) -> n > 1 ? n - 1 : null);
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (ClosedChannelException e) {
                return;                                   // close()
            } catch (IOException e) {
                if (closed) return;
                // EMFILE and the like: make room by closing the least recently used connection, then go on
                log.warn("accept failed: {}", e.toString());
                evictLeastRecentlyUsed(null);
                sleepQuietly();
                continue;
            }
            try {
                // Replies are whole records written at once: no reason to let Nagle hold a small one back.
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                RpcConnection c = new RpcConnection(this, ch);
                InetAddress from = c.getRemoteSocketAddress().getAddress();
                if (perClient.getOrDefault(from, 0) >= limits.maxPerClient()) evictLeastRecentlyUsed(from);
                if (connections.size() >= limits.maxConnections()) evictLeastRecentlyUsed(null);
                connections.add(c);
                perClient.merge(from, 1, Integer::sum);
                if (closed) {                             // raced with close(): it may have missed this one
                    c.close();
                    continue;
                }
                // Straight to a platform thread of the pool while one is free: a new connection's calls come at
                // once (NULL, then MNT or FSINFO...), and each hop through a virtual thread first (its carrier's
                // wake-up, the poller's, the carrier's again, then the pool thread's) cost more server CPU than a
                // whole small call. That thread reads natively (RpcConnection#readMarkNatively), so no JDK timed
                // read wants the descriptor non-blocking. Without native reads, or with the pool busy, the first
                // read is a virtual thread's: the JDK then leaves the socket non-blocking for good, where a
                // platform thread's timed read would switch it there and back around every read (four fcntl).
                if (!(c.readsNatively() && activate(c))) startVirtual(c);
            } catch (IOException | RuntimeException e) {
                log.warn("cannot serve a new connection: {}", e.toString());
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // gone anyway
                }
            }
        }
    }

    /** Closes the connection (of {@code from}, or of anyone when null) that was used least recently. */
    private void evictLeastRecentlyUsed(InetAddress from) {
        connections.stream()
                .filter(c -> from == null || from.equals(c.getRemoteSocketAddress().getAddress()))
                .min(Comparator.comparingLong(RpcConnection::lastUsed))
                .ifPresent(c -> {
                    // One line a minute at most: a client opening connections in a loop would flood the log.
                    long now = System.nanoTime();
                    boolean warn = now - lastEvictionWarning > TimeUnit.MINUTES.toNanos(1);
                    if (warn) lastEvictionWarning = now;
                    String limit = from == null ? limits.maxConnections() + " connections"
                            : limits.maxPerClient() + " connections from " + from.getHostAddress();
                    if (warn) log.warn("{}: closing the least recently used one, from {} (and so on, quietly, for a minute)",
                            limit, c.getRemoteSocketAddress());
                    else log.debug("{}: closing the least recently used one, from {}", limit, c.getRemoteSocketAddress());
                    c.close();
                });
    }

    /** The reaper's loop: closes the connections idle for longer than the limit, checking a few times per period. */
    private void closeIdle() {
        long idle = limits.idleTimeout().toNanos();
        long period = Math.max(TimeUnit.MILLISECONDS.toNanos(100), Math.min(idle / 4, TimeUnit.SECONDS.toNanos(30)));
        while (!closed) {
            try {
                TimeUnit.NANOSECONDS.sleep(period);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (RpcConnection c : connections) {
                if (now - c.lastUsed() > idle) {
                    log.debug("closing the connection from {}: idle for {}", c.getRemoteSocketAddress(), limits.idleTimeout());
                    c.close();
                }
            }
        }
    }

    private static void sleepQuietly() {
        try {
            TimeUnit.MILLISECONDS.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Connections open now. */
    public int connections() { return connections.size(); }

    /**
     * Stops accepting and closes every connection: a thread reading gets EOF and ends; a reply still being
     * written fails (the caller should have let calls in flight finish first). Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        try {
            listener.close();
        } catch (IOException e) {
            log.debug("closing the listening socket: {}", e.toString());
        }
        reaper.interrupt();
        activeThreads.shutdown();                         // its threads end as their connections close
        for (RpcConnection c : connections) c.close();
        try {
            acceptor.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
