package org.overlayj.core;

import org.overlayj.core.layer.Layer;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The inode numbers of every non-directory in each lower layer, built on first need and kept for the mount.
 *
 * <p>Why: a lower file handle whose dentry is not cached decodes to a disconnected file with no path, and nothing
 * in the decode says whether the inode lies inside a layer root or elsewhere on the same filesystem (the kernel
 * overlay accepts it either way). Handles must never let a client out of the overlay, so such a decode is accepted
 * only when the inode is one of a lower layer's non-directories. Lower layers do not change under a mount, so the
 * set, read once with getdents (no stat per entry where the fs gives d_type), stays true.
 */
final class LowerInodes {
    private final Map<Layer, long[]> sorted = new ConcurrentHashMap<>();

    /** True when {@code ino} (a real inode number on the layer's device) is a non-directory inside the layer. */
    boolean contains(Layer layer, long ino) throws ErrnoException {
        long[] set = sorted.get(layer);
        if (set == null) {
            synchronized (this) {
                set = sorted.get(layer);
                if (set == null) {
                    set = scan(layer);
                    sorted.put(layer, set);
                }
            }
        }
        return Arrays.binarySearch(set, ino) >= 0;
    }

    private static long[] scan(Layer layer) throws ErrnoException {
        long[] inos = new long[1024];
        int n = 0;
        Deque<String> dirs = new ArrayDeque<>();
        dirs.push(layer.root());
        while (!dirs.isEmpty()) {
            String dir = dirs.pop();
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
                if (n == inos.length) inos = Arrays.copyOf(inos, n * 2);
                inos[n++] = e.ino();
            }
        }
        long[] out = Arrays.copyOf(inos, n);
        Arrays.sort(out);
        return out;
    }
}
