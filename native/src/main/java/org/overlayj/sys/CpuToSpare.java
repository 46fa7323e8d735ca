package org.overlayj.sys;

/**
 * Whether the machine has a CPU to spare for a server thread that spins briefly for its client's next request
 * rather than sleeping (the FUSE door's request loop, the NFS door's connection threads): no more threads runnable
 * right now than there are CPUs (the kernel's count in /proc/loadavg, read at most every 20 ms by any thread). A
 * busy machine has no idle CPU whose halt a spin would save, and a spinning thread would only take CPU time from
 * others, the client among them.
 */
public final class CpuToSpare {
    private static final long EVERY_NANOS = 20_000_000L;
    private static final int CPUS = Runtime.getRuntime().availableProcessors();
    private static volatile long checked = System.nanoTime() - 2 * EVERY_NANOS;
    private static volatile boolean spare;

    private CpuToSpare() {}

    public static boolean now() {
        long t = System.nanoTime();
        if (t - checked < EVERY_NANOS) return spare;
        checked = t;
        return spare = runnable() <= CPUS;
    }

    /** The 4th field of /proc/loadavg, "runnable/total": the threads runnable now; MAX_VALUE if unreadable. */
    static int runnable() {
        try {
            String s = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg"));
            String[] f = s.trim().split(" ");
            return Integer.parseInt(f[3].substring(0, f[3].indexOf('/')));
        } catch (java.io.IOException | RuntimeException e) {
            return Integer.MAX_VALUE;
        }
    }
}
