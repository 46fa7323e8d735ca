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

    /**
     * The 4th field of /proc/loadavg, "runnable/total": the threads runnable now; MAX_VALUE if unreadable. Read with
     * three system calls and parsed in place: Files.readString and split made a fresh server compile about a
     * hundred JDK methods (file channels, paths, decoders) in the middle of its first walk, for a number.
     */
    static int runnable() {
        byte[] b = new byte[128];
        int n, fd;
        try {
            fd = Linux.open("/proc/loadavg", Linux.O_RDONLY | Linux.O_CLOEXEC, 0);
        } catch (ErrnoException e) {
            return Integer.MAX_VALUE;
        }
        try {
            n = Linux.pread(fd, b, 0, b.length, 0);
        } catch (ErrnoException e) {
            return Integer.MAX_VALUE;
        } finally {
            Linux.closeQuietly(fd);
        }
        return runnable(b, n);
    }

    /** The runnable count of a /proc/loadavg text ("0.52 0.58 0.59 2/345 6789"); MAX_VALUE if it is not one. */
    static int runnable(byte[] b, int n) {
        int i = 0;
        for (int field = 0; field < 3; field++) {
            while (i < n && b[i] != ' ') i++;
            while (i < n && b[i] == ' ') i++;
        }
        long v = 0;
        int start = i;
        while (i < n && b[i] >= '0' && b[i] <= '9' && i - start < 10) v = v * 10 + (b[i++] - '0');
        return i == start || i >= n || b[i] != '/' || v > Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) v;
    }
}
