package org.overlayj.core;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

/**
 * The data of a large copy-up moved with O_DIRECT on both files, where no reflink is possible.
 *
 * <p>Why: a copy through the page cache (copy_file_range on ext4 splices page by page) first fills 2x the file in
 * cache pages (the lower file read, the copy dirtied), then writes the copy at the fsync. Direct reads and writes
 * move the same bytes with no cache pages to allocate or reclaim, and the copy does not evict the working set. On
 * this project's test VM (virtio disk, ext4), a cold 512 MiB copy plus fsync took a median 0.56 s through
 * copy_file_range and 0.54 s direct, 4 MiB per call; through the FUSE door 0.74 vs 0.557 (bench/README). Direct
 * reads of a lower file that is already cached would go to the disk again, so {@link CopyUp} asks
 * {@link #worthIt} first.
 *
 * <p>Direct I/O wants offsets, lengths and buffers aligned to the device's logical block: offsets here come from
 * SEEK_DATA (filesystem blocks) and whole chunks; the last write is rounded up and the caller's ftruncate cuts it
 * back. Anything refused (EINVAL) ends the direct part and the caller copies the rest its usual way. A copy of
 * more than a chunk moves up to {@link #WORKERS} chunks at a time ({@link Range}). The chunks are huge pages
 * ({@link Buffer}): each is one disk request, not eight.
 */
final class DirectCopy implements AutoCloseable {
    static final int CHUNK = 4 << 20;
    private static final long ALIGN = 4096;
    private static final long PAGE = 4096;
    /** A transparent huge page (x86-64): the chunks are aligned to it, see {@link Buffer}. */
    private static final long HUGE = 2 << 20;
    /** Files smaller than this are copied through the cache: direct I/O has a fixed cost per call and per file. */
    static final long MIN = 8L << 20;
    /**
     * How many chunks a copy moves at a time (its thread and helpers, see {@link Range}); 1: one read then one
     * write, no helper thread. {@code -Doverlayj.copyWorkers=N} to choose (what pays depends on the disk's queue).
     */
    static final int WORKERS = Math.max(1, Math.min(16, Integer.getInteger("overlayj.copyWorkers", 3)));
    /** Chunks kept for the next copies (a copy of more than a chunk takes one per worker): more than one copy at a
     * time is rare, memory stays small. */
    private static final ConcurrentLinkedQueue<Buffer> FREE = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger KEPT = new AtomicInteger();
    private static final int KEEP = WORKERS;
    /** Copies that went direct (tests). */
    static final LongAdder started = new LongAdder();
    /** Direct copies of more than a chunk that had helper threads (tests). */
    static final LongAdder parallel = new LongAdder();
    /** Chunks made and advised to be huge pages (tests). */
    static final LongAdder hugeChunks = new LongAdder();

    /**
     * A chunk's memory: {@code seg}, CHUNK bytes on a huge-page boundary inside {@code mapping}, which is what gets
     * unmapped. Why huge pages: a direct read or write is one disk request per physically contiguous run of the
     * buffer (up to the queue's max_sectors_kb), and a buffer of 4 KiB pages is a scatter list of 1,024 pieces that
     * the block layer splits at the device's max_segments: on this project's VM (virtio, 254 segments) 4 MiB chunks
     * went to the disk as ~500 KiB requests, 1,000 reads and 1,000 writes per 512 MiB, where two 2 MiB pages make
     * one 4 MiB request (129 and 132). A 512 MiB copy plus fsync (C, interleaved, load 8-12 on 2 cores): 0.87-0.93
     * s with small pages, 0.44-0.49 s with huge ones (bench/README.md, "Results, 2026-12-07").
     */
    private record Buffer(MemorySegment mapping, MemorySegment seg) {
    }

    private final int in;
    private final int out;
    private final int inFlags;
    private final int outFlags;
    private Buffer buf;

    private DirectCopy(int in, int inFlags, int out, int outFlags) {
        this.in = in;
        this.inFlags = inFlags;
        this.out = out;
        this.outFlags = outFlags;
    }

    /**
     * Whether the first {@code size} bytes of {@code in} are worth reading direct: not when half or more of them are
     * cached already (a file just read, say), which a copy through the cache gets at memory speed (a cached 512 MiB
     * lower file: 0.37 s through the cache, 0.55 s direct, fsync included). Unknown (no cachestat(2) before Linux
     * 6.5): direct.
     */
    static boolean worthIt(int in, long size) {
        if (size < MIN) return false;
        try {
            return Linux.cachedPages(in, 0, size) * PAGE < size / 2;
        } catch (ErrnoException e) {
            return true;
        }
    }

    /**
     * Both files switched to O_DIRECT, or null when either filesystem refuses it (tmpfs before Linux 6.6, FUSE
     * without direct I/O...): the caller copies through the cache.
     */
    static DirectCopy open(int in, int out) {
        int inFlags;
        int outFlags;
        try {
            inFlags = Linux.fileFlags(in);
            outFlags = Linux.fileFlags(out);
        } catch (ErrnoException e) {
            return null;
        }
        try {
            Linux.setFileFlags(in, inFlags | Linux.O_DIRECT);
        } catch (ErrnoException e) {
            return null;
        }
        try {
            Linux.setFileFlags(out, outFlags | Linux.O_DIRECT);
        } catch (ErrnoException e) {
            restore(in, inFlags);
            return null;
        }
        started.increment();
        return new DirectCopy(in, inFlags, out, outFlags);
    }

    /**
     * Copies the bytes from {@code pos} (aligned) up to {@code end}, at the same offsets in both files; returns how
     * many it copied from {@code pos} on, all of them unless the input ended first (a short read) or a direct read
     * or write was refused: the caller copies the rest through the cache. The last block written may carry bytes
     * past what it counts, which the caller's ftruncate (or its next write) replaces.
     *
     * <p>More than one chunk: up to {@link #WORKERS} chunks at a time ({@link Range}), else one read then one write.
     */
    long copy(long pos, long end) {
        if (pos % ALIGN != 0 || pos >= end) return 0;
        if (buf == null) buf = take();
        if (buf == null) return 0;
        Range r = new Range(this, pos, end);
        long chunks = (end - pos + CHUNK - 1) / CHUNK;
        Thread[] helpers = new Thread[(int) Math.min(WORKERS, chunks) - 1];
        int started = 0;
        try {
            for (; started < helpers.length; started++) {
                helpers[started] = Thread.ofPlatform().name("overlayj-copy").daemon().start(r::help);
            }
        } catch (OutOfMemoryError | RuntimeException e) {
            // no more threads to be had: fewer chunks at a time
        }
        if (started > 0) parallel.increment();
        r.work(buf);
        for (int i = 0; i < started; i++) joinUninterruptibly(helpers[i]);
        return r.done();
    }

    /** One read of up to a chunk at {@code at} into {@code b}: the bytes read below {@code end}, 0 at the end. */
    private long readChunk(Buffer b, long at, long end) throws ErrnoException {
        long want = Math.min(end - at, CHUNK);
        long n = Linux.pread(in, b.seg.asSlice(0, roundUp(want)), at);
        return n <= 0 ? 0 : Math.min(n, want);
    }

    /** Writes the {@code n} bytes read at {@code at}, rounded up to a whole block (direct I/O writes blocks). */
    private void writeChunk(Buffer b, long at, long n) throws ErrnoException {
        MemorySegment data = b.seg.asSlice(0, roundUp(n));
        long w = 0;
        while (w < data.byteSize()) w += Linux.pwrite(out, data.asSlice(w), at + w);
    }

    /**
     * The chunks of one {@link #copy}, taken in file order by the copying thread and its helpers, each of which reads
     * a chunk and then writes it: with three at work the disk has reads and writes in flight together, and more than
     * one read (one direct read of 4 MiB at a time kept a virtio disk at ~2/3 of what two at a time did). On this
     * project's VM, direct 512 MiB copies plus fsync (C, medians of interleaved runs, load 16-19 on 2 cores): one
     * chunk at a time 1.49 s, a reader thread ahead of the writes 1.35 s, two workers 1.21 s, three 1.15 s, four
     * 1.18 s (bench/README.md, "Results, 2026-12-06 23:00Z"). Helpers are platform threads: a blocking native call
     * would hold a virtual thread's carrier. Writes may land a few chunks out of order; on ext4 the copy still had as
     * many extents as a serial one (filefrag of a 512 MiB copy-up: 9 and 9 against 9 and 10).
     *
     * <p>A chunk once taken is finished (or fails) before its thread looks at {@link #stop}, and chunks are taken in
     * order, so every chunk below the first one that fell short (the input's end) or failed is complete: that is
     * what {@link #done} counts.
     */
    private static final class Range {
        private final DirectCopy c;
        private final long start;
        private final long end;
        private final java.util.concurrent.atomic.AtomicLong next = new java.util.concurrent.atomic.AtomicLong();
        private volatile boolean stop;
        /** The lowest offset where a chunk fell short or failed; {@code end} while none did. */
        private long stoppedAt;

        Range(DirectCopy c, long start, long end) {
            this.c = c;
            this.start = start;
            this.end = end;
            this.stoppedAt = end;
        }

        /** A helper thread: works with a buffer of its own. */
        void help() {
            Buffer b = take();
            if (b == null) return;
            try {
                work(b);
            } finally {
                give(b);
            }
        }

        void work(Buffer b) {
            while (!stop) {
                long at = start + next.getAndIncrement() * CHUNK;
                if (at >= end) return;
                long want = Math.min(end - at, CHUNK);
                long copied;
                try {
                    copied = c.readChunk(b, at, end);
                    if (copied > 0) c.writeChunk(b, at, copied);
                } catch (ErrnoException | RuntimeException e) {
                    copied = 0;                     // refused: from here on through the cache
                }
                if (copied < want) {
                    stopAt(at + copied);
                    return;
                }
            }
        }

        private synchronized void stopAt(long at) {
            stop = true;
            stoppedAt = Math.min(stoppedAt, at);
        }

        synchronized long done() {
            return stoppedAt - start;
        }
    }

    /** join(), waiting on through interrupts (the helper uses the fds the caller closes next); the interrupt stays. */
    private static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        for (;;) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    private static long roundUp(long n) {
        return (n + ALIGN - 1) & -ALIGN;
    }

    /** Both files back to their own flags; the chunk back to the pool. */
    @Override
    public void close() {
        restore(in, inFlags);
        restore(out, outFlags);
        if (buf != null) give(buf);
        buf = null;
    }

    private static void restore(int fd, int flags) {
        try {
            Linux.setFileFlags(fd, flags);
        } catch (ErrnoException ignored) {
            // the fd goes on with O_DIRECT: still correct, only slower for small I/O
        }
    }

    /**
     * A chunk from the pool, else a new one; null when no memory can be mapped (the caller copies through the
     * cache, or a helper does not help).
     */
    private static Buffer take() {
        Buffer b = FREE.poll();
        if (b != null) {
            KEPT.decrementAndGet();
            return b;
        }
        MemorySegment m;
        try {
            m = Linux.mapAnonymous(CHUNK + HUGE);
        } catch (ErrnoException e) {
            return null;
        }
        MemorySegment seg = m.asSlice(-m.address() & (HUGE - 1), CHUNK);
        try {
            Linux.madvise(seg, Linux.MADV_HUGEPAGE);
            hugeChunks.increment();
        } catch (ErrnoException e) {
            // no transparent huge pages in this kernel: small pages, smaller requests, the same bytes
        }
        return new Buffer(m, seg);
    }

    private static void give(Buffer b) {
        if (KEPT.incrementAndGet() <= KEEP) {
            FREE.add(b);
        } else {
            KEPT.decrementAndGet();
            Linux.unmapAnonymous(b.mapping);
        }
    }
}
