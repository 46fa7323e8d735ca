package org.overlayj.core.layer;

/**
 * Where a mount's time goes, phase by phase, for bench/mount-cost.sh ({@code PHASES=1}) and anyone who asks with
 * {@code -Doverlayj.mountTrace=true}: the thread that makes a mount marks the end of each phase, and the resident
 * server logs the whole line once the mount is made. Off (one static final test per mark, which the JIT folds
 * away) unless asked for.
 */
public final class MountTrace {
    /** Whether marks are taken: {@code -Doverlayj.mountTrace=true}. */
    public static final boolean ON = Boolean.getBoolean("overlayj.mountTrace");
    private static final ThreadLocal<MountTrace> CURRENT = new ThreadLocal<>();

    private final long start, startCpu = cpu();
    private long last, lastCpu = startCpu;
    private final StringBuilder marks = new StringBuilder();

    private MountTrace(long start) {
        this.start = start;
        this.last = start;
    }

    /** Starts the marks of the calling thread, its first phase begun at {@code startNanos} (System.nanoTime). */
    public static void begin(long startNanos) {
        if (ON) CURRENT.set(new MountTrace(startNanos));
    }

    /** Ends the phase {@code name} of the calling thread's mount (its microseconds since the last mark). */
    public static void mark(String name) {
        if (!ON) return;
        MountTrace t = CURRENT.get();
        if (t == null) return;
        long now = System.nanoTime(), cpu = cpu();
        t.marks.append(' ').append(name).append('=').append((now - t.last) / 1000).append('/')
                .append((cpu - t.lastCpu) / 1000);
        t.last = now;
        t.lastCpu = cpu;
    }

    /** The calling thread's CPU time (ns): the management classes load only when traces are on. */
    private static long cpu() {
        return java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
    }

    /**
     * The marks as one line ("name=wall/cpu ...": microseconds of wall time and of the thread's CPU time), and the
     * trace of the calling thread is over; null when off.
     */
    public static String end() {
        if (!ON) return null;
        MountTrace t = CURRENT.get();
        CURRENT.remove();
        if (t == null) return null;
        return "mount trace (us):" + t.marks + " total=" + (System.nanoTime() - t.start) / 1000 + "/"
                + (cpu() - t.startCpu) / 1000;
    }
}
