package org.overlayj.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One io_uring (Linux 5.1+): the submission and completion rings shared with the kernel, mapped into our memory,
 * and the two system calls that drive them. Nothing FUSE-specific lives here.
 *
 * <p>The rings are single-producer, single-consumer queues of indices: we write SQEs and publish them by moving the
 * SQ tail, the kernel consumes them and moves the SQ head; the kernel writes CQEs and moves the CQ tail, we consume
 * them and move the CQ head. Each index the other side reads is published with a release store and each index it
 * writes is read with an acquire load (the C library's smp_store_release / smp_load_acquire), through {@link
 * VarHandle} access modes on the mapped memory.
 *
 * <p>Not thread-safe: one thread owns a ring (it fills SQEs, enters, and reaps CQEs).
 */
public final class IoUring implements AutoCloseable {
    // --- constants (linux/io_uring.h, x86-64) ---------------------------------------------------------------------
    public static final int OP_POLL_ADD = 6, OP_URING_CMD = 46;
    /** Setup flags: CQ size given in the params; 128-byte SQEs (80 bytes of command data for URING_CMD). */
    public static final int SETUP_CQSIZE = 1 << 3, SETUP_SQE128 = 1 << 10;
    private static final int FEAT_SINGLE_MMAP = 1;
    private static final int ENTER_GETEVENTS = 1;
    private static final long OFF_SQ_RING = 0, OFF_CQ_RING = 0x8000000L, OFF_SQES = 0x10000000L;
    /** Where a URING_CMD's command data starts in its SQE (sqe->cmd), and how much of it a 128-byte SQE has. */
    public static final int SQE_CMD = 48, SQE_CMD_SIZE = 80;
    /** SQE field offsets. */
    public static final int SQE_OPCODE = 0, SQE_FD = 4, SQE_CMD_OP = 8, SQE_ADDR = 16, SQE_LEN = 24,
            SQE_OP_FLAGS = 28, SQE_USER_DATA = 32;
    private static final int CQE_SIZE = 16;
    private static final long SYS_IO_URING_SETUP = 425, SYS_IO_URING_ENTER = 426;
    private static final int PROT_READ_WRITE = 3, MAP_SHARED_POPULATE = 0x01 | 0x8000;

    // --- linking -----------------------------------------------------------------------------------------------
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    /** An int in the shared ring memory: coordinates (segment, offset). */
    private static final VarHandle INT = JAVA_INT.varHandle();

    private static MethodHandle fn(String name, FunctionDescriptor fd, int firstVariadic) {
        MemorySegment sym = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        return firstVariadic < 0 ? LINKER.downcallHandle(sym, fd, capture)
                : LINKER.downcallHandle(sym, fd, capture, Linker.Option.firstVariadicArg(firstVariadic));
    }

    // Holder classes: a handle is made on first use, so loading this class costs nothing to a JVM that never
    // sets up a ring (see Linux's holders for why that matters at start).
    private static final class Setup {      // long syscall(SYS_io_uring_setup, unsigned entries, params *)
        static final MethodHandle H = fn("syscall",
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS), 1);
    }
    private static final class Enter {      // syscall(SYS_io_uring_enter, fd, to_submit, min_complete, flags, sig, sz)
        static final MethodHandle H = fn("syscall", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG), 1);
    }
    private static final class Mmap {
        static final MethodHandle H = fn("mmap", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_LONG), -1);
    }
    private static final class Munmap {
        static final MethodHandle H = fn("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), -1);
    }
    private static final class EventFd {
        static final MethodHandle H = fn("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), -1);
    }

    private static final class SetAffinity {   // int sched_setaffinity(pid_t, size_t, const cpu_set_t *)
        static final MethodHandle H = fn("sched_setaffinity",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), -1);
    }

    private static IllegalStateException bug(Throwable t) {
        return new IllegalStateException("native call failed: " + t, t);
    }

    // --- one ring ----------------------------------------------------------------------------------------------
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment errno = arena.allocate(CAPTURE);
    private final MemorySegment sqRing, cqRing, sqes;
    private final long sqRingSize, cqRingSize, sqesSize;
    private final boolean singleMmap;
    private final int sqeSize;
    // offsets in the rings (struct io_sqring_offsets / io_cqring_offsets)
    private final long sqHead, sqTail, sqArray, cqHead, cqTail, cqes;
    private final int sqMask, cqMask, sqEntries;
    /** Our copies of the indices we own: SQEs written up to sqLocalTail, CQEs consumed up to cqLocalHead. */
    private int sqLocalTail, cqLocalHead;
    /** The CQE last taken by {@link #nextCompletion()}. */
    private long cqeUserData;
    private int cqeRes;
    private boolean closed;

    private IoUring(int fd, MemorySegment params, int flags) throws ErrnoException {
        this.fd = fd;
        this.sqeSize = (flags & SETUP_SQE128) != 0 ? 128 : 64;
        int sqN = params.get(JAVA_INT, 0), cqN = params.get(JAVA_INT, 4), features = params.get(JAVA_INT, 20);
        this.sqEntries = sqN;
        long sq = 40, cq = 80;                       // io_uring_params.sq_off, .cq_off
        sqHead = params.get(JAVA_INT, sq);
        sqTail = params.get(JAVA_INT, sq + 4);
        long sqMaskOff = params.get(JAVA_INT, sq + 8);
        sqArray = params.get(JAVA_INT, sq + 24);
        cqHead = params.get(JAVA_INT, cq);
        cqTail = params.get(JAVA_INT, cq + 4);
        long cqMaskOff = params.get(JAVA_INT, cq + 8);
        cqes = params.get(JAVA_INT, cq + 20);
        long sqSize = sqArray + 4L * sqN, cqSize = cqes + (long) CQE_SIZE * cqN;
        singleMmap = (features & FEAT_SINGLE_MMAP) != 0;
        if (singleMmap) sqSize = cqSize = Math.max(sqSize, cqSize);
        sqRingSize = sqSize;
        cqRingSize = cqSize;
        sqesSize = (long) sqeSize * sqN;
        MemorySegment sqm = null, cqm = null, sqe = null;
        try {
            sqm = mmap(sqSize, OFF_SQ_RING);
            cqm = singleMmap ? sqm : mmap(cqSize, OFF_CQ_RING);
            sqe = mmap(sqesSize, OFF_SQES);
        } catch (ErrnoException e) {
            unmap(sqm, sqSize);
            if (!singleMmap) unmap(cqm, cqSize);
            throw e;
        }
        sqRing = sqm;
        cqRing = cqm;
        sqes = sqe;
        sqMask = sqRing.get(JAVA_INT, sqMaskOff);
        cqMask = cqRing.get(JAVA_INT, cqMaskOff);
        sqLocalTail = (int) INT.getAcquire(sqRing, sqTail);
        cqLocalHead = (int) INT.getAcquire(cqRing, cqHead);
    }

    /**
     * io_uring_setup(2) with {@code entries} SQ entries, twice as many CQ entries, and {@code flags} (e.g. {@link
     * #SETUP_SQE128}); maps its rings. ENOSYS or EPERM where io_uring is missing or switched off
     * (kernel.io_uring_disabled).
     */
    public static IoUring setup(int entries, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment errno = a.allocate(CAPTURE);
            MemorySegment params = a.allocate(120, 8);
            params.fill((byte) 0);
            params.set(JAVA_INT, 4, entries * 2);      // cq_entries (with SETUP_CQSIZE)
            params.set(JAVA_INT, 8, flags | SETUP_CQSIZE);
            long rc;
            try {
                rc = (long) Setup.H.invokeExact(errno, SYS_IO_URING_SETUP, entries, params);
            } catch (Throwable t) {
                throw bug(t);
            }
            if (rc < 0) throw new ErrnoException((int) ERRNO.get(errno, 0L), "io_uring_setup(" + entries + ")");
            int fd = (int) rc;
            try {
                return new IoUring(fd, params, flags | SETUP_CQSIZE);
            } catch (ErrnoException | RuntimeException e) {
                Linux.closeQuietly(fd);
                throw e;
            }
        }
    }

    private MemorySegment mmap(long size, long offset) throws ErrnoException {
        MemorySegment p;
        try {
            p = (MemorySegment) Mmap.H.invokeExact(errno, MemorySegment.NULL, size, PROT_READ_WRITE,
                    MAP_SHARED_POPULATE, fd, offset);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (p.address() == -1L) throw new ErrnoException((int) ERRNO.get(errno, 0L), "mmap of io_uring " + fd);
        return p.reinterpret(size);
    }

    private void unmap(MemorySegment m, long size) {
        if (m == null) return;
        try {
            int ignored = (int) Munmap.H.invokeExact(errno, m, size);     // only fails for a bad address: a bug
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    public int fd() { return fd; }

    /**
     * The next free SQE, zeroed, or null when the SQ is full. It is published by {@link #enter} (all SQEs taken
     * since the last one go in order).
     */
    public MemorySegment nextSqe() {
        int head = (int) INT.getAcquire(sqRing, sqHead);
        if (sqLocalTail - head >= sqEntries) return null;
        int index = sqLocalTail & sqMask;
        MemorySegment sqe = sqes.asSlice((long) index * sqeSize, sqeSize);
        sqe.fill((byte) 0);
        sqRing.set(JAVA_INT, sqArray + 4L * index, index);
        sqLocalTail++;
        return sqe;
    }

    /**
     * Publishes the SQEs taken and submits those the kernel has not consumed yet, then waits until at least {@code
     * waitFor} completions are there (0: no waiting). EINTR when a signal interrupted the wait: SQEs not consumed
     * stay queued and go with the next call.
     */
    public void enter(int waitFor) throws ErrnoException {
        INT.setRelease(sqRing, sqTail, sqLocalTail);
        int toSubmit = sqLocalTail - (int) INT.getAcquire(sqRing, sqHead);
        long rc;
        try {
            rc = (long) Enter.H.invokeExact(errno, SYS_IO_URING_ENTER, fd, toSubmit, waitFor,
                    waitFor > 0 ? ENTER_GETEVENTS : 0, MemorySegment.NULL, 0L);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw new ErrnoException((int) ERRNO.get(errno, 0L), "io_uring_enter(" + fd + ")");
    }

    /**
     * Takes the next completion, if any: true and its user data and result in {@link #userData()} and {@link
     * #result()}; false when the CQ is empty.
     */
    public boolean nextCompletion() {
        int tail = (int) INT.getAcquire(cqRing, cqTail);
        if (cqLocalHead == tail) return false;
        long at = cqes + (long) (cqLocalHead & cqMask) * CQE_SIZE;
        cqeUserData = cqRing.get(JAVA_LONG, at);
        cqeRes = cqRing.get(JAVA_INT, at + 8);
        cqLocalHead++;
        // the kernel may reuse the slot once it sees the new head
        INT.setRelease(cqRing, cqHead, cqLocalHead);
        return true;
    }

    public long userData() { return cqeUserData; }

    /** The completion's result: >= 0, or a negative errno. */
    public int result() { return cqeRes; }

    /** Unmaps the rings and closes the ring fd; the kernel then cancels whatever is still in flight. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        unmap(sqes, sqesSize);
        if (!singleMmap) unmap(cqRing, cqRingSize);
        unmap(sqRing, sqRingSize);
        Linux.closeQuietly(fd);
        arena.close();
    }

    /** eventfd(2): a counter a thread can poll on, and another write to, to wake it. */
    public static int eventfd(int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment errno = a.allocate(CAPTURE);
            int rc;
            try {
                rc = (int) EventFd.H.invokeExact(errno, 0, flags);
            } catch (Throwable t) {
                throw bug(t);
            }
            if (rc < 0) throw new ErrnoException((int) ERRNO.get(errno, 0L), "eventfd");
            return rc;
        }
    }

    public static final int EFD_CLOEXEC = 02000000;

    /**
     * sched_setaffinity(2) of the calling thread to CPU {@code cpu} alone: for a thread that serves one CPU's queue
     * of a ring-based protocol (EINVAL for a CPU that is not online).
     */
    public static void pinCallingThread(int cpu) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment errno = a.allocate(CAPTURE);
            MemorySegment mask = a.allocate(128, 8);            // cpu_set_t: 1024 CPUs
            mask.fill((byte) 0);
            if (cpu < 0 || cpu >= 1024) throw new ErrnoException(Errno.EINVAL, "cpu " + cpu);
            mask.set(JAVA_LONG, 8L * (cpu / 64), 1L << (cpu % 64));
            int rc;
            try {
                rc = (int) SetAffinity.H.invokeExact(errno, 0, 128L, mask);
            } catch (Throwable t) {
                throw bug(t);
            }
            if (rc < 0) throw new ErrnoException((int) ERRNO.get(errno, 0L), "sched_setaffinity(cpu " + cpu + ")");
        }
    }
}
