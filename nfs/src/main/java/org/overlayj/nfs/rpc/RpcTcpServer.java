package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * ONC RPC over TCP (RFC 5531 §11, record marking) for the programs of one server: a listening socket and one
 * thread per connection that reads whole records with blocking reads and dispatches each call on itself.
 *
 * <p>Why not oncrpc4j's own transport (grizzly): with non-blocking sockets and a selector, a 1 MiB WRITE arrives
 * as ~17 readiness events (one per 64 KiB loopback segment), each a wake-up of a selector thread and a pass
 * through grizzly's filter chain before the record is whole; nfs-ganesha needs ~2 receives per call (strace). A
 * thread blocked in read(2) on its own socket wakes only in the kernel, copies, and reads on. Accepting and
 * closing a connection was also ~1 ms of server CPU with grizzly (a few exceptions per close, a selector hand-off
 * per accept), which a client starting one process per file (nfs-cp) pays twice per file. oncrpc4j still does
 * the rest: call header and credential decoding, replies, XDR.
 *
 * <p>The programs decide where a call runs: on the connection's thread (cheap calls) or elsewhere; replies may
 * come from any thread. A record longer than {@code maxRecord} closes its connection (a length lie would
 * otherwise cost that much memory).
 */
public final class RpcTcpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RpcTcpServer.class);

    private final ServerSocketChannel listener;
    private final Map<OncRpcProgram, RpcDispatchable> programs;
    private final int maxRecord;
    private final int maxConnections;
    private final Set<RpcConnection> connections = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    /**
     * The connections' threads, kept for a while once their connection ends: a client that connects once per
     * file (nfs-cp) would otherwise pay a thread start and exit per connection (~100 us of CPU each here).
     */
    private final ThreadPoolExecutor connectionThreads;
    private volatile boolean closed;

    private RpcTcpServer(ServerSocketChannel listener, Map<OncRpcProgram, RpcDispatchable> programs, int maxRecord,
                         int maxConnections, String name) {
        this.listener = listener;
        this.programs = Map.copyOf(programs);
        this.maxRecord = maxRecord;
        this.maxConnections = maxConnections;
        this.acceptor = Thread.ofPlatform().daemon().name(name + "-accept").unstarted(this::acceptLoop);
        this.connectionThreads = new ThreadPoolExecutor(0, maxConnections, 60, TimeUnit.SECONDS,
                new SynchronousQueue<>(), Thread.ofPlatform().daemon().name(name + "-conn-", 0).factory());
    }

    /**
     * Binds {@code listen} (port 0: any free port) and starts accepting.
     *
     * @param maxRecord      the longest record (call) accepted, in bytes
     * @param maxConnections connections served at once; one more is closed as soon as it is accepted
     * @param name           prefix of the threads' names
     */
    public static RpcTcpServer start(InetSocketAddress listen, Map<OncRpcProgram, RpcDispatchable> programs,
                                     int maxRecord, int maxConnections, String name) throws IOException {
        ServerSocketChannel ch = ServerSocketChannel.open();
        try {
            ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            ch.bind(listen, 128);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        RpcTcpServer s = new RpcTcpServer(ch, programs, maxRecord, maxConnections, name);
        s.acceptor.start();
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

    void forget(RpcConnection c) { connections.remove(c); }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (ClosedChannelException e) {
                return;                                   // close()
            } catch (IOException e) {
                if (closed) return;
                // EMFILE and the like: keep the listener, try again shortly rather than spin
                log.warn("accept failed: {}", e.toString());
                sleepQuietly();
                continue;
            }
            try {
                if (connections.size() >= maxConnections) {
                    log.warn("{} connections already; closing the one from {}", maxConnections, ch.getRemoteAddress());
                    ch.close();
                    continue;
                }
                // Replies are whole records written at once: no reason to let Nagle hold a small one back.
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                RpcConnection c = new RpcConnection(this, ch);
                connections.add(c);
                if (closed) {                             // raced with close(): it may have missed this one
                    c.close();
                    continue;
                }
                try {
                    connectionThreads.execute(c::serve);
                } catch (RejectedExecutionException e) {  // every thread busy: its connection ends this moment
                    log.warn("no thread for the connection from {}", c.getRemoteSocketAddress());
                    c.close();
                }
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
        for (RpcConnection c : connections) c.close();
        connectionThreads.shutdown();
        try {
            acceptor.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
