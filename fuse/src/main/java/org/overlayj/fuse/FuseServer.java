package org.overlayj.fuse;

import org.overlayj.core.Prefetch;
import org.overlayj.sys.CpuToSpare;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.SpinWait;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * A mounted FUSE filesystem and its request loop: opens /dev/fuse, mounts it with mount(2) (root), and runs
 * platform threads that read a request, dispatch it and write the reply in one write(2).
 *
 * <p>One thread at a time reads (it holds the reader role). It answers a {@link RawFileSystem#quick quick} request
 * itself and reads the next one, so a client making one call after another is served by one thread that stays
 * hot, with no other thread woken. Before it works on any other request it hands the role on (to an idle thread,
 * or a new one up to the thread limit), so slow requests (data, copy-up, fsync) run in parallel while reading goes
 * on; when done it takes the role back if nobody holds it, else it waits idle. A directory listing is kept by the
 * reader too while no other request is being worked on or waiting ({@link #listingAlone}: a lone walker's listings
 * come one after another). Several threads blocked in read(2)
 * at once, as before, made the kernel wake a different one (the longest waiting) for each request: on two cores
 * under load that cost more than many requests take to answer. Between the requests of a client that makes calls in
 * a row, the reader looks for the next one for a few tens of microseconds before it sleeps ({@link #spinForRequest}),
 * so that the client need not wake it each time.
 *
 * <p>The threads share one device fd: the kernel hands each request to exactly one reader, and a reply may be
 * written by any thread. (FUSE_DEV_IOC_CLONE would give each thread its own queue, which only pays off with many
 * cores.) Platform threads, because the read blocks in native code and would pin a virtual thread's carrier anyway.
 *
 * <p>The loop ends when the read gives ENODEV: the filesystem was unmounted (by us or by umount(8)), or the
 * connection was aborted.
 *
 * <p>The server is also the filesystem's {@link FuseNotifier}: notifications are written to the same device fd.
 *
 * <p>When the kernel offers FUSE over io_uring at INIT (the fuse module's enable_uring) and the mount options allow
 * it, requests come through {@link FuseUring}'s rings instead, into the same dispatcher; this loop then only sees
 * FORGETs and INTERRUPTs, and still ends the server when the device goes.
 */
public final class FuseServer implements AutoCloseable, FuseNotifier {
    private static final Logger LOG = LoggerFactory.getLogger(FuseServer.class);
    /** A request is at most one max_write payload plus its headers; the kernel refuses smaller buffers. */
    private static final int READ_BUFFER = FuseInit.MAX_WRITE + 8192;
    /** What this process can make a pipe hold (see {@link Splicer}), probed once. */
    static final int PIPE_CAPACITY = Splicer.pipeCapacity();
    /**
     * The readahead window set after INIT (see {@link Readahead}), in KiB. {@code -Doverlayj.fuse.readaheadKib=N}
     * overrides it (for measuring).
     */
    static final int READAHEAD_KIB = Integer.getInteger("overlayj.fuse.readaheadKib", readaheadKib(PIPE_CAPACITY));

    /**
     * One max_write, so that a sequential reader's window is one READ; or a page less when the pipes this process
     * can make hold no more (pipe-max-size without CAP_SYS_RESOURCE), so that the READ's reply can be spliced.
     */
    static int readaheadKib(int pipeCapacity) {
        int spliceable = Splicer.biggestRead(pipeCapacity);
        return (spliceable >= FuseInit.MAX_WRITE / 2 ? Math.min(FuseInit.MAX_WRITE, spliceable) : FuseInit.MAX_WRITE)
                / 1024;
    }

    /**
     * How long a reader looks for the next request before it sleeps in read(2) ({@link #spinForRequest}), in
     * microseconds: {@code -Doverlayj.fuse.spinMicros=N}, 0 never.
     */
    static final long SPIN_NANOS = Long.getLong("overlayj.fuse.spinMicros", 50) * 1000;

    /**
     * How far ahead of the READs of a file read in order its data file is read at most ({@link Prefetch}), in MiB:
     * {@code -Doverlayj.fuse.prefetchMib=N}, 0 never. 64: with 16 and 32 the disk still waited (bench/README.md,
     * fuselower).
     */
    static final long PREFETCH_BYTES = Long.getLong("overlayj.fuse.prefetchMib", 64) << 20;

    private final String mountpoint;
    private final int fd;
    private final FuseDispatcher dispatcher;
    private final RawFileSystem fs;
    private final int maxThreads;
    /** Counted down when the last thread has left the loop. */
    private final CountDownLatch exited = new CountDownLatch(1);
    /** Counted down once the INIT reply was written (the kernel has then applied it), or when the loop ends. */
    private final CountDownLatch initReplied = new CountDownLatch(1);
    private volatile boolean mounted;
    /** Mounted by fusermount3 (a plain user): unmounted by it too. */
    private boolean viaFusermount;

    // The reader role, guarded by {@code roles}: whether some thread holds it, the threads waiting idle for it,
    // how many threads there are, and whether the device is gone (every thread then leaves).
    private final Object roles = new Object();
    private boolean readerHeld;
    private final ArrayDeque<Worker> idle = new ArrayDeque<>();
    private int threadCount;
    /** Times the role was handed on ({@link #roleHandoffs}). */
    private long handoffs;
    private boolean closing;
    private final ThreadLocal<Worker> current = new ThreadLocal<>();

    /** A loop thread. {@code reader} is set by whoever hands it the role; {@code holdsRole} only by itself. */
    private static final class Worker {
        final Thread thread;
        volatile boolean reader;
        boolean holdsRole;

        Worker(Thread thread) {
            this.thread = thread;
        }
    }
    /** INVAL_ENTRY messages waiting for {@link #entrySender}, which is started at the first one. */
    /** READ replies sent by splice. */
    private final LongAdder splicedReads = new LongAdder();
    private final Prefetch prefetch = new Prefetch("fuse-prefetch", PREFETCH_BYTES, Prefetch.NEAR, false);
    private final BlockingQueue<byte[]> entryNotices = new LinkedBlockingQueue<>();
    private Thread entrySender;

    // FUSE over io_uring: whether the kernel offered it, and the rings when we took the offer (set at INIT).
    private volatile boolean uringOffered;
    private volatile FuseUring uring;

    /** Where the loop's threads come from: null, threads of its own; else a server's spare threads. */
    private final java.util.concurrent.Executor threads;

    private FuseServer(String mountpoint, int fd, RawFileSystem fs, int maxThreads, boolean uringWanted,
                       java.util.concurrent.Executor threads) {
        this.threads = threads;
        this.mountpoint = mountpoint;
        this.fd = fd;
        this.fs = fs;
        this.dispatcher = new FuseDispatcher(fs);
        dispatcher.prefetch(prefetch);
        this.maxThreads = maxThreads;
        dispatcher.onUringOffer(() -> {
            uringOffered = true;
            return uringWanted && prepareUring();
        });
    }

    /**
     * At INIT, when the kernel offers io_uring: sets the rings up, as many entries per CPU queue as it takes to have
     * about as many threads as the /dev/fuse loop may have, and at least two unless the loop may have only one (-s).
     * Two, because a thread may block in a notification ({@link #invalInode}) until a client's page lock is free,
     * while that client waits for a request on the same CPU's queue: another entry of the queue must take it (the
     * loop hands its reader role on for the same reason).
     */
    private boolean prepareUring() {
        int queues = FuseUring.possibleCpus();
        int perQueue = Math.max(maxThreads > 1 ? 2 : 1, (maxThreads + queues - 1) / queues);
        uring = FuseUring.prepare(mountpoint, fd, dispatcher, queues, perQueue);
        return uring != null;
    }

    /**
     * Mounts {@code fs} on {@code mountpoint} (a byte-string path) and starts serving. Returns once the kernel's
     * INIT was answered, so the mount is usable when this returns.
     */
    public static FuseServer mount(String mountpoint, FuseMountOptions o, RawFileSystem fs) throws ErrnoException {
        FuseServer s = mountStarted(mountpoint, o, fs);
        try {
            s.awaitInit();
        } catch (ErrnoException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /**
     * As {@link #mount}, but returns as soon as mount(2) succeeded and the reader is started: a process that uses
     * the mount now waits in the kernel until INIT is answered, as with libfuse servers, which return (and daemonize)
     * before INIT. The caller must then call {@link #awaitInit} (the resident server does, after its reply).
     */
    public static FuseServer mountStarted(String mountpoint, FuseMountOptions o, RawFileSystem fs) throws ErrnoException {
        return mountStarted(mountpoint, o, fs, null);
    }

    /**
     * As above, the loop running on threads from {@code threads} (null: threads of its own): a resident server
     * keeps spare threads started, so that a mount does not wait for a new thread to be scheduled the first time
     * (Thread.start waits for that, which on a busy machine is milliseconds).
     */
    public static FuseServer mountStarted(String mountpoint, FuseMountOptions o, RawFileSystem fs,
                                          java.util.concurrent.Executor threads) throws ErrnoException {
        int fd = -1;
        boolean helped = false;
        try {
            fd = Linux.open("/dev/fuse", Linux.O_RDWR | Linux.O_CLOEXEC, 0);
            Linux.mount(o.fsname(), mountpoint, o.fsType(), o.msFlags(),
                    o.data(fd, Linux.geteuid(), Linux.getegid()));
        } catch (ErrnoException e) {
            if (fd >= 0) Linux.closeQuietly(fd);
            // a plain user: mounted by the setuid helper, as libfuse does (see Fusermount)
            boolean refused = e.errno() == Errno.EPERM || e.errno() == Errno.EACCES;
            if (!refused || !Fusermount.applies()) {
                throw new ErrnoException(e.errno(), "mount of " + mountpoint + " failed: " + e.detail());
            }
            fd = Fusermount.open(mountpoint, o);
            helped = true;
        }
        FuseServer s = new FuseServer(mountpoint, fd, fs, Math.max(1, o.threads()), o.uring(), threads);
        s.viaFusermount = helped;
        s.mounted = true;
        fs.attach(s);
        fs.attach(s.backings);
        synchronized (s.roles) {
            s.readerHeld = true;
            s.startReader();
        }
        return s;
    }

    /**
     * Waits until the kernel's INIT was answered, then raises the readahead window. EIO if INIT failed: the mount is
     * then unmounted and its loop ends; the owner closes the server, as after any exit.
     */
    public void awaitInit() throws ErrnoException {
        try {
            if (!dispatcher.initDone().await(30, TimeUnit.SECONDS) && !exited()) {
                LOG.warn("no INIT from the kernel after 30 s on {}", mountpoint);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (dispatcher.negotiated() == null) {
            unmount();
            throw new ErrnoException(Errno.EIO, "FUSE INIT failed on " + mountpoint);
        }
        try {
            // The kernel sets the window from our INIT reply when it reads it: only a later setting sticks.
            if (initReplied.await(30, TimeUnit.SECONDS) && !Readahead.set(mountpoint, READAHEAD_KIB)) {
                LOG.debug("could not raise the readahead window of {}", mountpoint);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        ReadRehearsal.mounted(this);            // the first mount of a process rehearses READs once quiet (see there)
    }

    /** Backing files are registered on our /dev/fuse fd; the kernel refuses them unless INIT agreed to passthrough. */
    private final FuseBackings backings = new FuseBackings() {
        @Override public int open(int file) throws ErrnoException {
            return Linux.fuseBackingOpen(fd, file);
        }

        @Override public void close(int id) {
            try {
                Linux.fuseBackingClose(fd, id);
            } catch (ErrnoException e) {
                LOG.debug("closing backing id {}: {}", id, e.getMessage());
            }
        }
    };

    public String mountpoint() { return mountpoint; }

    public FuseInit.Negotiated negotiated() { return dispatcher.negotiated(); }

    /** How many requests with {@code opcode} ({@link FuseOpcode}) were served. */
    public long requests(int opcode) { return dispatcher.requests(opcode); }

    /** How many READ replies were spliced from a file rather than copied through our memory. */
    public long splicedReads() { return splicedReads.sum(); }

    /** How many files were read ahead of their READs ({@link Prefetch} streams started), and how many bytes. */
    public long prefetchStreams() { return prefetch.started(); }

    public long prefetchedBytes() { return prefetch.prefetched(); }

    /** Whether the kernel offered FUSE over io_uring at INIT (the fuse module's enable_uring was on). */
    public boolean uringOffered() { return uringOffered; }

    /** Whether requests come through io_uring: the kernel offered it, the options allowed it, the rings were made. */
    public boolean uringInUse() {
        FuseInit.Negotiated n = negotiated();
        return n != null && n.has(FuseInit.OVER_IO_URING) && uring != null;
    }

    /** How many times a /dev/fuse loop thread has handed the reader role on (for tests of who reads what). */
    public long roleHandoffs() {
        synchronized (roles) {
            return handoffs;
        }
    }

    /** How many requests came through io_uring (0 on the /dev/fuse loop). */
    public long uringRequests() {
        FuseUring u = uring;
        return u == null ? 0 : u.requests();
    }

    /** Starts one more thread, holding the reader role. Caller holds {@code roles}. */
    private void startReader() {
        int n = threadCount++;
        if (threads == null) {
            Thread.ofPlatform().name("fuse-" + n).daemon(true).start(this::loop);
            return;
        }
        threads.execute(() -> {
            Thread.currentThread().setName("fuse-" + n);
            loop();
        });
    }

    /**
     * A directory listing (READDIR, READDIRPLUS) the reader may answer itself although it is not quick: no other
     * thread is working on a request and no other request is waiting. Listings are handed on so that the listings of
     * several clients do not wait for each other, but a lone walker (find, du, ls -R, an image scan) sends one
     * listing after another, each waited for: handed on, every one cost a wake-up of the thread given the role and,
     * worse, its next listing was read by that thread, asleep in read(2) (a wake-up on the critical path, of a halted
     * CPU on a VM), where the reader that keeps it looks for the next one without sleeping ({@link
     * #spinForRequest}). A cold walk of 20,222 entries on fresh mounts (seven rounds each, interleaved, medians):
     * 0.40 s with the hand-off, 0.31 single-threaded (-s), fuse-overlayfs 0.45; in a later run 0.324 with the
     * hand-off, 0.297 with this, 0.296 single-threaded, fuse-overlayfs 0.364. Where a second client's
     * request comes while the lone listing is answered, it waits for that one listing (a page of entries), and the
     * next listing sees it and is handed on.
     */
    private boolean listingAlone(int opcode) {
        if (opcode != FuseOpcode.READDIRPLUS && opcode != FuseOpcode.READDIR) return false;
        synchronized (roles) {
            // every thread but this one idle: none is working on a request
            if (threadCount - 1 != idle.size()) return false;
        }
        try {
            return requestThere() == 0;
        } catch (ErrnoException e) {
            return false;
        }
    }

    /** Gives the reader role away: to an idle thread, to a new one, or to nobody (the next free thread takes it). */
    private void passRole(Worker me) {
        me.holdsRole = false;
        synchronized (roles) {
            handoffs++;
            Worker w = idle.poll();
            if (w != null) {
                w.reader = true;
                LockSupport.unpark(w.thread);
            } else if (threadCount < maxThreads && !closing) {
                startReader();
            } else {
                readerHeld = false;
            }
        }
    }

    /** After a request worked on without the role: takes it back if free, else waits idle until handed it. */
    private boolean retakeRole(Worker me) {
        synchronized (roles) {
            if (closing) return false;
            if (!readerHeld) {
                readerHeld = true;
                me.holdsRole = true;
                return true;
            }
            idle.push(me);
        }
        while (!me.reader) {
            LockSupport.park(this);
            synchronized (roles) {
                if (closing && !me.reader) {
                    idle.remove(me);
                    return false;
                }
            }
        }
        me.reader = false;
        me.holdsRole = true;
        return true;
    }

    private void loop() {
        Worker me = new Worker(Thread.currentThread());
        me.holdsRole = true;
        current.set(me);
        boolean gone = false;
        try (Arena arena = Arena.ofConfined(); Splicer splicer = new Splicer(fd, PIPE_CAPACITY, splicedReads)) {
            Buffers bufs = new Buffers(arena.allocate(READ_BUFFER, 4096), splicer);
            while (!gone) gone = serveOne(me, bufs);
        } catch (RuntimeException | Error e) {
            LOG.error("FUSE loop for {} died", mountpoint, e);
        } finally {
            current.remove();                   // the thread may serve another mount next (a server's spare)
            leave(me, gone);
        }
    }

    /**
     * A loop thread's buffers: the request as read (native), its copy on the heap (the codec reads heap buffers),
     * the reply built and written from the heap (a critical write: no copy to native memory), and the splicer of
     * big READ replies. The two heap arrays start small and grow to the biggest request and reply the thread has
     * seen (at most one max_write each): an idle mount then holds kilobytes of heap, not megabytes, which matters
     * when one process serves many mounts.
     */
    private static final class Buffers {
        static final int INITIAL = 64 * 1024, MAX_REPLY = FuseDispatcher.OUT_HEADER + FuseInit.MAX_WRITE;
        final MemorySegment req;
        final Splicer splicer;
        byte[] heap = new byte[INITIAL], scratch = new byte[INITIAL];
        /** When this thread last finished a request ({@link System#nanoTime}), and whether to spin before the next. */
        long served, calmAfter = System.nanoTime();
        boolean spin;

        Buffers(MemorySegment req, Splicer splicer) {
            this.req = req;
            this.splicer = splicer;
        }

        /** The copy of a request of {@code n} bytes. */
        byte[] heap(int n) {
            if (n > heap.length) heap = new byte[READ_BUFFER];
            return heap;
        }

        /** A reply of {@code len} bytes did not fit the scratch array: the next one like it will. */
        void grow(int len) {
            if (len > scratch.length && scratch.length < MAX_REPLY) {
                scratch = new byte[Math.min(MAX_REPLY, Math.max(len, 2 * scratch.length))];
            }
        }
    }

    /**
     * Reads one request, answers it and sees to the reader role; true when the device is gone. A method of its own
     * rather than the body of {@link #loop}'s while: the JIT compiles a method after some calls, a loop body only
     * after many thousand iterations (on-stack replacement), so requests would run interpreted code that long.
     */
    private boolean serveOne(Worker me, Buffers bufs) {
        long n;
        try {
            int spun = bufs.spin && uring == null && CpuToSpare.now() ? spinForRequest(bufs.served) : 0;
            if (spun < 0) bufs.calmAfter = System.nanoTime() + SpinWait.CONTENDED_PAUSE_NANOS;
            n = Linux.read(fd, bufs.req);
            // Spin before the next one when this one came soon after the last, even though we slept meanwhile (the
            // client is in a run of calls), unless this very wait was a spin that found nothing or lost the CPU.
            if (SPIN_NANOS > 0 && spun <= 0) {
                long now = System.nanoTime();
                bufs.spin = !bufs.spin && now - bufs.served < ARM_NANOS && now - bufs.calmAfter > 0;
            }
        } catch (ErrnoException e) {
            int err = e.errno();
            if (err == Errno.EINTR || err == Errno.EAGAIN || err == Errno.ENOENT) return false;
            if (err != Errno.ENODEV) LOG.error("reading /dev/fuse for {} failed", mountpoint, e);
            return true;
        }
        byte[] heap = bufs.heap((int) n);
        MemorySegment.copy(bufs.req, ValueLayout.JAVA_BYTE, 0, heap, 0, (int) n);
        int opcode = n >= 8 ? bufs.req.get(ValueLayout.JAVA_INT_UNALIGNED, 4) : -1;
        long nodeid = n >= 24 ? bufs.req.get(ValueLayout.JAVA_LONG_UNALIGNED, 16) : 0;
        int firstWord = n >= FuseDispatcher.IN_HEADER + 4
                ? bufs.req.get(ValueLayout.JAVA_INT_UNALIGNED, FuseDispatcher.IN_HEADER) : 0;
        if (maxThreads > 1 && !fs.quick(opcode, nodeid, firstWord) && !listingAlone(opcode)) passRole(me);
        ByteBuffer reply = dispatcher.dispatch(ByteBuffer.wrap(heap, 0, (int) n), bufs.scratch, bufs.splicer);
        if (reply != null) {
            if (reply.hasArray() && reply.array() != bufs.scratch) bufs.grow(reply.remaining());
            try {
                Linux.write(fd, reply.array(), reply.arrayOffset() + reply.position(), reply.remaining());
            } catch (ErrnoException e) {
                // ENOENT: the request was interrupted and is gone; nothing to do.
                if (e.errno() == Errno.ENODEV) return true;
                if (e.errno() != Errno.ENOENT) LOG.warn("reply to {} failed: {}", mountpoint, e.getMessage());
            }
        }
        bufs.served = System.nanoTime();
        if (opcode == FuseOpcode.INIT && dispatcher.negotiated() != null) {
            // the kernel took the reply (and with it OVER_IO_URING) when the write returned: rings may register now
            if (dispatcher.negotiated().has(FuseInit.OVER_IO_URING) && uring != null) uring.start();
            initReplied.countDown();
        }
        return !me.holdsRole && !retakeRole(me);
    }

    /**
     * Looks for the next request until {@link #SPIN_NANOS} after {@code since} (the end of the last request this
     * thread served), without sleeping: 1 once one is there (read(2) then returns at once), 0 when the window ended
     * without one, -1 when this thread lost its CPU meanwhile. A client making one call after another (a create is
     * four requests in a row, each waited for) sends its next request a few microseconds after our reply: a reader
     * asleep in read(2) must then be woken, and on a VM whose idle CPUs halt that is the wake-up of a halted virtual
     * CPU, per request. Bounded: the loop runs only while the last gap was short ({@code Buffers.spin}); a window
     * that ends with no request turns it off until a request again comes within the window of the last one; and
     * where other threads want the CPU (a step of the loop took far longer than its two system calls: another
     * thread ran) it is off for {@link SpinWait#CONTENDED_PAUSE_NANOS}, as it is while more threads are runnable
     * than there are CPUs ({@link CpuToSpare}): a machine whose CPUs are never idle has no halted CPU to wake, and
     * the loop would only take time from others (the client among them).
     */
    private int spinForRequest(long since) throws ErrnoException {
        return SpinWait.until(since, SPIN_NANOS, requestThere);
    }

    /** One look of {@link #spinForRequest}: whether /dev/fuse has a request (a signal: look again). */
    private int requestThere() throws ErrnoException {
        try {
            return Linux.poll(fd, Linux.POLLIN, 0) != 0 ? 1 : 0;
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EINTR) throw e;
            return 0;
        }
    }

    private final SpinWait.Look requestThere = this::requestThere;

    /**
     * A request that came within this after the last (asleep in read(2): the gap includes the wake-ups) makes the
     * reader spin before the next one.
     */
    private static final long ARM_NANOS = 2 * SPIN_NANOS;

    /**
     * A thread leaves the loop. When the device is gone the others leave too: idle ones are woken, busy ones see
     * {@code closing} when done, and the one in read(2) gets ENODEV. A thread that died of a bug passes its role on.
     */
    private void leave(Worker me, boolean gone) {
        if (!gone && me.holdsRole) passRole(me);
        boolean last;
        synchronized (roles) {
            if (gone) closing = true;
            idle.remove(me);
            if (closing) for (Worker w : idle) LockSupport.unpark(w.thread);
            last = --threadCount == 0;
        }
        if (!last) return;
        initReplied.countDown();
        mounted = false;
        FuseUring u = uring;
        if (u != null) u.close();           // the device is gone: its commands have ended or end now
        prefetch.close();
        synchronized (entryNotices) {
            if (entrySender != null) entrySender.interrupt();
        }
        if (!dispatcher.destroyed()) fs.destroy();
        exited.countDown();
    }

    // --- notifications ---------------------------------------------------------------------------------------------

    @Override public void invalInode(long nodeid, long off, long len) {
        // Dropping pages waits for their locks, which a client may hold while it waits for a request of ours
        // (a page fault in getdents(2) on a directory's cached listing): someone else must be reading meanwhile.
        Worker me = current.get();
        if (off >= 0 && me != null && me.holdsRole && maxThreads > 1) passRole(me);
        send(FuseCodec.invalInode(nodeid, off, len));
    }

    @Override public void invalEntryLater(long parent, String name) {
        synchronized (entryNotices) {
            if (entrySender == null) {
                entrySender = Thread.ofPlatform().name("fuse-notify").daemon(true).start(this::sendEntries);
            }
        }
        entryNotices.add(FuseCodec.invalEntry(parent, name));
    }

    private void sendEntries() {
        try {
            while (!exited()) send(entryNotices.take());
        } catch (InterruptedException e) {
            // closing
        }
    }

    /**
     * One notification, in one write(2). Not the critical write of the replies: the kernel may wait for page or
     * inode locks while it handles a notification, and a critical call would hold up the garbage collector.
     */
    private void send(byte[] message) {
        if (!mounted) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(message.length);
            MemorySegment.copy(message, 0, m, ValueLayout.JAVA_BYTE, 0, message.length);
            Linux.write(fd, m);
        } catch (ErrnoException e) {
            // ENOENT: the kernel has no such inode or name cached any more, so there was nothing to drop.
            if (e.errno() != Errno.ENOENT && e.errno() != Errno.ENODEV) {
                LOG.warn("notification to {} failed: {}", mountpoint, e.getMessage());
            }
        }
    }

    private boolean exited() {
        return exited.getCount() == 0;
    }

    /** Blocks until the loop has ended (the filesystem was unmounted). */
    public void awaitExit() throws InterruptedException {
        exited.await();
    }

    public boolean awaitExit(long timeout, TimeUnit unit) throws InterruptedException {
        return exited.await(timeout, unit);
    }

    /** Unmounts (lazily if busy); the loop then ends with ENODEV. Safe to call more than once. */
    public void unmount() {
        if (exited()) return;
        if (viaFusermount) {
            unmountByHelper();
            return;
        }
        try {
            Linux.umount(mountpoint, 0);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EBUSY) {
                try {
                    Linux.umount(mountpoint, Linux.MNT_DETACH);
                } catch (ErrnoException e2) {
                    LOG.warn("lazy unmount of {} failed: {}", mountpoint, e2.getMessage());
                }
            } else if (e.errno() != Errno.EINVAL && e.errno() != Errno.ENOENT) {
                LOG.warn("unmount of {} failed: {}", mountpoint, e.getMessage());
            }
        }
    }

    private void unmountByHelper() {
        try {
            Fusermount.unmount(mountpoint, false);
        } catch (ErrnoException e) {
            try {
                Fusermount.unmount(mountpoint, true);
            } catch (ErrnoException e2) {
                LOG.warn("unmount of {} failed: {}", mountpoint, e2.getMessage());
            }
        }
    }

    /** Unmounts, waits for the loop to end, closes the device. */
    @Override public void close() {
        unmount();
        try {
            if (!exited.await(20, TimeUnit.SECONDS)) {
                LOG.warn("FUSE loop for {} still running after unmount", mountpoint);
                return;                       // keep the fd: closing it under a live reader helps no one
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        Linux.closeQuietly(fd);
        if (viaFusermount) Fusermount.release(mountpoint);
    }
}
