package org.overlayj.core;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Reads the data file of a file that READs go through in order ahead of them, from a thread of its own, so that the
 * disk keeps reading while no READ is outstanding. Both doors use it (FUSE READs, NFS READs): it knows real files
 * and their fds only, no overlay rule.
 *
 * <p>A client reads one window (FUSE) or one READ (an NFS client such as libnfs' one READ at a time) and does
 * something else before it sends the next: meanwhile the server reads nothing, and the data file's readahead, which
 * only the server's reads drive, stops too. The kernel overlay's reader drives the real file's readahead without
 * such gaps. (Measured, bench/README.md "fuselower": a second reader of the lower file alongside brought a cold
 * 512 MiB FUSE read from 0.39 to 0.22 s, the time the reader waited for READs from 120 to 11 ms; "nfsread" for NFS.)
 *
 * <p>Once two READs of one file follow each other, a stream is started for it: a thread that opens the file once
 * more (its own open file description, so that its readahead state is its own and the server's is left alone) and
 * splices it into a pipe and from there to /dev/null, in order, past the end of the last READ by as much as the
 * READs in order have read so far (a reader that stops after a few MiB costs a few MiB more, as readahead ramps up),
 * at most {@link #ahead} bytes. Those are plain sequential reads, so the file's own readahead serves them as it
 * serves any reader, in large folios; readahead(2) or POSIX_FADV_WILLNEED would fill the cache with single pages
 * (16,384 folios per 64 MiB against 957 on ext4, 6.18: the server's CPU per 512 MiB read went from ~120 to ~250
 * ms). The data goes nowhere: splice moves page references, the pipe's pages are dropped by /dev/null. A chunk whose
 * pages are all in the page cache already (cachestat(2), Linux 6.5) is skipped, not spliced: a file read again
 * costs the stream one call per MiB, not the splices (bench/README.md, nfsread: the NFS cached read row).
 *
 * <p>A door names each file's READs by a key of its own ({@link #onRead(Object, int, long, int)}): the FUSE door by
 * the fd number of the open file (READs come between an open and a release), the NFS door, which has no open, by
 * the file's node. Whatever the key, the stream follows one real file (dev, ino of the fd the READ uses): a READ of
 * another real file under the same key (an fd number given again, a node copied up) ends it.
 *
 * <p>The stream opens its file while a READ of it is being served (the door's fd is sure to be open then) and closes
 * it when it reaches the end of the file, when its file's READs stop coming for {@link #IDLE_NANOS}, when a READ of
 * another file or another place comes under the same key, or when the door closes this ({@link #close}: before
 * the layers are released). It opens with O_NOATIME, as every lower file is read (a lower atime must not move);
 * where that is refused, nothing is prefetched. The READ's reply never waits for a stream.
 */
public final class Prefetch implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Prefetch.class);
    /** Bytes per splice of a stream: enough for the pipe, small enough to follow the READs closely. */
    static final int CHUNK = 1 << 20;
    /** How far a READ may start from the end of the last one and still count as in order, by default (the READs of
     * one FUSE window may be served in another order than they were sent). */
    public static final long NEAR = 4L << 20;
    /** A stream whose file has had no READ for this long ends (the reader stopped, or closed the file). */
    static final long IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    /** Streams at once; a READ of another file beyond that starts none. */
    private static final int MAX_STREAMS = 8;

    /** How far ahead of a READ's end a file read in order is kept read, in bytes; 0: never. */
    private final long ahead;
    /** How far a READ may start from the end of the last one and still count as in order. */
    private final long near;
    /** Names the streams' threads. */
    private final String name;
    /**
     * Whether a stream splices a whole chunk at a time (a pipe of {@link #CHUNK}) and skips chunks already in the page
     * cache (cachestat): the NFS door's streams (nfsread). The FUSE door's keep the default 16-page pipe and splice
     * every chunk, as they were measured for its lower cold read (fuselower): with the big pipe and the skip, that
     * row went from 0.217-0.258 s to 0.285-0.312 in an idle overlay-bench run, and back to 0.226-0.346 without
     * them (bench/README.md, lead's runs D and E of 2026-12-07).
     */
    private final boolean wholeChunks;
    /** Per key: the file's READs so far (a candidate), or its running stream. Guarded by itself. */
    private final Map<Object, Followed> files = new HashMap<>();
    private final LongAdder started = new LongAdder();
    private final LongAdder prefetched = new LongAdder();
    private boolean closed;

    /** Up to {@code ahead} bytes ahead (0: never), READs within {@link #NEAR} of each other in order. */
    public Prefetch(long ahead) {
        this("prefetch", ahead, NEAR, false);
    }

    /**
     * Up to {@code ahead} bytes ahead (0: never); a READ that starts within {@code near} bytes of the end of the last
     * one counts as in order; the streams' threads are named {@code name}-KEY.
     */
    public Prefetch(String name, long ahead, long near) {
        this(name, ahead, near, true);
    }

    /** As {@link #Prefetch(String, long, long)}, with {@code wholeChunks} as {@link #wholeChunks} says. */
    public Prefetch(String name, long ahead, long near, boolean wholeChunks) {
        this.name = name;
        this.ahead = ahead;
        this.near = near;
        this.wholeChunks = wholeChunks;
    }

    /** How many streams were started (tests). */
    public long started() {
        return started.sum();
    }

    /** Bytes the streams read ahead (tests). */
    public long prefetched() {
        return prefetched.sum();
    }

    /** How many streams run now (tests). */
    public int running() {
        synchronized (files) {
            return (int) files.values().stream().filter(f -> f.stream != null && !f.stream.done).count();
        }
    }

    /**
     * A key's READs: the file they are of (dev, ino), where the last one ended, and its stream once in order. Kept
     * until a READ of another file or place comes under its key, or room is needed.
     */
    private static final class Followed {
        final long dev, ino;
        /** Where the READs in order began. */
        final long start;
        long end;
        Stream stream;

        Followed(long dev, long ino, long start, long end) {
            this.dev = dev;
            this.ino = ino;
            this.start = start;
            this.end = end;
        }
    }

    /** {@link #onRead(Object, int, long, int)} with the fd number as the key (a door whose fds are per open). */
    public void onRead(int fd, long offset, int size) {
        onRead(fd, fd, offset, size);
    }

    /**
     * Called by the thread that serves a READ of {@code size} bytes at {@code offset} of the file the door knows as
     * {@code key}, through {@code fd}, before it replies (while {@code fd} is sure to be open).
     */
    public void onRead(Object key, int fd, long offset, int size) {
        if (ahead <= 0) return;
        Stat st;
        try {
            st = Linux.fstat(fd);
        } catch (ErrnoException e) {
            return;
        }
        long end = offset + size;
        Stream stop = null, start = null;
        synchronized (files) {
            if (closed) return;
            Followed f = files.get(key);
            if (f != null && (f.dev != st.dev() || f.ino != st.ino() || Math.abs(offset - f.end) > near)) {
                // another file under the key, or another place in the file
                stop = f.stream;
                files.remove(key);
                f = null;
            }
            if (f == null) {
                if (files.size() >= MAX_STREAMS) files.values().removeIf(o -> o.stream == null || o.stream.done);
                if (files.size() < MAX_STREAMS) files.put(key, new Followed(st.dev(), st.ino(), offset, end));
            } else {
                f.end = Math.max(f.end, end);
                if (f.stream == null || f.stream.done && !f.stream.atEnd) {
                    // in order: a stream, or a new one after the last stopped (the reader had paused)
                    f.stream = start = new Stream(f, st.size());
                } else if (!f.stream.done) {
                    f.stream.moved(f.end);
                }
            }
        }
        if (stop != null) stop.stop();
        if (start != null && !start.open(fd)) {
            start.atEnd = start.done = true;       // refused (O_NOATIME): not tried again for this file
        } else if (start != null) {
            started.increment();
            start.thread = Thread.ofPlatform().daemon().name(name + "-" + fd).start(start::run);
        }
    }

    /** One file's read-ahead thread. */
    private final class Stream {
        private final long size;
        private long pos;
        private long readEnd;
        private long lastMove = System.nanoTime();
        private int own = -1;
        private volatile boolean done;
        private volatile Thread thread;
        /** Ended at the end of the file: its file gets no other stream. */
        private volatile boolean atEnd;

        private final long start;

        Stream(Followed file, long size) {
            this.size = size;
            this.start = file.start;
            this.pos = file.end;
            this.readEnd = file.end;
        }

        /** How far past the last READ to read: as far as the READs in order have come, up to {@link #ahead}. */
        private long limit() {
            return readEnd + Math.min(ahead, readEnd - start);
        }

        /** Opens the file anew through the server's fd (its own file description); false when it cannot. */
        boolean open(int fd) {
            try {
                own = Linux.open("/proc/self/fd/" + fd, Linux.O_RDONLY | Linux.O_CLOEXEC | Linux.O_NOATIME, 0);
                return true;
            } catch (ErrnoException e) {
                LOG.debug("no prefetch of fd {}: {}", fd, e.getMessage());
                return false;
            }
        }

        synchronized void moved(long end) {
            if (end > readEnd) readEnd = end;
            lastMove = System.nanoTime();
            notifyAll();
        }

        synchronized void stop() {
            done = true;
            notifyAll();
        }

        /** Waits until there is something to read ahead; false when the stream should end. */
        private synchronized boolean await() {
            while (!done) {
                if (pos >= size) {
                    atEnd = true;
                    return false;
                }
                if (pos < limit()) return true;
                long idle = IDLE_NANOS - (System.nanoTime() - lastMove);
                if (idle <= 0) return false;
                try {
                    TimeUnit.NANOSECONDS.timedWait(this, idle);
                } catch (InterruptedException e) {
                    return false;
                }
            }
            return false;
        }

        /** Whether cachestat(2) answers here (Linux 6.5 and later); once it does not, never asked again. */
        private boolean canAsk = wholeChunks;

        /**
         * Whether every page of [from, from+len) is in the page cache already: then splicing it would cost the
         * stream's CPU (a cached file read again: nfs-bench's cached row) and read nothing.
         */
        private boolean cached(long from, long len) {
            if (!canAsk || len <= 0) return false;
            try {
                return Linux.allCached(own, from, len);
            } catch (ErrnoException e) {
                canAsk = false;
                return false;
            }
        }

        void run() {
            int[] pipe = null;
            int sink = -1;
            try {
                pipe = Linux.pipe(Linux.O_CLOEXEC);
                if (wholeChunks) {
                    try {
                        // a chunk per splice: 2 calls per MiB rather than 32 through the default 16 pages
                        Linux.setPipeSize(pipe[1], CHUNK);
                    } catch (ErrnoException e) {
                        LOG.debug("prefetch pipe stays small: {}", e.getMessage());
                    }
                }
                sink = Linux.open("/dev/null", Linux.O_WRONLY | Linux.O_CLOEXEC, 0);
                while (await()) {
                    long want;
                    synchronized (this) {
                        want = Math.min(CHUNK, Math.min(limit(), size) - pos);
                    }
                    if (cached(pos, want)) {
                        // already in the page cache (a file read before): nothing for the disk to do
                        synchronized (this) {
                            pos += want;
                        }
                        prefetched.add(want);
                        continue;
                    }
                    long n = Linux.splice(own, pos, pipe[1], want, 0);
                    if (n <= 0) {                            // end of file (it was shorter than when we began)
                        atEnd = true;
                        break;
                    }
                    for (long drained = 0; drained < n; ) {
                        long k = Linux.splice(pipe[0], sink, n - drained, 0);
                        if (k <= 0) throw new ErrnoException(org.overlayj.sys.Errno.EIO, "pipe to /dev/null");
                        drained += k;
                    }
                    synchronized (this) {
                        pos += n;
                    }
                    prefetched.add(n);
                }
            } catch (ErrnoException e) {
                LOG.debug("prefetch ended: {}", e.getMessage());
            } finally {
                if (pipe != null) {
                    Linux.closeQuietly(pipe[0]);
                    Linux.closeQuietly(pipe[1]);
                }
                if (sink >= 0) Linux.closeQuietly(sink);
                Linux.closeQuietly(own);
                done = true;
            }
        }
    }

    /**
     * Ends every stream and waits (up to 2 s) for their threads to close their files: the server closes its layers
     * next, and whoever unmounts them after it must not find a file of theirs still open.
     */
    @Override public void close() {
        List<Stream> streams = new ArrayList<>();
        synchronized (files) {
            closed = true;
            for (Followed f : files.values()) if (f.stream != null) streams.add(f.stream);
            files.clear();
        }
        for (Stream s : streams) s.stop();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        for (Stream s : streams) {
            Thread t = s.thread;
            if (t == null) continue;
            try {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
