package org.overlayj.core;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;

/**
 * Readahead for directory walks: when a listing with attributes (READDIRPLUS) shows subdirectories, their real
 * directories are read and their entries stat'ed in the background, so that the real filesystems have them in
 * their caches when the walker gets there. A recursive walk (find, du, rsync, an image scan) is a chain of
 * listings each waiting on the last, each waiting on the disk twice (the directory's blocks, then its inodes);
 * this lets the disk work for the next directories while the current one is answered. (A cold find over 20k
 * files in 220 directories, fresh FUSE mounts: 0.28 s without, 0.26 s with; medians of five, 2026-12-05.)
 *
 * <p>It only reads the layers and keeps nothing: no overlay state is made or changed, so what it reads can never
 * be stale. Newest listings first (a walk goes depth-first); a bounded queue, oldest work dropped; one thread.
 */
final class DirReadahead implements AutoCloseable {
    /** Subdirectories taken from one listing; a walker that never descends wastes at most this many reads. */
    static final int PER_LISTING = 32;
    private static final int QUEUE = 512;
    /** Entries stat'ed per directory: a listing page holds far fewer; a huge directory is not read whole. */
    private static final int ENTRIES = 4096;

    private final LinkedBlockingDeque<String> queue = new LinkedBlockingDeque<>();
    private final Probe probe;
    /** Started by the first listing with subdirectories: an overlay that is never walked has no thread. */
    private Thread thread;
    private volatile boolean closed;

    DirReadahead(Probe probe) {
        this.probe = probe;
    }

    /** Real directories to read ahead, in the order the walker will likely visit them. */
    void offer(List<String> dirs) {
        if (closed || dirs.isEmpty()) return;
        synchronized (this) {
            if (closed) return;
            if (thread == null) thread = Thread.ofPlatform().name("dir-readahead").daemon(true).start(this::run);
        }
        for (int i = Math.min(dirs.size(), PER_LISTING) - 1; i >= 0; i--) queue.offerFirst(dirs.get(i));
        while (queue.size() > QUEUE) queue.pollLast();
    }

    private void run() {
        while (!closed) {
            String dir;
            try {
                dir = queue.pollFirst(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (dir != null) read(dir);
        }
    }

    private void read(String dir) {
        List<DirEnt> entries;
        try {
            entries = Linux.readdir(dir);
        } catch (ErrnoException e) {
            return; // gone or not a directory any more: nothing to warm
        }
        probe.dirReadAhead();
        int left = ENTRIES;
        for (DirEnt e : entries) {
            if (closed || left-- == 0) return;
            String name = e.name();
            if (name.equals(".") || name.equals("..")) continue;
            try {
                Linux.lstatOrNull(dir + "/" + name);
            } catch (ErrnoException ignored) {
                // only warming caches
            }
        }
    }

    /** True while the thread runs. */
    synchronized boolean running() { return thread != null && thread.isAlive(); }

    @Override public void close() {
        Thread t;
        synchronized (this) {
            closed = true;
            t = thread;
        }
        queue.clear();
        if (t != null) {
            t.interrupt();
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
