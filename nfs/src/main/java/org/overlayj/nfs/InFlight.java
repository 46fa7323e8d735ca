package org.overlayj.nfs;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The calls being served. A clean stop first closes this gate and waits for the calls already inside to reply;
 * only then does the transport go. A call arriving after the gate closed gets no reply: to the client that is a
 * server restart, and it sends the call again to the next instance (RFC 1813 §4.1 expects retransmission).
 */
final class InFlight {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition idle = lock.newCondition();
    private int active;
    private boolean closed;

    /** Admits a call; false once closing (the caller then drops it). Every true needs one {@link #exit()}. */
    boolean enter() {
        lock.lock();
        try {
            if (closed) return false;
            active++;
            return true;
        } finally {
            lock.unlock();
        }
    }

    void exit() {
        lock.lock();
        try {
            if (--active == 0) idle.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Closes the gate and waits for the admitted calls; false if some were still running at the deadline. */
    boolean drain(long timeout, TimeUnit unit) throws InterruptedException {
        long left = unit.toNanos(timeout);
        lock.lock();
        try {
            closed = true;
            while (active > 0) {
                if (left <= 0) return false;
                left = idle.awaitNanos(left);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    int active() {
        lock.lock();
        try {
            return active;
        } finally {
            lock.unlock();
        }
    }
}
