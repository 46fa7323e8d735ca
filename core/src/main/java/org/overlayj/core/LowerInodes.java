package org.overlayj.core;

import org.overlayj.core.layer.Layer;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The inode numbers of every non-directory in each lower layer, built on first need and kept for the mount.
 *
 * <p>Why: a lower file handle whose dentry is not cached decodes to a disconnected file with no path, and nothing
 * in the decode says whether the inode lies inside a layer root or elsewhere on the same filesystem (the kernel
 * overlay accepts it either way). Handles must never let a client out of the overlay, so such a decode is accepted
 * only when the inode is one of a lower layer's non-directories. Lower layers do not change under a mount, so the
 * set, read once with getdents (no stat per entry where the fs gives d_type), stays true. The same scan remembers
 * the directory each was seen in, so that a disconnected file can be reconnected at its name before it is copied up
 * (see Export#reconnect).
 */
final class LowerInodes {
    private final Map<Layer, Scan> scans = new ConcurrentHashMap<>();

    /**
     * One layer's non-directories: inode numbers sorted, and for each the directory (an index into {@code dirs}) it
     * was found in, so that a disconnected file can be given its name again (see {@link #pathOf}).
     */
    private record Scan(long[] inos, int[] dirOf, List<String> dirs) {}

    /** True when {@code ino} (a real inode number on the layer's device) is a non-directory inside the layer. */
    boolean contains(Layer layer, long ino) throws ErrnoException {
        return Arrays.binarySearch(scanOf(layer).inos(), ino) >= 0;
    }

    /**
     * The absolute path of a non-directory of the layer with inode number {@code ino} (one of its names when it has
     * several), checked now; null when the layer has none. Found in the directory the scan saw it in, read again.
     */
    String pathOf(Layer layer, long ino) throws ErrnoException {
        Scan s = scanOf(layer);
        int i = Arrays.binarySearch(s.inos(), ino);
        if (i < 0) return null;
        while (i > 0 && s.inos()[i - 1] == ino) i--;    // the same inode under several names: try each directory
        for (; i < s.inos().length && s.inos()[i] == ino; i++) {
            String dir = s.dirs().get(s.dirOf()[i]);
            List<DirEnt> entries;
            try {
                entries = Linux.readdir(dir);
            } catch (ErrnoException e) {
                continue;
            }
            for (DirEnt e : entries) {
                if (e.ino() != ino || e.name().equals(".") || e.name().equals("..")) continue;
                String path = dir + "/" + e.name();
                Stat st = Linux.lstatOrNull(path);
                if (st != null && st.ino() == ino && st.dev() == layer.dev() && !st.isDir()) return path;
            }
        }
        return null;
    }

    private Scan scanOf(Layer layer) throws ErrnoException {
        Scan s = scans.get(layer);
        if (s == null) {
            synchronized (this) {
                s = scans.get(layer);
                if (s == null) {
                    s = scan(layer);
                    scans.put(layer, s);
                }
            }
        }
        return s;
    }

    private static Scan scan(Layer layer) throws ErrnoException {
        long[] inos = new long[1024];
        int[] dirOf = new int[1024];
        List<String> dirList = new ArrayList<>();
        int n = 0;
        Deque<String> dirs = new ArrayDeque<>();
        dirs.push(layer.root());
        while (!dirs.isEmpty()) {
            String dir = dirs.pop();
            int dirIndex = dirList.size();
            dirList.add(dir);
            for (DirEnt e : Linux.readdir(dir)) {
                if (e.name().equals(".") || e.name().equals("..")) continue;
                String path = dir + "/" + e.name();
                int type = e.type();
                if (type == DirEnt.DT_UNKNOWN) {
                    Stat st = Linux.lstatOrNull(path);
                    if (st == null) continue;
                    type = st.isDir() ? DirEnt.DT_DIR : DirEnt.DT_REG;
                }
                if (type == DirEnt.DT_DIR) {
                    Stat st = Linux.lstatOrNull(path);
                    if (st != null && st.dev() == layer.dev()) dirs.push(path); // not into other mounts
                    continue;
                }
                if (n == inos.length) {
                    inos = Arrays.copyOf(inos, n * 2);
                    dirOf = Arrays.copyOf(dirOf, n * 2);
                }
                dirOf[n] = dirIndex;
                inos[n++] = e.ino();
            }
        }
        inos = Arrays.copyOf(inos, n);
        dirOf = Arrays.copyOf(dirOf, n);
        sortTogether(inos, dirOf, 0, n - 1);
        return new Scan(inos, dirOf, List.copyOf(dirList));
    }

    /** Sorts {@code keys[lo..hi]} ascending, moving {@code vals} along (a quicksort; Arrays has no paired sort). */
    private static void sortTogether(long[] keys, int[] vals, int lo, int hi) {
        while (lo < hi) {
            long pivot = keys[lo + (hi - lo) / 2];
            int i = lo, j = hi;
            while (i <= j) {
                while (keys[i] < pivot) i++;
                while (keys[j] > pivot) j--;
                if (i <= j) {
                    long k = keys[i]; keys[i] = keys[j]; keys[j] = k;
                    int v = vals[i]; vals[i] = vals[j]; vals[j] = v;
                    i++;
                    j--;
                }
            }
            // recurse into the smaller part, loop on the larger: the stack stays O(log n)
            if (j - lo < hi - i) {
                sortTogether(keys, vals, lo, j);
                lo = i;
            } else {
                sortTogether(keys, vals, i, hi);
                hi = j;
            }
        }
    }
}
