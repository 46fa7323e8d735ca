package org.overlayj.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import org.overlayj.sys.Errno;
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
 * back. Anything refused (EINVAL) ends the direct part and the caller copies the rest its usual way.
 */
final class DirectCopy implements AutoCloseable {
    static final int CHUNK = 4 << 20;
    private static final long ALIGN = 4096;
    private static final long PAGE = 4096;
    /** Files smaller than this are copied through the cache: direct I/O has a fixed cost per call and per file. */
    static final long MIN = 8L << 20;
    /** Chunks kept for the next copies (a copy of more than a chunk takes two): more than one copy at a time is
     * rare, memory stays small. */
    private static final ConcurrentLinkedQueue<Buffer> FREE = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger KEPT = new AtomicInteger();
    private static final int KEEP = 2;
    /** Copies that went direct (tests). */
    static final LongAdder started = new LongAdder();
    /** Direct copies of more than a chunk whose reads ran ahead on a second thread (tests). */
    static final LongAdder pipelined = new LongAdder();

    private record Buffer(Arena arena, MemorySegment seg) {
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
     * <p>More than one chunk: read ahead of the writes by a second thread (see {@link Pipe}), else one read then
     * one write.
     */
    long copy(long pos, long end) {
        if (pos % ALIGN != 0 || pos >= end) return 0;
        if (end - pos > CHUNK) {
            Pipe p = Pipe.start(this, pos, end);
            if (p != null) return p.drain();
        }
        if (buf == null) buf = take();
        long done = 0;
        try {
            while (pos + done < end) {
                long n = readChunk(buf, pos + done, end);
                if (n <= 0) break;
                writeChunk(buf, pos + done, n);
                done += n;
                if (n % ALIGN != 0) break;          // a short read: the input ended
            }
        } catch (ErrnoException e) {
            // refused here: the caller goes on through the cache from what was copied
        }
        return done;
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
     * The reads of a copy done one chunk ahead of its writes, by a platform thread of its own (a blocking native
     * call would hold a virtual thread's carrier): the disk then reads chunk i+1 while chunk i is written, and the
     * copy takes about as long as the slower of the two streams instead of their sum. On this project's VM (virtio
     * disk, ext4, 512 MiB, direct 4 MiB calls, fsync included, load ~5-10 on 2 cores, medians of interleaved runs):
     * see bench/README.md "copy-up". Reads and writes stay in file order, so the copy is laid out as a serial
     * one would be; the copying thread waits for the reader before it returns, whatever happened, so nothing
     * touches the fds or the buffers after {@link #copy} returns.
     */
    private static final class Pipe implements Runnable {
        private static final int BUFFERS = 2;
        /** A read chunk, or the reader's end (buffer null). */
        private record Chunk(Buffer b, long at, long n) {}
        private static final Chunk END = new Chunk(null, 0, 0);

        private final DirectCopy c;
        private final long start;
        private final long end;
        private final java.util.concurrent.ArrayBlockingQueue<Buffer> free =
                new java.util.concurrent.ArrayBlockingQueue<>(BUFFERS);
        private final java.util.concurrent.ArrayBlockingQueue<Chunk> read =
                new java.util.concurrent.ArrayBlockingQueue<>(BUFFERS + 1);
        /** Set by the writer when it stops early: the reader reads no more. */
        private volatile boolean stop;

        private Pipe(DirectCopy c, long start, long end) {
            this.c = c;
            this.start = start;
            this.end = end;
        }

        static Pipe start(DirectCopy c, long start, long end) {
            Pipe p = new Pipe(c, start, end);
            for (int i = 0; i < BUFFERS; i++) p.free.add(take());
            try {
                Thread.ofPlatform().name("overlayj-copy").daemon().start(p);
            } catch (OutOfMemoryError | RuntimeException e) {    // no thread to be had: serial
                Buffer b;
                while ((b = p.free.poll()) != null) give(b);
                return null;
            }
            pipelined.increment();
            return p;
        }

        /** The reader: chunks in file order until the end, a short or refused read, or the writer's stop. */
        @Override public void run() {
            long at = start;
            try {
                while (at < end && !stop) {
                    Buffer b = takeUninterruptibly(free);
                    long n;
                    try {
                        n = c.readChunk(b, at, end);
                    } catch (ErrnoException | RuntimeException e) {
                        n = 0;
                    }
                    if (n <= 0) {
                        free.add(b);
                        break;
                    }
                    read.add(new Chunk(b, at, n));
                    if (n % ALIGN != 0) break;      // a short read: the input ended
                    at += n;
                }
            } finally {
                read.add(END);
            }
        }

        /** The writer, on the caller's thread: writes what was read, in order; returns the bytes copied. */
        long drain() {
            long done = 0;
            boolean failed = false;
            for (;;) {
                Chunk k = takeUninterruptibly(read);
                if (k == END) break;
                if (!failed) {
                    try {
                        c.writeChunk(k.b, k.at, k.n);
                        done += k.n;
                    } catch (ErrnoException | RuntimeException e) {
                        failed = true;              // refused: what was read after this is dropped
                        stop = true;
                    }
                }
                free.add(k.b);
            }
            Buffer b;
            while ((b = free.poll()) != null) give(b);
            return done;
        }

        /** take(), waiting on through interrupts (the other thread must be waited for); the interrupt is kept. */
        private static <T> T takeUninterruptibly(java.util.concurrent.BlockingQueue<T> q) {
            boolean interrupted = false;
            try {
                for (;;) {
                    try {
                        return q.take();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            } finally {
                if (interrupted) Thread.currentThread().interrupt();
            }
        }
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

    private static Buffer take() {
        Buffer b = FREE.poll();
        if (b != null) {
            KEPT.decrementAndGet();
            return b;
        }
        Arena a = Arena.ofShared();
        return new Buffer(a, a.allocate(CHUNK, ALIGN));
    }

    private static void give(Buffer b) {
        if (KEPT.incrementAndGet() <= KEEP) {
            FREE.add(b);
        } else {
            KEPT.decrementAndGet();
            b.arena.close();
        }
    }
}
