package org.overlayj.core.layer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * Exclusive use of upper and work directories (format doc §1.3). The kernel marks the inodes of a mounted
 * overlay's upper root and workdir "in use"; overlayj holds {@code flock(LOCK_EX)} on them instead, through fds
 * kept open by the {@link LayerStack}. A directory counts as in use when another overlayj instance holds such a
 * lock on it, or when a kernel overlay mount names it as upperdir or workdir (read from /proc/self/mountinfo).
 */
public final class InUse {
    private InUse() {}

    /** The locks one overlay holds; closing releases them. */
    public static final class Locks implements AutoCloseable {
        public static final Locks NONE = new Locks();
        private final List<Integer> fds = new ArrayList<>();
        /** Descriptors that keep a layer reachable (see MountChecks#pinned), closed with the locks. */
        private final List<Integer> pins = new ArrayList<>();
        /** What else ends with these locks (UpperFeatures' hold on a filesystem), run after the fds are closed. */
        private final List<Runnable> onClose = new ArrayList<>();
        private boolean closed;

        synchronized void add(int fd) {
            fds.add(fd);
        }

        synchronized void pin(int fd) {
            pins.add(fd);
        }

        /** Runs {@code r} once these locks are released (at once if they are already). */
        void onClose(Runnable r) {
            synchronized (this) {
                if (!closed) {
                    onClose.add(r);
                    return;
                }
            }
            r.run();
        }

        /** How many directories this overlay holds locked. */
        public synchronized int count() {
            return fds.size();
        }

        @Override public void close() {
            List<Runnable> after;
            synchronized (this) {
                if (closed || this == NONE) return;
                closed = true;
                for (int fd : fds) Linux.closeQuietly(fd);   // closing the last fd drops the flock
                fds.clear();
                for (int fd : pins) Linux.closeQuietly(fd);
                pins.clear();
                after = List.copyOf(onClose);
                onClose.clear();
            }
            after.forEach(Runnable::run);                 // outside this lock: they take their own
        }
    }

    /**
     * Takes the exclusive lock on {@code dir} for {@code locks}; false (and nothing held) when another holder has
     * it.
     */
    static boolean tryLock(String dir, Locks locks) throws ErrnoException {
        int fd = Linux.open(dir, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            Linux.flock(fd, Linux.LOCK_EX | Linux.LOCK_NB);
        } catch (ErrnoException e) {
            Linux.closeQuietly(fd);
            if (e.errno() == Errno.EAGAIN) return false;
            throw e;
        }
        locks.add(fd);
        return true;
    }

    /**
     * A snapshot of who uses what, taken once per mount check; the same read of mountinfo also says which mounts
     * are idmapped ({@link #idmapped}): mountinfo grows with every mount, and a resident server reads it per mount.
     */
    static final class Snapshot {
        private final Set<LayerPaths.Id> kernel = new HashSet<>();
        private final Set<Long> idmapped = new HashSet<>();

        Snapshot() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"),
                        java.nio.charset.StandardCharsets.ISO_8859_1)) {
                    // only a line that names it can be one (IdmappedMounts reads the fields)
                    if (line.contains("idmapped") && line.split(" ").length > 5) {
                        IdmappedMounts.Entry e = IdmappedMounts.Entry.parse(line);
                        if (e.idmapped()) idmapped.add(Long.parseLong(e.id()));
                    }
                    int dash = line.indexOf(" - ");
                    // only kernel overlays name upper and work dirs: other lines are not split up (a resident
                    // server's mountinfo has a line for each of its own mounts)
                    if (dash < 0 || !line.startsWith("overlay ", dash + 3)) continue;
                    String[] tail = line.substring(dash + 3).split(" ");
                    if (tail.length < 3 || !tail[0].equals("overlay")) continue;
                    for (String opt : tail[2].split(",")) {
                        if (opt.startsWith("upperdir=")) add(opt.substring(9));
                        else if (opt.startsWith("workdir=")) add(opt.substring(8));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // no mountinfo: only overlayj's own locks count
            }
        }

        /** The ids of the idmapped mounts, as {@link IdmappedMounts#ids} reads them. */
        Set<Long> idmapped() {
            return idmapped;
        }

        private void add(String escaped) {
            String path = unoctal(escaped);
            if (!path.startsWith("/")) return;
            try {
                Stat st = Linux.stat(path);
                kernel.add(LayerPaths.Id.of(st));
            } catch (ErrnoException e) {
                // gone or unreachable: cannot be ours
            }
        }

        /** mountinfo and the overlay's option display both escape with \ooo octal. */
        private static String unoctal(String s) {
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '\\' && i + 3 < s.length() + 0 && isOct(s, i + 1)) {
                    out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                    i += 3;
                } else {
                    out.append(c);
                }
            }
            return out.toString();
        }

        private static boolean isOct(String s, int i) {
            if (i + 3 > s.length()) return false;
            for (int k = i; k < i + 3; k++) if (s.charAt(k) < '0' || s.charAt(k) > '7') return false;
            return true;
        }

        /**
         * {@code dir} is the upper or work dir of a kernel overlay, or locked by another overlayj instance. Asked
         * once per directory and snapshot: the overlap checks walk the ancestors of every layer root, which share
         * most of them (the answer of a moment ago; the kernel's walk sees one moment too).
         */
        boolean inUse(String dir) {
            Boolean known = answers.get(dir);
            if (known != null) return known;
            boolean b = ask(dir);
            answers.put(dir, b);
            return b;
        }

        private final java.util.Map<String, Boolean> answers = new java.util.HashMap<>();

        private boolean ask(String dir) {
            try {
                if (kernel.contains(LayerPaths.Id.of(Linux.stat(dir)))) return true;
            } catch (ErrnoException e) {
                return false;
            }
            return lockedByOther(dir);
        }

        /** Probes with a shared non-blocking lock, released at once. */
        private static boolean lockedByOther(String dir) {
            int fd;
            try {
                fd = Linux.open(dir, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
            } catch (ErrnoException e) {
                return false;
            }
            try {
                Linux.flock(fd, Linux.LOCK_SH | Linux.LOCK_NB);
                return false;
            } catch (ErrnoException e) {
                return e.errno() == Errno.EAGAIN;
            } finally {
                Linux.closeQuietly(fd);
            }
        }
    }
}
