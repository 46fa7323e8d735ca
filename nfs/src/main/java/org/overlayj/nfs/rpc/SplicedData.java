package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.LongAdder;

/**
 * A reply's bulk data (a READ's) moved from the file to the socket by splice(2), as knfsd sends its READ replies:
 * the file's page-cache pages go into a pipe by reference, and from the pipe into the socket, so the server copies
 * none of the bytes (pread into a buffer, then a socket write, copied each 1 MiB twice; those two copies were half
 * of the server's CPU time in a 512 MiB read, perf, 2026-12-07).
 *
 * <p>How a reply carries it: the program splices the data into this thread's pipe ({@link #fill}) and encodes, where
 * the bytes go, a stand-in buffer of the same length ({@link #standIn}, native memory of this object that holds
 * nothing); the connection's send (RpcConnection) finds the stand-in among the reply's parts and splices the pipe
 * into the socket in its place. The reply must be sent by the thread that filled the pipe, before that thread
 * serves anything else, which our transport does (the program's call.reply → RpcConnection#send, synchronously).
 * Should a send not find the stand-in, it reads the pipe into the stand-in's memory and sends that: the bytes are
 * right either way. A pipe left holding data (a reply never sent) is dropped by the next fill, never sent later.
 *
 * <p>Only for calls whose transport is one of our TCP connections ({@link #forTransport}); off when the JVM does
 * not let us read a socket's descriptor (it needs --add-opens java.base/sun.nio.ch=ALL-UNNAMED, which bin/overlayj
 * gives), or with -Doverlayj.nfs.splice=false.
 */
public final class SplicedData {
    private static final Logger log = LoggerFactory.getLogger(SplicedData.class);
    private static final boolean ENABLED = !"false".equals(System.getProperty("overlayj.nfs.splice"));
    private static final ThreadLocal<SplicedData> MINE = new ThreadLocal<>();

    /** Replies whose data went out spliced, since the JVM started (for tests and curiosity). */
    private static final LongAdder SENT = new LongAdder();

    /** How many replies had their data spliced into the socket so far, in this JVM. */
    public static long sent() { return SENT.sum(); }

    /** Closes the pipe of a thread that ended (its SplicedData unreachable): pool threads come and go. */
    private static final Cleaner CLEANER = Cleaner.create();

    private final int max;
    /** The pipe: read end, write end; -1 until made. Shared with the cleaning action, which must not see this. */
    private final int[] pipe = {-1, -1};
    private int pipeIn = -1, pipeOut = -1;
    private MemorySegment stand;
    /** This thread could not get a pipe large enough: READs read the plain way. */
    private boolean noPipe;
    /** Pages the pipe holds. */
    private int slots;
    private static final int PAGE = 4096;
    /** Bytes in the pipe that the next reply of this thread sends; 0 when none. */
    private int held;

    private SplicedData(int max) {
        this.max = max;
        int[] p = pipe;
        CLEANER.register(this, () -> {
            if (p[0] >= 0) Linux.closeQuietly(p[0]);
            if (p[1] >= 0) Linux.closeQuietly(p[1]);
        });
    }

    /**
     * This thread's, for a call that came on {@code transport}; null when its replies cannot be spliced (not one of
     * our TCP connections, splicing off, or the socket's descriptor out of reach).
     */
    public static SplicedData forTransport(RpcTransport transport, int max) {
        if (!ENABLED || !(transport instanceof RpcConnection c) || c.socketFd() < 0) return null;
        SplicedData d = MINE.get();
        if (d == null || d.max < max) {
            if (d != null) d.closePipe();
            d = new SplicedData(max);
            MINE.set(d);
        }
        return d;
    }

    /**
     * Splices up to {@code count} bytes of {@code fd} from {@code offset} into the pipe; returns how many (fewer at
     * the end of the file). -1 when the file or the pipe cannot take splice (EINVAL: a filesystem without
     * splice_read; a pipe that could not be made large enough; a range the pipe's pages cannot hold): the caller
     * reads the plain way.
     */
    public int fill(int fd, long offset, int count) throws ErrnoException {
        if (held != 0 || pipeIn < 0) {
            closePipe();                                   // never send what an unsent reply left behind
            if (noPipe || !openPipe()) {
                // Not tried again by this thread: a user past its pipe-buffer limit (pipe-user-pages-soft) would
                // otherwise pay four failing calls per READ.
                noPipe = true;
                return -1;
            }
        }
        // A pipe holds whole pages, one per slot: a range that starts inside a page needs one slot more than its
        // length in pages, and a splice into a full (blocking) pipe would wait for a reader that is this thread.
        // A range the slots cannot hold (a large READ at an offset inside a page: clients read page-aligned) is
        // read the plain way, so that the reply still carries all that was asked.
        if ((offset & (PAGE - 1)) + count > (long) slots * PAGE) return -1;
        int got = 0;
        try {
            while (got < count) {
                long k;
                try {
                    // After the first splice (into the empty pipe), never wait for room: should the pages be
                    // larger than PAGE, a full pipe ends the READ short instead of blocking this thread.
                    k = Linux.splice(fd, offset + got, pipeOut, count - got, got == 0 ? 0 : Linux.SPLICE_F_NONBLOCK);
                } catch (ErrnoException e) {
                    if (got > 0 && e.errno() == Errno.EAGAIN) break;
                    throw e;
                }
                if (k <= 0) break;
                got += (int) k;
            }
        } catch (ErrnoException e) {
            closePipe();
            if (got == 0 && e.errno() == Errno.EINVAL) return -1;
            throw e;
        }
        held = got;
        return got;
    }

    /** Where the reply's encoding puts the data: {@code held} bytes that stand for the pipe's. */
    public ByteBuffer standIn() {
        if (stand == null) stand = Arena.ofAuto().allocate(max, 4096);
        return stand.asSlice(0, held).asByteBuffer();
    }

    /** The current thread's, when it holds data for the reply it is about to send; else null. */
    static SplicedData pending() {
        SplicedData d = MINE.get();
        return d != null && d.held > 0 ? d : null;
    }

    /** Whether {@code part} (of a reply being sent) is this thread's stand-in. */
    boolean isStandIn(ByteBuffer part) {
        return stand != null && part.isDirect() && part.remaining() == held
                && MemorySegment.ofBuffer(part).address() == stand.address();
    }

    /** The most a reply's parts before its data may hold to go out with MSG_MORE (the READ3resok head is ~130). */
    private static final int HEAD_MAX = 1024;
    private MemorySegment head;

    /**
     * Sends the reply's parts {@code from} to {@code to} (the record mark and what comes before the data) with
     * MSG_MORE, so that they leave in the same segment as the data's first pages. Written alone, on a socket with
     * TCP_NODELAY they went out as a segment of their own, and a client waiting for the reply woke for those ~130
     * bytes and went back to sleep until the data came: one wake-up more per READ. Returns false, having sent
     * nothing, when the parts are larger than {@link #HEAD_MAX}: the caller writes them the plain way.
     */
    boolean sendHead(int socket, ByteBuffer[] parts, int from, int to) throws ErrnoException {
        long n = 0;
        for (int i = from; i < to; i++) n += parts[i].remaining();
        if (n > HEAD_MAX) return false;
        if (head == null) head = Arena.ofAuto().allocate(HEAD_MAX);
        long at = 0;
        for (int i = from; i < to; i++) {
            ByteBuffer p = parts[i];
            int r = p.remaining();
            MemorySegment.copy(MemorySegment.ofBuffer(p), 0, head, at, r);
            p.position(p.limit());
            at += r;
        }
        for (long sent = 0; sent < n; ) {
            try {
                sent += Linux.send(socket, head.asSlice(sent, n - sent), Linux.MSG_MORE);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EAGAIN) waitWritable(socket);
                else if (e.errno() != Errno.EINTR) throw e;
            }
        }
        return true;
    }

    /**
     * Splices the held bytes into {@code socket} (non-blocking: waits for room with poll), all of them or an
     * exception; the pipe is empty after.
     */
    void sendTo(int socket) throws ErrnoException {
        int left = held;
        held = 0;
        try {
            while (left > 0) {
                long k;
                try {
                    k = Linux.splice(pipeIn, socket, left, Linux.SPLICE_F_MOVE);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.EAGAIN) {
                        waitWritable(socket);
                        continue;
                    }
                    if (e.errno() == Errno.EINTR) continue;
                    throw e;
                }
                if (k <= 0) throw new ErrnoException(Errno.EIO, "splice to the socket moved nothing");
                left -= (int) k;
            }
            SENT.increment();
        } finally {
            if (left > 0) closePipe();
        }
    }

    /** The fallback: the held bytes read from the pipe into the stand-in's memory, which then goes out as it is. */
    void drainIntoStandIn() throws ErrnoException {
        if (stand == null) {                               // never encoded: the reply does not carry the data
            discard();
            return;
        }
        MemorySegment into = stand.asSlice(0, held);
        int got = 0;
        try {
            while (got < held) {
                long k = Linux.read(pipeIn, into.asSlice(got));
                if (k <= 0) throw new ErrnoException(Errno.EIO, "the pipe held less than spliced");
                got += (int) k;
            }
        } finally {
            held = 0;
            if (got < into.byteSize()) closePipe();
        }
    }

    /** Forgets the held bytes (a reply that will not be sent); the pipe is made anew on the next fill. */
    void discard() {
        if (held != 0) closePipe();
    }

    private static void waitWritable(int socket) throws ErrnoException {
        while (true) {
            try {
                int ev = Linux.poll(socket, Linux.POLLOUT, 60_000);
                if (ev == 0) throw new ErrnoException(Errno.ETIMEDOUT, "socket not writable for 60 s");
                return;                                    // writable, or an error the next splice reports
            } catch (ErrnoException e) {
                if (e.errno() != Errno.EINTR) throw e;
            }
        }
    }

    private boolean openPipe() {
        try {
            int[] p = Linux.pipe(Linux.O_CLOEXEC);
            pipe[0] = pipeIn = p[0];
            pipe[1] = pipeOut = p[1];
            int capacity = Linux.setPipeSize(pipeOut, max);
            slots = capacity / PAGE;
            if (capacity >= max) return true;
        } catch (ErrnoException e) {
            log.debug("no pipe of {} bytes for READ replies: {}", max, e.getMessage());
        }
        closePipe();
        return false;
    }

    private void closePipe() {
        held = 0;
        if (pipeIn >= 0) Linux.closeQuietly(pipeIn);
        if (pipeOut >= 0) Linux.closeQuietly(pipeOut);
        pipe[0] = pipe[1] = pipeIn = pipeOut = -1;
    }
}
