package org.overlayj.itest;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.HashMap;
import java.util.Map;

/**
 * Names the inodes of one layer copy by path, so that inode numbers (which differ between the two copies) can be
 * compared by what they point at: {@code L1:/d/f}, {@code L2:/x}, {@code U:/y}, {@code I:<index name>}. All layers
 * of a copy live on one filesystem, so an inode number names one object across them. Hard links get their
 * smallest path, so both copies pick the same one.
 */
public final class InodeNames {
    private final Map<Long, String> lower = new HashMap<>();
    private final Map<Long, Integer> lowerNlink = new HashMap<>();
    private final LayerSet layers;
    private Map<Long, String> upper = Map.of();

    public InodeNames(LayerSet layers) throws ErrnoException {
        this.layers = layers;
        // former uppers (rotations) by their number: m1 is "M1:" whatever its place in the stack
        for (java.nio.file.Path m : layers.middles()) {
            walk(Linux.fromUtf8(m.toString()), "", m.getFileName().toString().toUpperCase() + ":", lower, lowerNlink);
        }
        walk(Linux.fromUtf8(layers.lower1().toString()), "", "L1:", lower, lowerNlink);
        walk(Linux.fromUtf8(layers.lower2().toString()), "", "L2:", lower, lowerNlink);
    }

    /** The link count of a lower-layer inode of this copy, or 0 for an inode that is not in a lower layer. */
    public int lowerNlink(long ino) {
        return lowerNlink.getOrDefault(ino, 0);
    }

    /** Re-reads the upper layer and index: call before naming objects after changes. */
    public void refreshUpper() throws ErrnoException {
        Map<Long, String> m = new HashMap<>();
        walk(Linux.fromUtf8(layers.upper().toString()), "", "U:", m, null);
        String idx = Linux.fromUtf8(layers.index().toString());
        if (Linux.lstatOrNull(idx) != null) {
            for (DirEnt e : Linux.readdir(idx)) {
                if (e.isDotOrDotDot()) continue;
                Stat st = Linux.lstat(idx + "/" + e.name());
                m.putIfAbsent(st.ino(), "I:" + FhBlob.normalizeName(e.name(), this));
            }
        }
        upper = m;
    }

    /** The path-name of an inode of this copy, or "?ino" for one outside its layers. */
    public String name(long ino) {
        String s = lower.get(ino);
        if (s != null) return s;
        s = upper.get(ino);
        return s != null ? s : "?ino";
    }

    String lowerName(long ino) {
        return lower.getOrDefault(ino, "?lower-ino");
    }

    String upperName(long ino) {
        return upper.getOrDefault(ino, "?upper-ino");
    }

    private static void walk(String root, String rel, String prefix, Map<Long, String> out, Map<Long, Integer> nlinks)
            throws ErrnoException {
        Stat st = Linux.lstat(root + rel);
        if (nlinks != null) nlinks.put(st.ino(), (int) st.nlink());
        String name = prefix + (rel.isEmpty() ? "/" : rel);
        out.merge(st.ino(), name, (a, b) -> a.compareTo(b) <= 0 ? a : b);
        if (!st.isDir()) return;
        for (DirEnt e : Linux.readdir(root + rel)) {
            if (!e.isDotOrDotDot()) walk(root, rel + "/" + e.name(), prefix, out, nlinks);
        }
    }
}
