package org.overlayj.fuse;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * A rehearsal of the READ data path, once per process, while the first mount is quiet: a fresh server otherwise
 * paid for it during the first big read its mount was asked for. By then a walk and creates had compiled the
 * request loop, but not what a READ alone runs: {@link Splicer#sendRead}, the splice, pread and write downcalls and
 * their method handles' lambda forms (customized, i.e. generated as classes, after 127 calls), some 40-90 C1
 * compiles that took 20-60 ms of the compiler thread's CPU in the middle of the read, on a machine whose two CPUs
 * the reader and the server's workers already kept busy (issue 20, bench/README.md "fusewarm").
 *
 * <p>The rehearsal sends {@link #ROUNDS} READ replies of {@link #SIZE} bytes through a {@link Splicer} of its own,
 * from a memfd (a file in memory, in no directory) into /dev/null, and as many small reads the copying way (pread,
 * write), through the same native calls as the door's READ path. It never touches the layers and never goes
 * through the dispatcher or the filesystem (a second {@link RawFileSystem} class loaded would cost the dispatcher
 * its single-implementation calls). It runs on a thread of its own at the lowest priority, only once the process's
 * mounts have had no request for {@link #QUIET_MILLIS} ms, and steps back as soon as one comes (a few rounds at a
 * time, each some tens of microseconds); it starts after INIT was answered, so never delays a mount; the
 * compilations it causes are those the first READs would have caused, paid while the mounts are idle. When it
 * ends, its memfd, /dev/null and pipes are closed and its thread is gone. {@code -Doverlayj.fuse.rehearse=false}
 * turns it off (for measuring).
 */
final class ReadRehearsal {
    private static final Logger LOG = LoggerFactory.getLogger(ReadRehearsal.class);
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("overlayj.fuse.rehearse", "true"));
    /**
     * More calls than a method handle takes to be customized (java.lang.invoke's CustomizeThreshold, 127), and
     * many more than C1 takes to compile a method with the launcher's thresholds (tens of calls).
     */
    static final int ROUNDS = 160;
    /** A READ big enough to be spliced ({@link FuseDispatcher#SPLICE_MIN}), small enough for any pipe. */
    static final int SIZE = 64 * 1024;
    /** A read small enough to be copied, as the dispatcher does below SPLICE_MIN. */
    static final int SMALL = 4096;
    /** How long the mount must have had no request before a step of the rehearsal runs. */
    static final long QUIET_MILLIS = Long.getLong("overlayj.fuse.rehearseQuietMillis", 100);
    /** Rounds run between two looks at the mount's requests. */
    private static final int BATCH = 4;
    /** After the rounds: a batch every TICK_MILLIS until the JIT sat idle SETTLED ticks (SETTLE_TICKS at most). */
    private static final long TICK_MILLIS = 25;
    private static final int SETTLED = 3, SETTLE_TICKS = 120;

    private static final AtomicBoolean STARTED = new AtomicBoolean();

    private final LongSupplier activity;
    private final Quiet quiet;
    private final int pipeCapacity;
    private volatile int rounds;
    private volatile int spliced;
    private volatile Thread thread;
    /** The process's rehearsal (started by {@link #mounted}): it ends the watching of mounts when it ends. */
    private boolean global;
    /** The quiet window found every mount gone. */
    private boolean mountsGone;

    /** Sleeps for the quiet window; true when the rehearsal must stop (the mount is gone). */
    @FunctionalInterface
    interface Quiet {
        boolean sleepOrEnd(long millis) throws InterruptedException;
    }

    /**
     * {@code activity}: a count that grows with every request the mount gets; {@code quiet}: sleeps for the quiet
     * window, true when the mount is gone; {@code pipeCapacity}: as {@link FuseServer#PIPE_CAPACITY} (0: reads are
     * only copied).
     */
    ReadRehearsal(LongSupplier activity, Quiet quiet, int pipeCapacity) {
        this.activity = activity;
        this.quiet = quiet;
        this.pipeCapacity = pipeCapacity;
    }

    /**
     * Called for every mount once INIT was answered. The first mount of this process that serves READs through the
     * /dev/fuse loop (its own splicers) starts the rehearsal, unless it is turned off; later mounts find the path
     * compiled. Until the rehearsal has ended, every mount is watched: a request to any of them holds it back.
     * Returns the rehearsal when this call started it, else null.
     */
    static ReadRehearsal mounted(FuseServer server) {
        if (!ENABLED || server.uringInUse()) return null;
        synchronized (WATCHED) {
            if (ended) return null;
            WATCHED.add(server);
        }
        if (!STARTED.compareAndSet(false, true)) return null;
        ReadRehearsal r = new ReadRehearsal(ReadRehearsal::requestsToWatched, ms -> {
            Thread.sleep(ms);
            synchronized (WATCHED) {
                WATCHED.removeIf(ReadRehearsal::exited);
                return WATCHED.isEmpty();           // every mount is gone: so is the reason to rehearse
            }
        }, FuseServer.PIPE_CAPACITY);
        r.global = true;
        return r.start();
    }

    /** The mounts watched while the rehearsal is pending (see {@link #mounted}); none once it has ended. */
    private static final java.util.Set<FuseServer> WATCHED = new java.util.HashSet<>();
    private static boolean ended;

    private static long requestsToWatched() {
        long n = 0;
        synchronized (WATCHED) {
            for (FuseServer s : WATCHED) for (int op = 0; op < 64; op++) n += s.requests(op);
        }
        return n;
    }

    private static boolean exited(FuseServer s) {
        try {
            return s.awaitExit(0, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** A rehearsal gated by {@code server}'s requests alone (not started): for tests. */
    static ReadRehearsal of(FuseServer server) {
        return new ReadRehearsal(() -> {
            long n = 0;
            for (int op = 0; op < 64; op++) n += server.requests(op);
            return n;
        }, ms -> server.awaitExit(ms, TimeUnit.MILLISECONDS), FuseServer.PIPE_CAPACITY);
    }

    ReadRehearsal start() {
        thread = Thread.ofPlatform().name("fuse-rehearsal").daemon(true).start(this::run);
        return this;
    }

    /** Rounds run so far. */
    int rounds() { return rounds; }

    /** Replies that went by splice. */
    int spliced() { return spliced; }

    /** Waits for the rehearsal's thread to end; true when it has. */
    boolean join(long millis) throws InterruptedException {
        Thread t = thread;
        return t == null || t.join(java.time.Duration.ofMillis(millis));
    }

    private void run() {
        Linux.lowerThreadPriority();
        long t0 = System.nanoTime();
        int memfd = -1, sink = -1;
        LongAdder sent = new LongAdder();
        try {
            if (!awaitQuiet()) return;
            memfd = Linux.memfdCreate("overlayj-read-rehearsal", 0);
            byte[] data = new byte[SIZE];
            for (int off = 0; off < SIZE; ) off += Linux.pwrite(memfd, data, off, SIZE - off, off);
            sink = Linux.open("/dev/null", Linux.O_WRONLY, 0);
            byte[] small = new byte[FuseDispatcher.OUT_HEADER + SMALL];
            try (Splicer splicer = new Splicer(sink, pipeCapacity, sent)) {
                while (rounds < ROUNDS) {
                    long seen = activity.getAsLong();
                    for (int k = 0; k < BATCH && rounds < ROUNDS; k++) round(splicer, memfd, sink, small);
                    if (activity.getAsLong() != seen && !awaitQuiet()) return;
                }
                // Then a batch every 25 ms until the JIT has been idle a while: a method queued for compilation
                // that is not called for 50 ms (TieredCompileTaskTimeout) is dropped from the queue as stale, and
                // the queue may be long (a resident server's mount rehearsals run at the same time).
                long compiling = compilerNanos();
                for (int tick = 0, still = 0; tick < SETTLE_TICKS && still < SETTLED; tick++) {
                    long seen = activity.getAsLong();
                    if (quiet.sleepOrEnd(TICK_MILLIS)) return;      // (the rounds were done: no second rehearsal)
                    if (activity.getAsLong() != seen) {
                        if (!awaitQuiet()) return;
                        continue;
                    }
                    for (int k = 0; k < BATCH; k++) round(splicer, memfd, sink, small);
                    long now = compilerNanos();
                    still = now == compiling && now >= 0 ? still + 1 : 0;
                    compiling = now;
                }
            }
            String own = read("/proc/thread-self/schedstat", new byte[64]);
            LOG.debug("READ rehearsal: {} rounds ({} spliced) in {} ms, {} us of its thread's CPU", rounds, sent.sum(),
                    (System.nanoTime() - t0) / 1_000_000,
                    own == null ? "?" : Long.parseLong(own.substring(0, own.indexOf(' '))) / 1000);
        } catch (ErrnoException | RuntimeException e) {
            LOG.debug("READ rehearsal stopped after {} rounds: {}", rounds, e.toString());
        } catch (InterruptedException e) {
            // the process is going
        } finally {
            if (global) {
                synchronized (WATCHED) {
                    WATCHED.clear();                // no server is kept from its garbage collection by us
                    // every mount went before the rounds were done: the next mount of the process starts it again
                    if (rounds < ROUNDS && mountsGone) STARTED.set(false); else ended = true;
                }
            }
            spliced = (int) sent.sum();
            Linux.closeQuietly(memfd);
            Linux.closeQuietly(sink);
        }
    }

    /** One READ reply spliced, one small read copied: the two ways of the door's READ. */
    private void round(Splicer splicer, int memfd, int sink, byte[] small) throws ErrnoException {
        splicer.sendRead(rounds, memfd, 0, SIZE);
        int n = Linux.pread(memfd, small, FuseDispatcher.OUT_HEADER, SMALL, 0);
        Linux.write(sink, small, 0, FuseDispatcher.OUT_HEADER + n);
        rounds++;
    }

    /**
     * The CPU time so far of this JVM's JIT compiler threads (named "C1 CompilerThreadN"/"C2 ...": the kernel keeps
     * 15 bytes of a name), in nanoseconds (/proc/self/task/TID/schedstat), or -1 when it cannot be read: then the
     * settling above simply runs its {@link #SETTLE_TICKS}. The threads are looked for once, and again when one of
     * them is gone or every {@link #RESCAN} looks (the JVM starts and stops compiler threads as its queue grows):
     * reading every thread's name each time cost the rehearsal more CPU than its rounds.
     */
    long compilerNanos() {
        if (compilerTasks == null || ++looks % RESCAN == 0) compilerTasks = compilerTasks();
        long total = 0;
        for (String task : compilerTasks) {
            String stat = read(task + "/schedstat", buf);
            if (stat == null) {
                compilerTasks = null;               // a thread ended: look again next time
                return -1;
            }
            try {
                total += Long.parseLong(stat.substring(0, stat.indexOf(' ')));
            } catch (RuntimeException e) {
                return -1;
            }
        }
        return compilerTasks.isEmpty() ? -1 : total;
    }

    private static final int RESCAN = 20;
    private List<String> compilerTasks;
    private int looks;
    private final byte[] buf = new byte[64];

    /** The /proc/self/task/TID directories of the JIT's compiler threads (none when unreadable). */
    static List<String> compilerTasks() {
        List<String> out = new ArrayList<>();
        byte[] b = new byte[64];
        try {
            for (DirEnt e : Linux.readdir("/proc/self/task")) {
                if (e.name().startsWith(".")) continue;
                String task = "/proc/self/task/" + e.name();
                String comm = read(task + "/comm", b);
                if (comm != null && (comm.startsWith("C1 Compiler") || comm.startsWith("C2 Compiler"))) out.add(task);
            }
        } catch (ErrnoException | RuntimeException e) {
            return List.of();
        }
        return out;
    }

    /** A small procfs file's text, or null when it is gone (a thread that ended). */
    private static String read(String path, byte[] buf) {
        int fd;
        try {
            fd = Linux.open(path, Linux.O_RDONLY, 0);
        } catch (ErrnoException e) {
            return null;
        }
        try {
            int n = Linux.pread(fd, buf, 0, buf.length, 0);
            return new String(buf, 0, n, java.nio.charset.StandardCharsets.ISO_8859_1);
        } catch (ErrnoException e) {
            return null;
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    /** Waits until a whole quiet window passes with no new request; false when the mount is gone. */
    private boolean awaitQuiet() throws InterruptedException {
        long seen = activity.getAsLong();
        while (true) {
            if (quiet.sleepOrEnd(QUIET_MILLIS)) {
                mountsGone = true;
                return false;
            }
            long now = activity.getAsLong();
            if (now == seen) return true;
            seen = now;
        }
    }
}
