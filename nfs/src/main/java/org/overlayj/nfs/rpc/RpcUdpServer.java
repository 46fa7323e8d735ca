package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.ReplyQueue;
import org.dcache.oncrpc4j.rpc.RpcAuthError;
import org.dcache.oncrpc4j.rpc.RpcAuthStat;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.rpc.RpcException;
import org.dcache.oncrpc4j.rpc.RpcMessageType;
import org.dcache.oncrpc4j.rpc.RpcRejectStatus;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.glassfish.grizzly.Buffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.CompletionHandler;
import java.nio.channels.DatagramChannel;
import java.util.Arrays;
import java.util.Map;

/**
 * RPC over UDP for the small programs that clients reach that way: the status monitor (a rebooted client's
 * sm-notify sends SM_NOTIFY over UDP) and the lock manager. One thread reads datagrams and dispatches each call on
 * it; the programs served here answer at once. Headers get the same length checks as on TCP ({@link CallHeaders}).
 */
public final class RpcUdpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RpcUdpServer.class);
    private static final int MAX_DATAGRAM = 65535;

    private final DatagramChannel channel;
    private final Map<OncRpcProgram, RpcDispatchable> programs;
    private final InetSocketAddress local;
    private final Thread reader;
    private volatile boolean closed;

    private RpcUdpServer(DatagramChannel channel, Map<OncRpcProgram, RpcDispatchable> programs, String name)
            throws IOException {
        this.channel = channel;
        this.programs = Map.copyOf(programs);
        this.local = (InetSocketAddress) channel.getLocalAddress();
        this.reader = Thread.ofPlatform().daemon().name(name + "-udp").unstarted(this::readLoop);
    }

    /** Binds {@code listen} (UDP) and starts serving. */
    public static RpcUdpServer start(InetSocketAddress listen, Map<OncRpcProgram, RpcDispatchable> programs, String name)
            throws IOException {
        DatagramChannel ch = DatagramChannel.open(listen.getAddress() instanceof java.net.Inet6Address
                ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET);
        try {
            ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            ch.bind(listen);
            RpcUdpServer s = new RpcUdpServer(ch, programs, name);
            s.reader.start();
            return s;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    public InetSocketAddress address() { return local; }

    private void readLoop() {
        ByteBuffer buf = ByteBuffer.allocate(MAX_DATAGRAM);
        while (!closed) {
            InetSocketAddress from;
            try {
                buf.clear();
                from = (InetSocketAddress) channel.receive(buf);
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (closed) return;
                log.debug("UDP receive failed: {}", e.toString());
                continue;
            }
            if (from == null) continue;
            buf.flip();
            byte[] record = Arrays.copyOf(buf.array(), buf.limit());
            try {
                handle(record, from);
            } catch (RuntimeException e) {
                log.error("UDP call from {} failed", from, e);
            }
        }
    }

    private void handle(byte[] record, InetSocketAddress from) {
        CallHeaders.Verdict verdict = CallHeaders.check(record);
        if (verdict == CallHeaders.Verdict.DROP) return;
        Peer peer = new Peer(from);
        RpcCall call;
        try {
            Xdr xdr = new Xdr(record);
            xdr.beginDecoding();
            int xid = xdr.xdrDecodeInt();
            if (xdr.xdrDecodeInt() != RpcMessageType.CALL) return;
            call = new RpcCall(xid, xdr, peer);
            if (verdict == CallHeaders.Verdict.BAD_FLAVOR) {
                call.reject(RpcRejectStatus.AUTH_ERROR, new RpcAuthError(RpcAuthStat.AUTH_BADCRED));
                return;
            }
            try {
                call.accept();
            } catch (RpcException e) {
                call.reject(e.getStatus(), e.getRpcReply());
                return;
            }
        } catch (IOException | RuntimeException e) {
            log.debug("undecodable UDP call from {}: {}", from, e.toString());
            return;
        }
        RpcDispatchable program = programs.get(new OncRpcProgram(call.getProgram(), call.getProgramVersion()));
        if (program == null) {
            int low = Integer.MAX_VALUE, high = Integer.MIN_VALUE;
            for (OncRpcProgram p : programs.keySet()) {
                if (p.getNumber() != call.getProgram()) continue;
                low = Math.min(low, p.getVersion());
                high = Math.max(high, p.getVersion());
            }
            if (low <= high) call.failProgramMismatch(low, high);
            else call.failProgramUnavailable();
            return;
        }
        try {
            program.dispatchOncRpcCall(call);
        } catch (RpcException e) {
            call.reject(e.getStatus(), e.getRpcReply());
        } catch (IOException e) {
            call.failRpcGarbage();
        } catch (RuntimeException e) {
            log.error("RPC program {} failed on a UDP call from {}", call.getProgram(), from, e);
            call.failRpcSystem();
        }
    }

    /** The sender of one datagram: replies go back to it as one datagram. */
    private final class Peer implements RpcTransport {
        private final InetSocketAddress remote;

        Peer(InetSocketAddress remote) {
            this.remote = remote;
        }

        @Override
        public <A> void send(Xdr xdr, A attachment, CompletionHandler<Integer, ? super A> handler) {
            Buffer reply = xdr.asBuffer();
            ByteBuffer b = ByteBuffer.allocate(reply.remaining());
            reply.get(b);
            b.flip();
            try {
                int n = channel.send(b, remote);
                handler.completed(n, attachment);
            } catch (IOException e) {
                handler.failed(e, attachment);
            }
        }

        @Override public ReplyQueue getReplyQueue() { return null; }

        @Override public boolean isOpen() { return !closed; }

        @Override public InetSocketAddress getLocalSocketAddress() { return local; }

        @Override public InetSocketAddress getRemoteSocketAddress() { return remote; }

        @Override public RpcTransport getPeerTransport() { return this; }

        @Override public void startTLS() { throw new IllegalStateException("no TLS over UDP"); }

        @Override public boolean isTLS() { return false; }
    }

    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
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
