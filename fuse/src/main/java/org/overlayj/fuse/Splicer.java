package org.overlayj.fuse;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.LongAdder;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * One loop thread's READ replies by splice: the file's pages go into a pipe by reference and the FUSE device copies
 * them once, into the reader's pages. Read into our buffer and written back, each byte was copied twice.
 *
 * <p>A reply must reach the device in one write whose header states its length, and the length is known only once
 * the file has given its data (short at end of file). So the data goes into pipe {@code a} first, the header into
 * pipe {@code b}, the data behind it (pipe to pipe moves references), and {@code b} to the device. Pipe {@code b}
 * holds the header's page and every page the data touches, so the biggest reply that can be spliced is one page
 * short of the pipe's capacity: with 2 MiB pipes (beyond pipe-max-size: needs CAP_SYS_RESOURCE) a 1 MiB READ
 * fits; with pipe-max-size pipes (1 MiB by default) the server keeps READs a page smaller by its readahead window
 * ({@link #biggestRead}). A READ that does not fit is copied as before. After any failure the pipes are closed
 * and made anew: a pipe with a stray byte in it would corrupt every later reply.
 *
 * <p>Not thread-safe: one per loop thread.
 */
final class Splicer implements FileDataSender, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Splicer.class);
    private static final int PAGE = 4096;
    /** Enough for a 1 MiB reply: its header's page and 257 pages of data at an unaligned offset. */
    private static final int WANTED_PIPE = 2 << 20;
    private final int device;
    private final LongAdder sent;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment header = arena.allocate(FuseDispatcher.OUT_HEADER, 8);
    private int[] a, b;
    private boolean unusable;

    private final int pipeSize;

    /**
     * {@code pipeSize}: what {@link #pipeCapacity} found (0: never splice); {@code sent} counts the replies this
     * splicer wrote.
     */
    Splicer(int device, int pipeSize, LongAdder sent) {
        this.device = device;
        this.pipeSize = pipeSize;
        this.sent = sent;
        this.unusable = pipeSize == 0;
    }

    /**
     * The capacity this process can give a pipe, at most 2 MiB: a probe made once per server. 0 when pipes cannot
     * be resized at all (then READ replies are never spliced).
     */
    static int pipeCapacity() {
        int[] p;
        try {
            p = Linux.pipe(Linux.O_CLOEXEC);
        } catch (ErrnoException e) {
            return 0;
        }
        try {
            try {
                return Linux.setPipeSize(p[1], WANTED_PIPE);
            } catch (ErrnoException e) {
                // EPERM: above /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE; take that maximum
            }
            // readAllLines: Files.readString gives the first byte only of a procfs file (it reports size 0)
            int max = Integer.parseInt(java.nio.file.Files.readAllLines(
                    java.nio.file.Path.of("/proc/sys/fs/pipe-max-size")).getFirst().trim());
            return Linux.setPipeSize(p[1], Math.min(max, WANTED_PIPE));
        } catch (java.io.IOException | NumberFormatException e) {
            return 0;
        } finally {
            Linux.closeQuietly(p[0]);
            Linux.closeQuietly(p[1]);
        }
    }

    /** The biggest page-aligned READ a pipe of {@code pipeSize} bytes can splice: all but the header's page. */
    static int biggestRead(int pipeSize) {
        return Math.max(0, (pipeSize / PAGE - 1) * PAGE);
    }

    /** Whether a reply of {@code size} bytes from {@code offset} fits a pipe: header page + pages touched. */
    private boolean fits(long offset, int size) {
        long pages = ((offset % PAGE) + size + PAGE - 1) / PAGE;
        return 1 + pages <= pipeSize / PAGE;
    }

    @Override public boolean sendRead(long unique, int fd, long offset, int size) throws ErrnoException {
        if (unusable || !fits(offset, size) || !pipes()) return false;
        long n = 0;
        try {
            while (n < size) {
                long k = Linux.splice(fd, offset + n, a[1], size - n, 0);
                if (k == 0) break;
                n += k;
            }
        } catch (ErrnoException e) {
            reset();
            throw e;
        }
        // fuse_out_header, in the host's byte order as the whole protocol is: len, error, unique
        header.set(JAVA_INT_UNALIGNED, 0, FuseDispatcher.OUT_HEADER + (int) n);
        header.set(JAVA_INT_UNALIGNED, 4, 0);
        header.set(JAVA_LONG_UNALIGNED, 8, unique);
        try {
            Linux.write(b[1], header);
            for (long moved = 0; moved < n; ) {
                long k = Linux.splice(a[0], b[1], n - moved, 0);
                if (k <= 0) throw new ErrnoException(Errno.EIO, "pipe to pipe splice moved nothing");
                moved += k;
            }
            long sentBytes = Linux.splice(b[0], device, FuseDispatcher.OUT_HEADER + n, 0);
            // The device takes a reply whole or not at all; anything else would leave bytes in the pipe.
            if (sentBytes != FuseDispatcher.OUT_HEADER + n) {
                throw new ErrnoException(Errno.EIO, "device took " + sentBytes + " of " + (FuseDispatcher.OUT_HEADER + n));
            }
            sent.increment();
        } catch (ErrnoException e) {
            reset();
            // ENOENT: the request was interrupted and is gone. ENODEV: unmounted; the loop's next read ends it.
            if (e.errno() != Errno.ENOENT && e.errno() != Errno.ENODEV) {
                LOG.warn("spliced READ reply failed: {}", e.getMessage());
            }
        }
        return true;
    }

    private boolean pipes() {
        if (a != null) return true;
        try {
            a = sizedPipe();
            b = sizedPipe();
            return true;
        } catch (ErrnoException e) {
            LOG.debug("READ replies are copied, not spliced: {}", e.getMessage());
            reset();
            unusable = true;
            return false;
        }
    }

    private int[] sizedPipe() throws ErrnoException {
        int[] p = Linux.pipe(Linux.O_CLOEXEC);
        try {
            Linux.setPipeSize(p[1], pipeSize);
        } catch (ErrnoException e) {
            Linux.closeQuietly(p[0]);
            Linux.closeQuietly(p[1]);
            throw e;
        }
        return p;
    }

    private void reset() {
        for (int[] p : new int[][]{a, b}) {
            if (p == null) continue;
            Linux.closeQuietly(p[0]);
            Linux.closeQuietly(p[1]);
        }
        a = b = null;
    }

    @Override public void close() {
        reset();
        arena.close();
    }
}
