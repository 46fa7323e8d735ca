package org.overlayj.sys;

/**
 * The bounded spin both doors use between a client's requests (FuseServer#spinForRequest, RpcConnection#spinForCall):
 * look for input without sleeping, yielding the CPU between looks, until a window ends or a step shows that another
 * thread took the CPU. Whether to spin at all is the caller's rule (a run of close requests, {@link CpuToSpare}).
 */
public final class SpinWait {
    /** A step that took longer than this lost the CPU to another thread. */
    public static final long CONTENDED_STEP_NANOS = 20_000;
    /** How long a thread that lost its CPU while spinning goes without spinning. */
    public static final long CONTENDED_PAUSE_NANOS = 20_000_000L;

    /** One look: above 0 when input is there, 0 when not yet, below 0 to give up (e.g. the descriptor is closing). */
    @FunctionalInterface
    public interface Look {
        int look() throws ErrnoException;
    }

    private SpinWait() {}

    /**
     * Looks until {@code spinNanos} after {@code since}: 1 once {@code look} finds input, 0 when the window ended
     * without any, -1 when this thread lost its CPU meanwhile or {@code look} gave up.
     */
    public static int until(long since, long spinNanos, Look look) throws ErrnoException {
        long until = since + spinNanos, last = System.nanoTime();
        do {
            int r = look.look();
            if (r != 0) return r > 0 ? 1 : -1;
            Linux.schedYield();                 // whoever waits for this CPU (the client itself, maybe) runs first
            long now = System.nanoTime();
            if (now - last > CONTENDED_STEP_NANOS) return -1;
            last = now;
        } while (until - last > 0);
        return 0;
    }
}
