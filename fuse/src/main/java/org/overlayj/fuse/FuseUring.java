package org.overlayj.fuse;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.IoUring;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FUSE over io_uring (Linux 6.14+, CONFIG_FUSE_IO_URING, the fuse module's {@code enable_uring}): the transport the
 * kernel uses instead of /dev/fuse once the server took the offer at INIT and registered ring entries. The requests
 * go through the same {@link FuseDispatcher} as those the /dev/fuse loop reads; only how they arrive and how the
 * replies leave differs.
 *
 * <p>How the kernel does it. It keeps one queue per possible CPU and puts a request on the queue of the CPU the
 * caller runs on. An entry is a header buffer (struct fuse_uring_req_header: the in/out header, the request's first
 * argument, and the entry's payload size and commit id) and a payload buffer of at least max_write, registered on a
 * queue by an IORING_OP_URING_CMD SQE (128-byte SQE, the command data a struct fuse_uring_cmd_req) sent to the
 * /dev/fuse fd. The command completes when the kernel has copied a request into the entry's buffers; the server
 * writes the reply into the same buffers and sends COMMIT_AND_FETCH, which hands the reply over and leaves the entry
 * waiting for the next request: one io_uring_enter(2) per request, where /dev/fuse takes a read and a write. Until
 * every queue has an entry the kernel holds new requests back; FORGETs and INTERRUPTs, and our notifications, still
 * go through /dev/fuse, whose loop keeps running.
 *
 * <p>How we do it. Every entry has its own thread and its own small ring (one entry, one wake-up poll), so no two
 * threads ever share a ring and the only synchronisation is the kernel's: a thread submits its commit and waits for
 * its next request in one call, and whichever entry of the caller's queue is free takes a request, so a slow request
 * (a copy-up) holds up one entry of its queue, not the queue. Each queue gets {@code perQueue} entries.
 *
 * <p>Everything that can fail is made before INIT is answered ({@link #prepare}): rings, buffers, threads. The
 * threads register their entries once the INIT reply is written ({@link #start}: the kernel refuses them before).
 * When the connection ends (unmount, abort) the kernel completes every pending command with ENOTCONN and the threads
 * leave; {@link #close} wakes any still waiting through an eventfd each ring polls, then frees the rings.
 */
final class FuseUring implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FuseUring.class);
    /** enum fuse_uring_cmd. */
    private static final int CMD_REGISTER = 1, CMD_COMMIT_AND_FETCH = 2;
    /**
     * struct fuse_uring_req_header: in_out[128] (fuse_in_header / fuse_out_header), op_in[128] (the request's first
     * argument), then struct fuse_uring_ent_in_out {u64 flags; u64 commit_id; u32 payload_sz; u32 pad; u64 rsvd}.
     */
    private static final int OP_IN = 128, ENT_COMMIT_ID = 256 + 8, ENT_PAYLOAD_SZ = 256 + 16, HEADER_SIZE = 288;
    /** struct fuse_uring_cmd_req in the SQE's command data: u64 flags; u64 commit_id; u16 qid. */
    private static final int REQ_COMMIT_ID = IoUring.SQE_CMD + 8, REQ_QID = IoUring.SQE_CMD + 16;
    /** The payload the kernel requires: max(8 KiB, max_write, max_pages pages); ours are all 1 MiB. */
    static final int PAYLOAD = Math.max(8192, Math.max(FuseInit.MAX_WRITE, FuseInit.MAX_PAGES * 4096));
    private static final long ENTRY = 1, WAKE = 2;
    private static final int POLLIN = 1;
    private static final int ENOTCONN = 107, ECONNABORTED = 103, ECANCELED = 125;
    /**
     * Every possible CPU needs a queue before the kernel uses any, each entry a thread and 1 MiB of buffers: beyond
     * this many (VMs that declare hundreds of hot-pluggable CPUs) /dev/fuse serves instead.
     */
    static final int MAX_QUEUES = 64;

    private final String mountpoint;
    private final FuseDispatcher dispatcher;
    private final int device;
    private final int queues;
    private final Arena arena = Arena.ofShared();
    private final int wake;
    private final List<Entry> entries = new ArrayList<>();
    private final CountDownLatch go = new CountDownLatch(1);
    /** Counted down by each thread as it ends. */
    private final CountDownLatch gone;
    private final LongAdder served = new LongAdder();
    private volatile boolean closing;
    /**
     * Whether each entry's thread runs on its queue's CPU only (as libfuse does): a request is queued on the
     * caller's CPU, so its entry's thread is woken there and finds the request's pages in that CPU's caches. On this
     * 2-core VM under load ~28 (medians of 8 interleaved runs, not trustworthy): 300 creates 0.45 s on /dev/fuse, 0.37
     * unpinned, 0.19 pinned; 512 O_DIRECT READs of 128 KiB 0.42 / 0.33 / 0.31 s. -Doverlayj.fuse.uringPin=false
     * leaves them to the scheduler. A CPU the process may not use (cpuset) leaves its threads unpinned.
     */
    private static final boolean PIN = !"false".equals(System.getProperty("overlayj.fuse.uringPin"));

    /**
     * The number of queues the kernel makes: one per possible CPU (num_possible_cpus(), from
     * /sys/devices/system/cpu/possible, e.g. "0-3" or "0,2-5").
     */
    static int possibleCpus() {
        try {
            String s = Files.readAllLines(Path.of("/sys/devices/system/cpu/possible")).getFirst().trim();
            int n = 0;
            for (String part : s.split(",")) {
                int dash = part.indexOf('-');
                n += dash < 0 ? 1 : Integer.parseInt(part.substring(dash + 1)) - Integer.parseInt(part.substring(0, dash)) + 1;
            }
            return n;
        } catch (IOException | RuntimeException e) {
            return Runtime.getRuntime().availableProcessors();
        }
    }

    /**
     * Sets up {@code perQueue} entries for each of {@code queues} queues on the /dev/fuse fd {@code device}, their
     * rings, buffers and (waiting) threads; null, with the reason logged, when any of it fails: the server then
     * declines the offer and stays on /dev/fuse.
     */
    static FuseUring prepare(String mountpoint, int device, FuseDispatcher dispatcher, int queues, int perQueue) {
        if (queues > MAX_QUEUES) {
            LOG.warn("FUSE over io_uring not used on {}: the kernel wants a queue for each of {} possible CPUs",
                    mountpoint, queues);
            return null;
        }
        FuseUring u;
        try {
            u = new FuseUring(mountpoint, device, dispatcher, queues, perQueue);
        } catch (ErrnoException | RuntimeException | LinkageError | OutOfMemoryError e) {
            // LinkageError: a libc without the calls; INIT must still be answered, on /dev/fuse
            LOG.warn("FUSE over io_uring not used on {}: {}", mountpoint, e.getMessage());
            return null;
        }
        return u;
    }

    private FuseUring(String mountpoint, int device, FuseDispatcher dispatcher, int queues, int perQueue)
            throws ErrnoException {
        this.mountpoint = mountpoint;
        this.dispatcher = dispatcher;
        this.device = device;
        this.queues = queues;
        this.wake = IoUring.eventfd(IoUring.EFD_CLOEXEC);
        try {
            for (int q = 0; q < queues; q++) {
                for (int i = 0; i < perQueue; i++) {
                    IoUring ring = IoUring.setup(4, IoUring.SETUP_SQE128);
                    try {
                        entries.add(new Entry(q, i, ring));
                    } catch (ErrnoException | RuntimeException | OutOfMemoryError e) {
                        ring.close();
                        throw e;
                    }
                }
            }
        } catch (ErrnoException | RuntimeException | LinkageError | OutOfMemoryError e) {
            for (Entry x : entries) x.free();
            Linux.closeQuietly(wake);
            arena.close();
            throw e;
        }
        this.gone = new CountDownLatch(entries.size());
        int started = 0;
        try {
            for (Entry e : entries) {
                e.thread.start();
                started++;
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            for (int i = started; i < entries.size(); i++) gone.countDown();
            close();                    // the started threads see closing and leave without registering
            throw e;
        }
        LOG.debug("FUSE over io_uring prepared on {}: {} queues x {} entries", mountpoint, queues, perQueue);
    }

    /** Lets the threads register their entries: call once the INIT reply (with OVER_IO_URING) was written. */
    void start() {
        go.countDown();
        LOG.info("FUSE over io_uring on {}: {} queues x {} entries", mountpoint, queues, entries.size() / queues);
    }

    /** Requests served through the rings. */
    long requests() { return served.sum(); }

    /**
     * Wakes the threads still waiting (their connection is gone, or the server is closing), waits for them, and frees
     * the rings and buffers. Call after the /dev/fuse loop has ended, when no request can come any more.
     */
    @Override public void close() {
        closing = true;
        go.countDown();
        try {
            MemorySegment one = arena.allocate(8);
            one.set(JAVA_LONG, 0, 1);
            Linux.write(wake, one);
        } catch (ErrnoException | IllegalStateException e) {
            LOG.debug("waking the ring threads of {}: {}", mountpoint, e.getMessage());
        }
        boolean ended;
        try {
            ended = gone.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            ended = false;
        }
        if (!ended) {
            // a thread stuck in a filesystem call still uses its buffers: leave them (and the rings) to the process
            LOG.warn("FUSE ring threads of {} still running after unmount", mountpoint);
            return;
        }
        for (Entry e : entries) e.free();
        Linux.closeQuietly(wake);
        arena.close();
    }

    /**
     * One ring entry and the thread that serves it: its ring, header and payload buffers (page-aligned: the kernel
     * pins them), the request copied to the heap for the dispatcher, and the reply buffer.
     */
    private final class Entry implements FileDataSender {
        final int qid;
        final IoUring ring;
        final MemorySegment header = arena.allocate(4096, 4096);
        /** Mapped, not allocated: the pages of an entry no request ever reaches (a CPU nobody calls from) stay free. */
        final MemorySegment payload;
        final MemorySegment iov = arena.allocate(32, 8);
        final Thread thread;
        /** Allocated at the first request: the entries of a CPU nobody calls from never need them. */
        byte[] request, scratch;
        /** Set by {@link #sendRead}: the reply is in the buffers already, with this many payload bytes. */
        boolean replied;
        int lastCommand;
        long commitId;

        Entry(int qid, int index, IoUring ring) throws ErrnoException {
            this.qid = qid;
            this.ring = ring;
            this.payload = Linux.mapAnonymous(PAYLOAD);
            this.thread = Thread.ofPlatform().name("fuse-ring-" + qid + "-" + index).daemon(true).unstarted(this::run);
            iov.set(ADDRESS, 0, header);
            iov.set(JAVA_LONG, 8, HEADER_SIZE);
            iov.set(ADDRESS, 16, payload);
            iov.set(JAVA_LONG, 24, PAYLOAD);
        }

        void free() {
            ring.close();
            Linux.unmapAnonymous(payload);
        }

        void run() {
            try {
                go.await();
                if (closing) return;
                if (PIN) {
                    try {
                        IoUring.pinCallingThread(qid);
                    } catch (ErrnoException e) {
                        LOG.debug("ring thread of queue {} not pinned: {}", qid, e.getMessage());
                    }
                }
                poll();
                command(CMD_REGISTER);
                while (serveSome()) {
                    // serveSome does the work
                }
            } catch (InterruptedException e) {
                // closing
            } catch (RuntimeException | Error e) {
                LOG.error("FUSE ring thread of {} died", mountpoint, e);
            } finally {
                gone.countDown();
            }
        }

        /**
         * Submits what is queued, waits for completions and handles them; false when this entry is done (the
         * connection is gone, or the server closes). A method of its own so the JIT compiles it early (see
         * FuseServer.serveOne).
         */
        private boolean serveSome() {
            try {
                ring.enter(1);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EINTR || e.errno() == Errno.EAGAIN) return !closing;
                LOG.error("io_uring_enter for {} failed", mountpoint, e);
                return false;
            }
            boolean more = true;
            while (ring.nextCompletion()) {
                int res = ring.result();
                if (ring.userData() == WAKE) {
                    more = false;
                } else if (res == 0) {
                    serve();
                } else if (res == -Errno.EAGAIN || res == -Errno.EINTR) {
                    command(lastCommand);           // not taken this time: again
                } else {
                    if (res != -ENOTCONN && res != -ECONNABORTED && res != -ECANCELED && res != -Errno.ENODEV
                            && !closing) {
                        LOG.warn("FUSE ring command {} on {} (queue {}) failed: {}",
                                lastCommand == CMD_REGISTER ? "REGISTER" : "COMMIT_AND_FETCH", mountpoint, qid,
                                Errno.name(-res));
                    }
                    more = false;
                }
            }
            return more && !closing;
        }

        /** The eventfd poll that {@link #close} fires to wake this thread. */
        private void poll() {
            MemorySegment sqe = ring.nextSqe();
            sqe.set(JAVA_BYTE, IoUring.SQE_OPCODE, (byte) IoUring.OP_POLL_ADD);
            sqe.set(JAVA_INT, IoUring.SQE_FD, wake);
            sqe.set(JAVA_INT, IoUring.SQE_OP_FLAGS, POLLIN);
            sqe.set(JAVA_LONG, IoUring.SQE_USER_DATA, WAKE);
        }

        /** A URING_CMD on the /dev/fuse fd: REGISTER (with the buffers) or COMMIT_AND_FETCH (of {@link #commitId}). */
        private void command(int cmd) {
            MemorySegment sqe = ring.nextSqe();
            if (sqe == null) throw new IllegalStateException("FUSE ring SQ full");   // one entry, four slots
            lastCommand = cmd;
            sqe.set(JAVA_BYTE, IoUring.SQE_OPCODE, (byte) IoUring.OP_URING_CMD);
            sqe.set(JAVA_INT, IoUring.SQE_FD, device);
            sqe.set(JAVA_INT, IoUring.SQE_CMD_OP, cmd);
            sqe.set(JAVA_LONG, IoUring.SQE_USER_DATA, ENTRY);
            if (cmd == CMD_REGISTER) {
                sqe.set(JAVA_LONG, IoUring.SQE_ADDR, iov.address());
                sqe.set(JAVA_INT, IoUring.SQE_LEN, 2);
            } else {
                sqe.set(JAVA_LONG, REQ_COMMIT_ID, commitId);
            }
            sqe.set(JAVA_BYTE, REQ_QID, (byte) qid);
            sqe.set(JAVA_BYTE, REQ_QID + 1, (byte) (qid >>> 8));
        }

        /**
         * The request the kernel put in the buffers, put back together as /dev/fuse would have given it (header,
         * first argument, the rest), dispatched, and its reply put in the buffers with a COMMIT_AND_FETCH queued.
         */
        private void serve() {
            served.increment();
            int len = header.get(JAVA_INT, 0);
            long unique = header.get(JAVA_LONG, 8);
            int payloadSize = header.get(JAVA_INT, ENT_PAYLOAD_SZ);
            commitId = header.get(JAVA_LONG, ENT_COMMIT_ID);
            int first = len - FuseDispatcher.IN_HEADER - payloadSize;
            int bodyLength;
            if (first < 0 || first > OP_IN || payloadSize < 0 || payloadSize > PAYLOAD) {
                LOG.warn("malformed FUSE ring request on {}: len {} payload {}", mountpoint, len, payloadSize);
                bodyLength = replyError(unique, Errno.EIO);
            } else {
                if (request == null || request.length < len) request = new byte[Math.max(len, 64 * 1024)];
                if (scratch == null) scratch = new byte[FuseDispatcher.OUT_HEADER + FuseInit.MAX_WRITE];
                MemorySegment.copy(header, JAVA_BYTE, 0, request, 0, FuseDispatcher.IN_HEADER);
                MemorySegment.copy(header, JAVA_BYTE, OP_IN, request, FuseDispatcher.IN_HEADER, first);
                MemorySegment.copy(payload, JAVA_BYTE, 0, request, FuseDispatcher.IN_HEADER + first, payloadSize);
                replied = false;
                ByteBuffer reply = dispatcher.dispatch(ByteBuffer.wrap(request, 0, len), scratch, this);
                if (reply != null) {
                    int n = reply.remaining() - FuseDispatcher.OUT_HEADER;
                    int at = reply.arrayOffset() + reply.position();
                    MemorySegment.copy(reply.array(), at, header, JAVA_BYTE, 0, FuseDispatcher.OUT_HEADER);
                    MemorySegment.copy(reply.array(), at + FuseDispatcher.OUT_HEADER, payload, JAVA_BYTE, 0, n);
                    bodyLength = n;
                } else if (replied) {
                    bodyLength = header.get(JAVA_INT, 0) - FuseDispatcher.OUT_HEADER;
                } else {
                    // only FORGET and INTERRUPT go unanswered, and those come through /dev/fuse; the entry must be
                    // committed all the same to get the next request
                    bodyLength = replyError(unique, Errno.EIO);
                }
            }
            header.set(JAVA_INT, ENT_PAYLOAD_SZ, bodyLength);
            command(CMD_COMMIT_AND_FETCH);
        }

        private int replyError(long unique, int errno) {
            header.set(JAVA_INT, 0, FuseDispatcher.OUT_HEADER);
            header.set(JAVA_INT, 4, -errno);
            header.set(JAVA_LONG, 8, unique);
            return 0;
        }

        /** A big READ: read from the layer file straight into the payload buffer the kernel copies from. */
        @Override public boolean sendRead(long unique, int fd, long offset, int size) throws ErrnoException {
            if (size > PAYLOAD) return false;
            long n = 0;
            while (n < size) {
                long k = Linux.pread(fd, payload.asSlice(n, size - n), offset + n);
                if (k == 0) break;
                n += k;
            }
            header.set(JAVA_INT, 0, FuseDispatcher.OUT_HEADER + (int) n);
            header.set(JAVA_INT, 4, 0);
            header.set(JAVA_LONG, 8, unique);
            replied = true;
            return true;
        }
    }
}
