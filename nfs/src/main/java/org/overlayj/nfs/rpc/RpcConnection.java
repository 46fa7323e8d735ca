package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.ReplyQueue;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.glassfish.grizzly.Buffer;
import org.glassfish.grizzly.memory.ByteBufferArray;
import org.overlayj.sys.CpuToSpare;
import org.overlayj.sys.SpinWait;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.CompletionHandler;
import java.nio.channels.SocketChannel;
import java.util.Arrays;

/**
 * One client connection: its thread (a platform thread while calls come, a virtual one while it is idle; see
 * {@link #serveActive}) reads records and dispatches the calls in them; replies, from whatever thread a program
 * answers on, are written whole under a lock so two never interleave on the wire. One thread at a time reads.
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
    /** The socket's stream: what a platform thread reads through (with the linger time as its read timeout). */
    private final InputStream in;
    /** Which thread serves the connection now: a platform thread of the server's pool, or a virtual thread. */
    private boolean active;
    /** A record mark the virtual thread read before it handed the connection to a platform thread. */
    private boolean markHeld;
    private int heldMark;
    /** System.nanoTime() of the last record received or reply sent: what idle time and eviction go by. */
    private volatile long lastUsed = System.nanoTime();

    RpcConnection(RpcTcpServer server, SocketChannel ch) throws IOException {
        this.server = server;
        this.ch = ch;
        this.local = (InetSocketAddress) ch.getLocalAddress();
        this.remote = (InetSocketAddress) ch.getRemoteAddress();
        this.in = ch.socket().getInputStream();
        this.nativeReads = NATIVE_READS && socketFd() >= 0;
    }

    /**
     * True when the connection's platform thread reads records by read(2) and poll(2) on the descriptor itself
     * (see {@link #readMarkNatively}): then the acceptor may hand a new connection straight to a platform thread
     * (RpcTcpServer#acceptLoop), since no JDK read of a platform thread is left to want the descriptor
     * non-blocking. False where the descriptor is out of reach (no --add-opens) or with
     * -Doverlayj.nfs.nativeReads=false.
     */
    boolean readsNatively() { return nativeReads; }

    /**
     * The connection's loop on a virtual thread: it waits for calls at the cost of a parked virtual thread. When a
     * record begins (its mark has come) it asks the server for a platform thread to go on with ({@link
     * RpcTcpServer#activate}); without one it serves the record itself and waits for the next.
     */
    void serveIdle() {
        active = false;
        try {
            while (true) {
                mark.clear();
                if (!readFully(mark)) {
                    if (mark.position() == 0) break;
                    throw new EOFException("connection closed inside a record");
                }
                heldMark = mark.getInt(0);
                markHeld = true;
                nonBlocking = true;                         // this virtual thread's read made it so
                if (server.activate(this)) return;          // a platform thread goes on from the mark
                ByteBuffer record = readRecord(false);
                if (record == null) break;
                handle(record);
            }
        } catch (ClosedChannelException e) {
            // closed by the server's stop, or after a reply could not be sent
        } catch (IOException e) {
            log.debug("connection from {} ends: {}", remote, e.toString());
        }
        close();
    }

    /**
     * The connection's loop on a platform thread of the server's pool (RpcTcpServer#activate): the thread sleeps in
     * the socket's read and the kernel wakes it when the next call comes, so a client that sends one call at a time
     * costs one wake-up per call. On a virtual thread the same call took two or three (the JDK's poller, then a
     * carrier thread for the virtual thread, then a worker for a call that may block). Calls are served here, also
     * those that may block when no other call is waiting behind them and their program agrees
     * ({@link #servesBlockingCalls}; NFS keeps COMMIT, a READ that would wait on the disk and any call with calls
     * behind it on its workers).
     * After {@link RpcTcpServer#LINGER_MILLIS} without a call the connection goes back to a virtual thread and this
     * thread to the pool: an idle connection holds no platform thread.
     */
    void serveActive() {
        active = true;
        boolean idle = false;
        if (nativeReads) {
            inBuf = IN_BUF.get();
            inPos = inEnd = 0;
        }
        try {
            if (!nativeReads) ch.socket().setSoTimeout(RpcTcpServer.LINGER_MILLIS);
            while (true) {
                ByteBuffer record = readRecord(true);
                if (record == null) break;
                if (record == WENT_IDLE) {
                    idle = true;
                    break;
                }
                SERVING.set(this);
                try {
                    handle(record);
                } finally {
                    SERVING.remove();
                }
            }
        } catch (ClosedChannelException | SocketException e) {
            // closed by the server's stop, or after a reply could not be sent
            log.debug("connection from {} ends: {}", remote, e.toString());
        } catch (IOException e) {
            log.debug("connection from {} ends: {}", remote, e.toString());
        }
        // The thread's buffer stays with the thread: it goes idle only with nothing in it (readMarkNatively).
        inBuf = null;
        inPos = inEnd = 0;
        if (!idle || !server.idle(this)) close();
    }

    /**
     * True on a connection's platform thread while it serves a call that no other call of its connection waits
     * behind: a program may then serve even a call that may block (a WRITE, a CREATE) on this thread rather than
     * hand it to a worker, which would cost a thread wake-up. False on virtual threads (a native call blocking
     * there holds one of the few carrier threads) and when the client has sent more calls (they would wait).
     */
    static boolean servesBlockingCalls() {
        RpcConnection c = SERVING.get();
        if (c == null) return false;
        try {
            // Nothing behind this call: the client waits for its reply, and nobody else for this thread. Asked
            // (FIONREAD) only for the calls that may block: the cheap ones are served here anyway.
            return c.inPos == c.inEnd && c.in.available() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** The connection whose call the current platform thread serves (see {@link #serveActive}). */
    private static final ThreadLocal<RpcConnection> SERVING = new ThreadLocal<>();

    /** readRecord's answer when the platform thread waited {@link RpcTcpServer#LINGER_MILLIS} for nothing. */
    private static final ByteBuffer WENT_IDLE = ByteBuffer.allocate(0);

    /**
     * A record longer than this that comes as one fragment (a WRITE's) is read into native memory rather than a
     * new heap array: the JDK reads a socket into native memory anyway and copied it over, the array was a zeroed
     * 1 MiB allocation per WRITE, and pwrite(2) then takes the data from where it is (WriteArgs#direct).
     * -Doverlayj.nfs.directRecord=N moves the bound (a huge N turns the path off), for measuring.
     */
    static final int DIRECT_RECORD = Integer.getInteger("overlayj.nfs.directRecord", 64 * 1024);



    /**
     * The next record, its fragments joined (starting from a mark already read, if one is held); null at a clean
     * EOF between records; {@link #WENT_IDLE} when {@code mayIdle} and no record began within the linger time.
     */
    private ByteBuffer readRecord(boolean mayIdle) throws IOException {
        byte[] record = null;
        int length = 0;
        while (true) {
            int m;
            if (markHeld) {
                markHeld = false;
                m = heldMark;
            } else {
                int got = readMark(record == null && mayIdle);
                if (got == EOF) {
                    if (record == null) return null;
                    throw new EOFException("connection closed inside a record");
                }
                if (got == IDLE) return WENT_IDLE;
                m = markBytes[0] << 24 | (markBytes[1] & 0xff) << 16 | (markBytes[2] & 0xff) << 8 | (markBytes[3] & 0xff);
            }
            int n = m & ~LAST_FRAGMENT;
            if ((long) length + n > server.maxRecord())
                throw new IOException("record of more than " + server.maxRecord() + " bytes");
            if (record == null && (m & LAST_FRAGMENT) != 0 && n > DIRECT_RECORD) {
                ByteBuffer b = server.directBuffer(n);
                b.clear().limit(n);
                // No read timeout needed inside a record: the reaper closes a connection that stalls in one.
                if (active && nativeReads) {
                    MemorySegment dst = MemorySegment.ofBuffer(b);
                    int buffered = Math.min(n, inEnd - inPos);
                    MemorySegment.copy(inBuf, inPos, dst, 0, buffered);
                    inPos += buffered;
                    if (!readNatively(dst.asSlice(buffered))) throw new EOFException("connection closed inside a record");
                    b.position(n);
                } else if (!readFully(b)) {
                    throw new EOFException("connection closed inside a record");
                }
                lastUsed = System.nanoTime();
                return b.flip();
            }
            record = record == null ? new byte[n] : Arrays.copyOf(record, length + n);
            if (!fill(record, length, n)) throw new EOFException("connection closed inside a record");
            length += n;
            if ((m & LAST_FRAGMENT) != 0) {
                lastUsed = System.nanoTime();
                return ByteBuffer.wrap(record);
            }
        }
    }

    private static final int EOF = -1, IDLE = -2;
    private final byte[] markBytes = new byte[4];

    /** A record mark into markBytes: 4, EOF before its first byte, or IDLE (only when {@code mayIdle}). */
    private int readMark(boolean mayIdle) throws IOException {
        if (!active) {
            mark.clear();
            if (!readFully(mark)) {
                if (mark.position() == 0) return EOF;
                throw new EOFException("connection closed inside a record mark");
            }
            mark.get(0, markBytes);
            return 4;
        }
        if (nativeReads) return readMarkNatively(mayIdle);
        int got = 0;
        while (got < 4) {
            int n;
            try {
                n = in.read(markBytes, got, 4 - got);
            } catch (SocketTimeoutException e) {
                if (mayIdle && got == 0) return IDLE;
                continue;                                     // inside a mark: the reaper ends a stuck one
            }
            if (n < 0) {
                if (got == 0) return EOF;
                throw new EOFException("connection closed inside a record mark");
            }
            got += n;
        }
        return 4;
    }

    /**
     * -Doverlayj.nfs.nativeReads=false: the platform thread reads records through the socket's stream (a JDK timed
     * read), and a new connection's first record is read by a virtual thread, as before (for an A/B of one build).
     * (-Doverlayj.nfs.nativeMark=false, the earlier name of the switch, does the same.)
     */
    static final boolean NATIVE_READS = !"false".equals(System.getProperty("overlayj.nfs.nativeReads"))
            && !"false".equals(System.getProperty("overlayj.nfs.nativeMark"));

    private final boolean nativeReads;

    /** ECONNRESET (104 on every Linux architecture; not among org.overlayj.sys.Errno's names). */
    private static final int ECONNRESET = 104;

    /** Set once a virtual thread has read from the socket: the JDK then leaves its descriptor non-blocking. */
    private boolean nonBlocking;

    /**
     * A platform thread's buffer for what it reads off its connection's socket (RpcTcpServer#MAX_ACTIVE of them at
     * most): one read(2) takes a call's record mark and its record together, and as many calls as came, where a
     * read of the mark and one of the record were two.
     */
    private static final int IN_BUF_SIZE = 64 * 1024;
    private static final ThreadLocal<MemorySegment> IN_BUF = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(IN_BUF_SIZE));

    /** The serving platform thread's IN_BUF while it serves this connection, and the bytes in it not yet taken. */
    private MemorySegment inBuf;
    private int inPos, inEnd;

    /**
     * The platform thread's read of a record mark into markBytes: 4, EOF (before the mark's first byte; also a
     * reset), or IDLE (nothing came for the linger time and {@code mayIdle}; only then, with nothing buffered, does
     * the connection leave this thread and its buffer).
     *
     * <p>Why native: the JDK's read with a timeout on a platform thread wants the descriptor non-blocking (it
     * switches it there and back around every read, four fcntl calls, unless a virtual thread read it once: hence
     * the hop of every new connection through a virtual thread before), and a client that ends with a reset rather
     * than a FIN (libnfs: each nfs-cp, twice per file copied) made it throw two exceptions with their stack traces.
     */
    private int readMarkNatively(boolean mayIdle) throws IOException {
        while (inEnd - inPos < 4) {
            int n = fillInBuf(mayIdle && inEnd == inPos);
            if (n == IDLE) return IDLE;
            if (n == EOF) {
                if (inEnd == inPos) return EOF;
                throw new EOFException("connection closed inside a record mark");
            }
        }
        for (int i = 0; i < 4; i++) markBytes[i] = inBuf.get(ValueLayout.JAVA_BYTE, inPos + i);
        inPos += 4;
        return 4;
    }

    /**
     * Reads what has come (at least a byte, at most what the buffer has room for) after the bytes buffered, moved
     * to its start: the count, EOF (also a reset, or a close meanwhile), or IDLE ({@code mayIdle} and nothing came
     * for the linger time). The descriptor may be blocking (a new connection) or non-blocking (a virtual thread has
     * read it): where it is blocking, read(2) sleeps until something comes or SO_RCVTIMEO (the linger time, see
     * {@link #receiveTimeout}) passes, or, where that option could not be set and the wait may end idle, poll comes
     * first; where it is non-blocking, read comes first and poll only on EAGAIN.
     * read(2) answers ECONNRESET only when no byte is left to read, so a reset is an end like EOF, with no call
     * left unanswered.
     */
    private int fillInBuf(boolean mayIdle) throws IOException {
        if (inPos > 0) {
            MemorySegment.copy(inBuf, inPos, inBuf, 0, inEnd - inPos);
            inEnd -= inPos;
            inPos = 0;
        }
        boolean pollFirst = false;
        // Between two calls of a client in a run of calls, look for the next one a moment before sleeping (below).
        long waitFrom = 0;
        if (mayIdle && SPIN_NANOS > 0) {
            waitFrom = System.nanoTime();
            if (spin && waitFrom - calmAfter > 0 && CpuToSpare.now()) {
                int spun = spinForCall(waitFrom);
                if (spun < 0) calmAfter = System.nanoTime() + SpinWait.CONTENDED_PAUSE_NANOS;
                if (spun <= 0) spin = false;
                waitFrom = 0;                                 // a spin decides the next one; no re-arming below
            }
        }
        while (true) {
            int fd = enterNative();      // a close meanwhile shuts the socket down: the poll returns, the read EOF
            if (fd < 0) return EOF;
            try {
                boolean timed = !nonBlocking && receiveTimeout(fd);
                if (pollFirst || (!nonBlocking && !timed && mayIdle)) {
                    int events;
                    try {
                        events = Linux.poll(fd, Linux.POLLIN, RpcTcpServer.LINGER_MILLIS);
                    } catch (ErrnoException e) {
                        continue;                             // EINTR: look again
                    }
                    if (events == 0) {
                        if (mayIdle) return IDLE;
                        continue;                             // inside a record: the reaper ends a stuck one
                    }
                }
                // errno returned, not thrown: on a non-blocking descriptor EAGAIN comes about once per call
                long n = Linux.readOrErrno(fd, inBuf.asSlice(inEnd));
                if (n > 0) {
                    inEnd += (int) n;
                    // a call that came soon after the last reply, although this thread slept for it: the client is
                    // in a run of calls, so look for its next one before sleeping next time
                    if (waitFrom != 0) spin = System.nanoTime() - waitFrom < ARM_NANOS;
                    return (int) n;
                }
                if (n == 0 || n == -ECONNRESET) {
                    if (n != 0) log.debug("connection from {} reset by the client", remote);
                    return EOF;
                }
                if (n == -Errno.EAGAIN && timed) {
                    if (mayIdle) return IDLE;                 // SO_RCVTIMEO: the linger time passed with nothing
                } else if (n == -Errno.EAGAIN) {
                    pollFirst = true;                         // non-blocking: wait in poll
                } else if (n != -Errno.EINTR) {
                    throw new ErrnoException((int) -n, "read from " + remote);
                }
            } finally {
                exitNative();
            }
        }
    }

    /**
     * How long a connection's platform thread looks for its client's next call before it sleeps in read(2), when
     * the last call came within {@link #ARM_NANOS} of the reply before it: {@code -Doverlayj.nfs.spinMicros=N}, 0
     * never. A client making one call after another (libnfs, the kernel client's LOOKUP, CREATE, GETATTR of a
     * `tar -x`, each waited for) sends its next call some microseconds after our reply; a thread asleep in read(2)
     * must then be woken, and on a VM whose idle CPUs halt that is the wake-up of a halted virtual CPU per call. The
     * same bounded spin as the FUSE door's request loop (FuseServer#spinForRequest): only while the calls come
     * close together, off for {@link SpinWait#CONTENDED_PAUSE_NANOS} when a step of it lost the CPU, and never while
     * more threads are runnable than there are CPUs ({@link CpuToSpare}).
     */
    static final long SPIN_NANOS = Long.getLong("overlayj.nfs.spinMicros", 50) * 1000;
    private static final long ARM_NANOS = 2 * SPIN_NANOS;
    /** Whether the next wait for a call spins first; no spinning until this time (nanoTime) after a lost CPU. */
    private boolean spin;
    private long calmAfter = System.nanoTime();

    /**
     * Looks for the next call without sleeping until {@link #SPIN_NANOS} after {@code since}: 1 once bytes are
     * there (the read(2) that follows returns at once), 0 when the window ended without any, -1 when this thread
     * lost its CPU meanwhile, or the connection is closing.
     */
    private int spinForCall(long since) {
        try {
            return SpinWait.until(since, SPIN_NANOS, callThere);
        } catch (ErrnoException e) {
            return -1;                          // callThere throws none
        }
    }

    /** One look of {@link #spinForCall}: whether the socket has bytes; gives up when the connection is closing. */
    private final SpinWait.Look callThere = () -> {
        int fd = enterNative();
        if (fd < 0) return -1;
        try {
            return Linux.poll(fd, Linux.POLLIN, 0) != 0 ? 1 : 0;
        } catch (ErrnoException e) {
            return 0;                           // EINTR: look again
        } finally {
            exitNative();
        }
    };

    /** 0: SO_RCVTIMEO not set yet; 1: set (the linger time); -1: could not be set (poll before each wait instead). */
    private int receiveTimeout;

    /**
     * Sets SO_RCVTIMEO to the linger time on a blocking descriptor, once: the platform thread then sleeps in read(2)
     * itself between calls, where it slept in poll(2) and then read (one system call per call less; nfs-cp makes
     * ten calls per file). The descriptor's other readers do not see it: a virtual thread's reads are
     * non-blocking, the JDK's writes are not reads. -Doverlayj.nfs.receiveTimeout=false: poll and read as before.
     */
    private boolean receiveTimeout(int fd) {
        if (receiveTimeout == 0) {
            receiveTimeout = -1;
            if (RECEIVE_TIMEOUT) {
                try {
                    Linux.setReceiveTimeout(fd, RpcTcpServer.LINGER_MILLIS);
                    receiveTimeout = 1;
                } catch (ErrnoException e) {
                    log.debug("SO_RCVTIMEO on the connection from {}: {}", remote, e.toString());
                }
            }
        }
        return receiveTimeout > 0;
    }

    static final boolean RECEIVE_TIMEOUT = !"false".equals(System.getProperty("overlayj.nfs.receiveTimeout"));

    /**
     * Fills {@code dst} by read(2) on the descriptor (blocking or not: on EAGAIN it polls); false at EOF, a reset or
     * a close meanwhile. No timeout: the reaper closes a connection that stalls inside a record, and that close
     * shuts the socket down, which ends a read asleep in the kernel.
     */
    private boolean readNatively(MemorySegment dst) throws IOException {
        long got = 0, len = dst.byteSize();
        while (got < len) {
            int fd = enterNative();
            if (fd < 0) return false;
            try {
                long n = Linux.readOrErrno(fd, dst.asSlice(got));
                if (n > 0) {
                    got += n;
                } else if (n == 0 || n == -ECONNRESET) {
                    return false;
                } else if (n == -Errno.EAGAIN) {
                    try {
                        Linux.poll(fd, Linux.POLLIN, RpcTcpServer.LINGER_MILLIS);
                    } catch (ErrnoException e) {
                        // EINTR: read again
                    }
                } else if (n != -Errno.EINTR) {
                    throw new ErrnoException((int) -n, "read of a record from " + remote);
                }
            } finally {
                exitNative();
            }
        }
        return true;
    }

    /** Fills b[off, off + len) by blocking reads; false at EOF. */
    private boolean fill(byte[] b, int off, int len) throws IOException {
        if (!active) return readFully(ByteBuffer.wrap(b, off, len));
        if (nativeReads) {
            for (int got = 0; got < len; ) {
                if (inPos == inEnd && fillInBuf(false) == EOF) return false;
                int chunk = Math.min(len - got, inEnd - inPos);
                MemorySegment.copy(inBuf, ValueLayout.JAVA_BYTE, inPos, b, off + got, chunk);
                inPos += chunk;
                got += chunk;
            }
            return true;
        }
        for (int got = 0; got < len; ) {
            int n;
            try {
                n = in.read(b, off + got, len - got);
            } catch (SocketTimeoutException e) {
                continue;                                     // inside a record: the reaper ends a stuck one
            }
            if (n < 0) return false;
            got += n;
        }
        return true;
    }

    /** Blocking reads until {@code b} is full; false at EOF. */
    private boolean readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) return false;
        }
        return true;
    }

    private void handle(ByteBuffer record) {
        Calls.handle(record, record.isDirect() ? new LentRecord(record) : this, server.programs(), this::sendRecord);
    }

    /**
     * The transport of a call whose record is in one of the server's native buffers (RpcTcpServer#directBuffer):
     * the buffer goes back to the server once the reply is sent (the call's arguments are not looked at after that). A call that gets no reply (dropped while
     * stopping) keeps its buffer, which the garbage collector then frees.
     */
    private final class LentRecord implements RpcTransport {
        private final ByteBuffer record;

        LentRecord(ByteBuffer record) { this.record = record; }

        @Override
        public <A> void send(Xdr xdr, A attachment, CompletionHandler<Integer, ? super A> handler) {
            RpcConnection.this.send(xdr, attachment, handler);
            server.giveBack(record);
        }

        @Override public ReplyQueue getReplyQueue() { return null; }
        @Override public boolean isOpen() { return RpcConnection.this.isOpen(); }
        @Override public InetSocketAddress getLocalSocketAddress() { return local; }
        @Override public InetSocketAddress getRemoteSocketAddress() { return remote; }
        @Override public RpcTransport getPeerTransport() { return this; }
        @Override public void startTLS() { throw new IllegalStateException("RPC-over-TLS is not offered"); }
        @Override public boolean isTLS() { return false; }
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
        SplicedData spliced = SplicedData.pending();
        try {
            synchronized (writeLock) {
                replyMark.clear();
                replyMark.putInt(0, LAST_FRAGMENT | n);
                parts[0] = replyMark;
                if (spliced != null) {
                    sendSpliced(parts, spliced);
                } else {
                    // Counted, not "until the last part is empty": a composite may end with an empty part.
                    for (long left = 4L + n; left > 0; ) left -= ch.write(parts);
                }
            }
            lastUsed = System.nanoTime();
        } catch (IOException e) {
            log.debug("reply to {} not sent: {}", remote, e.toString());
            close();
            handler.failed(e, attachment);
            return;
        } finally {
            if (spliced != null) spliced.discard();
        }
        handler.completed(n, attachment);
    }

    /**
     * A reply whose data wait in this thread's pipe (SplicedData): the parts before the stand-in written, the pipe
     * spliced into the socket in its place, then the parts after it (the XDR padding). Without a stand-in among
     * the parts, the pipe's bytes are read into its memory first, and the parts go out as they are.
     */
    private void sendSpliced(ByteBuffer[] parts, SplicedData spliced) throws IOException {
        int at = -1;
        for (int i = 1; i < parts.length && at < 0; i++) if (spliced.isStandIn(parts[i])) at = i;
        if (at < 0) {
            spliced.drainIntoStandIn();
            long left = 0;
            for (ByteBuffer p : parts) left += p.remaining();
            while (left > 0) left -= ch.write(parts);
            return;
        }
        long before = 0, after = 0;
        for (int i = 0; i < at; i++) before += parts[i].remaining();
        for (int i = at + 1; i < parts.length; i++) after += parts[i].remaining();
        int fd = enterNative();
        if (fd < 0) throw new ClosedChannelException();
        try {
            if (!spliced.sendHead(fd, parts, 0, at)) while (before > 0) before -= ch.write(parts, 0, at);
            spliced.sendTo(fd);
        } finally {
            exitNative();
        }
        while (after > 0) after -= ch.write(parts, at + 1, parts.length - at - 1);
    }

    /** The socket's descriptor, for splice(2); -1 when the JVM keeps it from us. Read once. */
    int socketFd() {
        int fd = socketFd;
        if (fd == FD_UNKNOWN) socketFd = fd = fdOf(ch);
        return fd;
    }

    private static final int FD_UNKNOWN = -2;
    private int socketFd = FD_UNKNOWN;

    /**
     * The JDK's own accessor of a channel's descriptor (sun.nio.ch.SelChImpl#getFDVal), reachable when the JVM
     * runs with --add-opens java.base/sun.nio.ch=ALL-UNNAMED (bin/overlayj; the tests' argLine); null otherwise.
     */
    private static final java.lang.reflect.Method FD_VAL = fdAccessor();

    private static java.lang.reflect.Method fdAccessor() {
        try {
            java.lang.reflect.Method m = Class.forName("sun.nio.ch.SelChImpl").getMethod("getFDVal");
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) {
            log.debug("socket descriptors out of reach, READ replies are not spliced: {}", e.toString());
            return null;
        }
    }

    private static int fdOf(SocketChannel ch) {
        if (FD_VAL == null) return -1;
        try {
            return (int) FD_VAL.invoke(ch);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return -1;
        }
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
        synchronized (fdGuard) {
            if (nativeUsers > 0) {
                // A splice (or the platform thread's read or poll of a record mark) is using the descriptor's
                // number: closing it now would let the next open reuse the number, and the splice would write a
                // reply into that file. Shut the socket down instead (the splice fails at once, the poll returns,
                // the read sees EOF) and let the last native user close it.
                closeDeferred = true;
                try {
                    ch.shutdownInput();
                    ch.shutdownOutput();
                } catch (IOException e) {
                    log.debug("shutting down the connection from {}: {}", remote, e.toString());
                }
                return;
            }
            // From here no native call takes the descriptor's number (enterNative): the close below frees it
            // for reuse, and a read or poll started after it would act on whatever file gets the number next.
            closing = true;
        }
        closeChannel();
    }

    private void closeChannel() {
        try {
            ch.close();
        } catch (IOException e) {
            log.debug("closing the connection from {}: {}", remote, e.toString());
        }
    }

    /**
     * Guards the socket's descriptor number while native code (splice) uses it: the JDK defers a close while its
     * own reads and writes run, not while ours do. {@link #close} waits for no one: it defers the close to
     * {@link #exitNative}.
     */
    private final Object fdGuard = new Object();
    private int nativeUsers;
    private boolean closeDeferred;
    private boolean closing;

    /** The descriptor for a native call, held open until {@link #exitNative}; -1 when closed or closing. */
    private int enterNative() {
        synchronized (fdGuard) {
            int fd = socketFd();
            if (closeDeferred || closing || fd < 0 || !ch.isOpen()) return -1;
            nativeUsers++;
            return fd;
        }
    }

    private void exitNative() {
        boolean close;
        synchronized (fdGuard) {
            close = --nativeUsers == 0 && closeDeferred;
        }
        if (close) closeChannel();
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
