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
    /** Chunks kept for the next copies: more than one copy at a time is rare, memory stays small. */
    private static final ConcurrentLinkedQueue<Buffer> FREE = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger KEPT = new AtomicInteger();
    private static final int KEEP = 2;
    /** Copies that went direct (tests). */
    static final LongAdder started = new LongAdder();

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
     * Copies up to {@code len} bytes at {@code pos} (aligned), the same offset in both files; returns the bytes
     * copied, 0 at the end of the input. The last block written may carry bytes past {@code len} that the caller's
     * ftruncate removes. Throws when a direct read or write is refused: the caller goes on without O_DIRECT.
     */
    long copy(long pos, long len) throws ErrnoException {
        if (pos % ALIGN != 0) throw new ErrnoException(Errno.EINVAL, "direct copy at unaligned offset " + pos);
        if (buf == null) buf = take();
        long want = Math.min(len, CHUNK);
        long n = Linux.pread(in, buf.seg.asSlice(0, roundUp(want)), pos);
        if (n <= 0) return 0;
        n = Math.min(n, want);
        MemorySegment data = buf.seg.asSlice(0, roundUp(n));
        long w = 0;
        while (w < data.byteSize()) w += Linux.pwrite(out, data.asSlice(w), pos + w);
        return n;
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
