package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.ReplyQueue;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.glassfish.grizzly.Buffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.CompletionHandler;
import java.nio.channels.DatagramChannel;
import java.util.Arrays;
import java.util.Map;

/**
 * ONC RPC over UDP (RFC 5531: one call per datagram, no record marking) for small programs: the portmapper, and
 * whatever a client reaches only by UDP (NSM's SM_NOTIFY comes from sm-notify by UDP). One virtual thread reads
 * the datagrams and dispatches each call on itself; a reply goes back to the datagram's sender. Calls are answered
 * as over TCP (Calls), with the same header checks.
 */
public final class RpcUdpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RpcUdpServer.class);
    /** The largest UDP payload. */
    private static final int MAX_DATAGRAM = 65_507;

    private final DatagramChannel ch;
    private final Map<OncRpcProgram, RpcDispatchable> programs;
    private final InetSocketAddress local;
    private final Thread reader;
    private volatile boolean closed;

    private RpcUdpServer(DatagramChannel ch, Map<OncRpcProgram, RpcDispatchable> programs, String name) throws IOException {
        this.ch = ch;
        this.programs = Map.copyOf(programs);
        this.local = (InetSocketAddress) ch.getLocalAddress();
        this.reader = Thread.ofVirtual().name(name + "-udp").unstarted(this::readLoop);
    }

    /** Binds {@code listen} (port 0: any free port) and starts serving {@code programs}. */
    public static RpcUdpServer start(InetSocketAddress listen, Map<OncRpcProgram, RpcDispatchable> programs, String name)
            throws IOException {
        DatagramChannel ch = DatagramChannel.open(listen.getAddress() instanceof java.net.Inet6Address
                ? java.net.StandardProtocolFamily.INET6 : java.net.StandardProtocolFamily.INET);
        try {
            // No SO_REUSEADDR: for UDP it would let two servers share the port, each getting some of the calls.
            ch.bind(listen);
            RpcUdpServer s = new RpcUdpServer(ch, programs, name);
            s.reader.start();
            return s;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** The bound address (with the real port when 0 was asked). */
    public InetSocketAddress address() { return local; }

    private void readLoop() {
        ByteBuffer buf = ByteBuffer.allocate(MAX_DATAGRAM);
        while (!closed) {
            InetSocketAddress from;
            try {
                buf.clear();
                from = (InetSocketAddress) ch.receive(buf);
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (closed) return;
                log.debug("UDP receive: {}", e.toString());
                continue;
            }
            if (from == null) continue;
            byte[] message = Arrays.copyOf(buf.array(), buf.position());
            Datagram d = new Datagram(from);
            try {
                Calls.handle(message, d, programs, d::sendRaw);
            } catch (RuntimeException e) {
                log.error("UDP call from {} failed", from, e);
            }
        }
    }

    /** The transport of one call: its reply is one datagram back to the caller. */
    private final class Datagram implements RpcTransport {
        private final InetSocketAddress remote;

        Datagram(InetSocketAddress remote) { this.remote = remote; }

        void sendRaw(byte[] body) {
            try {
                ch.send(ByteBuffer.wrap(body), remote);
            } catch (IOException e) {
                log.debug("UDP reply to {} not sent: {}", remote, e.toString());
            }
        }

        @Override
        public <A> void send(Xdr xdr, A attachment, CompletionHandler<Integer, ? super A> handler) {
            Buffer reply = xdr.asBuffer();
            ByteBuffer out = ByteBuffer.allocate(reply.remaining());
            reply.get(out);
            out.flip();
            int n = out.remaining();
            try {
                ch.send(out, remote);
            } catch (IOException e) {
                log.debug("UDP reply to {} not sent: {}", remote, e.toString());
                handler.failed(e, attachment);
                return;
            }
            handler.completed(n, attachment);
        }

        @Override public ReplyQueue getReplyQueue() { return null; }

        @Override public boolean isOpen() { return ch.isOpen(); }

        @Override public InetSocketAddress getLocalSocketAddress() { return local; }

        @Override public InetSocketAddress getRemoteSocketAddress() { return remote; }

        @Override public RpcTransport getPeerTransport() { return this; }

        @Override public void startTLS() { throw new IllegalStateException("RPC-over-TLS is not offered"); }

        @Override public boolean isTLS() { return false; }
    }

    @Override
    public void close() {
        closed = true;
        try {
            ch.close();
        } catch (IOException e) {
            log.debug("closing the UDP socket: {}", e.toString());
        }
        try {
            reader.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
