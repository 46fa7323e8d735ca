package org.overlayj.core;

import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Lock;

/**
 * The core tests' (and bench/decode-bench's) way into the engine's inner state, from the test sources: the
 * production classes keep nothing for tests but the {@link Probe} they are given at mount ({@link Probe#NONE} for
 * the doors), which {@link Recorder} fills in here. {@code Layers#mount} mounts with a Recorder.
 */
final class EngineSeam {
    private EngineSeam() {}

    /** Records what the engine tells its probe, and runs a test's step right after a copy ahead. */
    static final class Recorder implements Probe {
        /** Runs after data was copied ahead and before the namespace lock is taken. */
        volatile Runnable afterCopyAhead = () -> { };
        /** How many files' data copy-ups have copied. */
        final LongAdder dataCopies = new LongAdder();
        /** How many fsyncs copy-ups have made of copied files (one per copy, as the kernel's). */
        final LongAdder copySyncs = new LongAdder();
        /** Real directories the directory readahead read. */
        final LongAdder dirsRead = new LongAdder();
        /** Lookups that took a directory's markers from its node (Lookup#knownMarkers). */
        final LongAdder knownMarkers = new LongAdder();
        /** Index entries a lookup looked for with a statx (Index#entryStat). */
        final LongAdder indexLooks = new LongAdder();

        @Override public void copiedAhead() { afterCopyAhead.run(); }

        @Override public void dataCopied() { dataCopies.increment(); }

        @Override public void copySynced() { copySyncs.increment(); }

        @Override public void dirReadAhead() { dirsRead.increment(); }

        @Override public void knownMarkers() { knownMarkers.increment(); }

        @Override public void indexLooked() { indexLooks.increment(); }
    }

    /** The recorder {@code o} was mounted with. */
    static Recorder probe(Overlay o) {
        if (o.fs.probe instanceof Recorder r) return r;
        throw new IllegalStateException("mounted without a Recorder: mount with Layers#mount or Overlay.mount(o, p)");
    }

    /** How many inode numbers the engine's node cache holds. */
    static int cachedInodes(Overlay o) {
        return o.fs.inodes.size();
    }

    /**
     * Drops the engine's node, origin and handle caches (OverlayFs#dropCaches, Export#dropCaches): the next lookup
     * or decode starts as after a fresh mount. Counts a change, so nothing remembered under the old count holds.
     */
    static void dropCaches(Overlay o) {
        Lock l = o.fs.lock.writeLock();
        l.lock();
        try {
            o.fs.changes++;
            o.fs.decodeEpoch++;
            o.fs.dropCaches();
            o.export.dropCaches();
        } finally {
            l.unlock();
        }
    }

    /** Counts a change without making one: what decodes remembered is void, the caches stay. */
    static void countChange(Overlay o) {
        Lock l = o.fs.lock.writeLock();
        l.lock();
        try {
            o.fs.changes++;
            o.fs.decodeEpoch++;
        } finally {
            l.unlock();
        }
    }
}
