package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.ReplyQueue;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.glassfish.grizzly.Buffer;
import org.glassfish.grizzly.memory.ByteBufferArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.CompletionHandler;
import java.nio.channels.SocketChannel;
import java.util.Arrays;

/**
 * One client connection: its (virtual) thread reads records and dispatches the calls in them; replies, from
 * whatever thread a program answers on, are written whole under a lock so two never interleave on the wire.
 */
final class RpcConnection implements RpcTransport {
    private static final Logger log = LoggerFactory.getLogger(RpcConnection.class);
    private static final int LAST_FRAGMENT = 0x80000000;

    private final RpcTcpServer server;
    private final SocketChannel ch;
    private final InetSocketAddress local;
    private final InetSocketAddress remote;
    private final ByteBuffer mark = ByteBuffer.allocate(4);
    private final Object writeLock = new Object();
    private final ByteBuffer replyMark = ByteBuffer.allocate(4);
    /** System.nanoTime() of the last record received or reply sent: what idle time and eviction go by. */
    private volatile long lastUsed = System.nanoTime();

    RpcConnection(RpcTcpServer server, SocketChannel ch) throws IOException {
        this.server = server;
        this.ch = ch;
        this.local = (InetSocketAddress) ch.getLocalAddress();
        this.remote = (InetSocketAddress) ch.getRemoteAddress();
    }

    /** The connection's thread: records until EOF, an I/O error, or a record too long; then closes. */
    void serve() {
        try {
            for (byte[] record; (record = readRecord()) != null; ) handle(record);
        } catch (ClosedChannelException e) {
            // closed by the server's stop, or after a reply could not be sent
        } catch (IOException e) {
            log.debug("connection from {} ends: {}", remote, e.toString());
        } finally {
            close();
        }
    }

    /** The next record, its fragments joined; null at a clean EOF between records. */
    private byte[] readRecord() throws IOException {
        byte[] record = null;
        int length = 0;
        while (true) {
            mark.clear();
            if (!readFully(mark)) {
                if (record == null && mark.position() == 0) return null;
                throw new EOFException("connection closed inside a record");
            }
            int m = mark.getInt(0);
            int n = m & ~LAST_FRAGMENT;
            if ((long) length + n > server.maxRecord())
                throw new IOException("record of more than " + server.maxRecord() + " bytes");
            record = record == null ? new byte[n] : Arrays.copyOf(record, length + n);
            if (!readFully(ByteBuffer.wrap(record, length, n))) throw new EOFException("connection closed inside a record");
            length += n;
            if ((m & LAST_FRAGMENT) != 0) {
                lastUsed = System.nanoTime();
                return record;
            }
        }
    }

    /** Blocking reads until {@code b} is full; false at EOF. */
    private boolean readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) return false;
        }
        return true;
    }

    private void handle(byte[] record) {
        Calls.handle(record, this, server.programs(), this::sendRecord);
    }

    /**
     * One reply record; blocks until the kernel has taken all of it, so whatever buffers the reply points into
     * (a READ's data, see ReadReply) are free again when this returns: a program may reuse them for its next
     * call. A reply built with shallow encodes is a composite buffer; its parts go out as they are, with the
     * record mark, in gathering writes.
     */
    @Override
    public <A> void send(Xdr xdr, A attachment, CompletionHandler<Integer, ? super A> handler) {
        Buffer reply = xdr.asBuffer();
        int n = reply.remaining();
        ByteBuffer[] parts;
        if (reply.isComposite()) {
            ByteBufferArray array = reply.toByteBufferArray();
            parts = new ByteBuffer[array.size() + 1];
            System.arraycopy(array.getArray(), 0, parts, 1, array.size());
        } else {
            parts = new ByteBuffer[]{null, reply.toByteBuffer()};
        }
        try {
            synchronized (writeLock) {
                replyMark.clear();
                replyMark.putInt(0, LAST_FRAGMENT | n);
                parts[0] = replyMark;
                // Counted, not "until the last part is empty": a composite may end with an empty part.
                for (long left = 4L + n; left > 0; ) left -= ch.write(parts);
            }
            lastUsed = System.nanoTime();
        } catch (IOException e) {
            log.debug("reply to {} not sent: {}", remote, e.toString());
            close();
            handler.failed(e, attachment);
            return;
        }
        handler.completed(n, attachment);
    }

    /** A reply built here, not by oncrpc4j (a rejection of a header it could not decode). */
    private void sendRecord(byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(4 + body.length).putInt(LAST_FRAGMENT | body.length).put(body).flip();
        try {
            synchronized (writeLock) {
                while (b.hasRemaining()) ch.write(b);
            }
        } catch (IOException e) {
            log.debug("reply to {} not sent: {}", remote, e.toString());
            close();
        }
    }

    long lastUsed() { return lastUsed; }

    void close() {
        server.forget(this);
        try {
            ch.close();
        } catch (IOException e) {
            log.debug("closing the connection from {}: {}", remote, e.toString());
        }
    }

    /** Only a client keeps replies to its own calls; a server connection makes none. */
    @Override public ReplyQueue getReplyQueue() { return null; }

    @Override public boolean isOpen() { return ch.isOpen(); }

    @Override public InetSocketAddress getLocalSocketAddress() { return local; }

    @Override public InetSocketAddress getRemoteSocketAddress() { return remote; }

    @Override public RpcTransport getPeerTransport() { return this; }

    @Override public void startTLS() { throw new IllegalStateException("RPC-over-TLS is not offered"); }

    @Override public boolean isTLS() { return false; }
}
