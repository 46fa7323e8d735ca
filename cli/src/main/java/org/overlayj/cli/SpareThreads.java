package org.overlayj.cli;

import java.util.ArrayDeque;
import java.util.concurrent.Executor;

/**
 * Platform threads started before they are needed, for the resident server: each mount request runs on one and
 * each new mount's FUSE loop starts on one. Thread.start waits until the new thread has been scheduled once, which
 * on a busy machine took milliseconds of a mount's time (twice per mount); handing a task to a thread that is
 * already waiting is a wakeup. Spares are started where no launcher waits: by {@link #refill} (once the server is
 * up) and by a thread back from its task (a request, answered). A task with no spare waiting gets a new thread, as
 * before. A spare nobody took within the idle time ends, and so does a thread whose task ended when enough spares
 * wait already.
 */
final class SpareThreads implements Executor {
    private static final String IDLE_NAME = "resident-spare";
    private static final long IDLE_MILLIS = 60_000;

    private final int keep;
    // guarded by this: the spares waiting, each for its own task
    private final ArrayDeque<Spare> idle = new ArrayDeque<>();

    private static final class Spare {
        Runnable task;
    }

    /** @param keep how many spares {@link #refill} keeps waiting */
    SpareThreads(int keep) {
        this.keep = keep;
    }

    /** Runs {@code task} on a waiting spare, or on a new thread when none waits. */
    @Override public void execute(Runnable task) {
        synchronized (this) {
            Spare s = idle.pollFirst();
            if (s != null) {
                s.task = task;
                notifyAll();
                return;
            }
        }
        start(task);
    }

    /** Starts spares until {@code keep} wait (the caller waits for their start, so no launcher should be waiting). */
    void refill() {
        int missing;
        synchronized (this) {
            missing = keep - idle.size();
        }
        for (int i = 0; i < missing; i++) start(null);
    }

    private void start(Runnable first) {
        Thread.ofPlatform().name(IDLE_NAME).daemon(true).start(() -> serve(first));
    }

    /**
     * Runs its first task, then waits as a spare for the next, and so on. A thread back from a task also starts
     * the spares that are missing then (those the last tasks took, such as a FUSE loop that stays with its mount):
     * by then the launcher that asked has its answer.
     */
    private void serve(Runnable first) {
        Spare me = new Spare();
        Runnable task = first;
        while (true) {
            if (task != null) {
                try {
                    task.run();
                } catch (RuntimeException | Error e) {
                    Thread t = Thread.currentThread();
                    t.getUncaughtExceptionHandler().uncaughtException(t, e);   // as a thread of its own would
                }
                Thread.currentThread().setName(IDLE_NAME);
            }
            int missing;
            synchronized (this) {
                if (idle.size() >= keep) return;       // enough wait already
                idle.addLast(me);
                missing = task != null ? keep - idle.size() : 0;
            }
            for (int i = 0; i < missing; i++) start(null);
            task = next(me);
            if (task == null) return;
        }
    }

    /** Waits as a spare (already counted idle) for its next task; null when nobody came within the idle time. */
    private synchronized Runnable next(Spare me) {
        long deadline = System.currentTimeMillis() + IDLE_MILLIS;
        while (me.task == null) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                idle.remove(me);
                return null;
            }
            try {
                wait(left);
            } catch (InterruptedException e) {
                idle.remove(me);
                return null;
            }
        }
        Runnable t = me.task;
        me.task = null;
        return t;
    }
}
