package org.overlayj.itest;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.io.IOException;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The upper layer and the index dir as they are on disk: entries, types, modes, owners, data, 0/0 whiteouts and
 * every xattr including {@code trusted.overlay.*}, with fh blobs and index names decoded and their fids replaced by
 * the object they name. {@code work/work} is scratch space and is left out, as are the shared-whiteout link counts
 * and directory sizes, which carry no meaning.
 */
public final class UpperSnapshot {
    private UpperSnapshot() {}

    /** Call {@link InodeNames#refreshUpper()} first when the upper layer may have changed. */
    public static Snapshot take(String title, LayerSet layers, InodeNames names) throws IOException {
        return take(title, layers, names, false);
    }

    /**
     * @param nfsExport under nfs_export the kernel turns the index entry of a removed object into a whiteout only
     *                  if its overlay inode's link count reached 0; when that inode had been evicted and looked up
     *                  again, it counted the index entry's own link (format doc §5.5 "observed quirk") and the
     *                  entry stays as an orphan (a file whose only link is the index entry), which the next
     *                  mount's index cleanup whites out (§5.7). Seen mid-session under load (the shrunk replay
     *                  agreed). There, an orphaned non-directory index entry and a whiteout entry compare equal.
     */
    public static Snapshot take(String title, LayerSet layers, InodeNames names, boolean nfsExport) throws IOException {
        Map<String, String> lines = new TreeMap<>();
        walk(Linux.fromUtf8(layers.upper().toString()), "", "upper:", names, lines);
        String idx = Linux.fromUtf8(layers.index().toString());
        if (Linux.lstatOrNull(idx) != null) {
            lines.put("index:", line(idx, names));
            for (DirEnt e : Linux.readdir(idx)) {
                if (e.isDotOrDotDot()) continue;
                // the kernel keeps its shared whiteout (a "#<n>" 0/0 device it links whiteouts from) in the index
                // dir when index=on: scratch space, like work/work
                if (e.name().startsWith("#") && Linux.lstat(idx + "/" + e.name()).isWhiteout()) continue;
                String key = "index:" + FhBlob.normalizeName(e.name(), names);
                while (lines.containsKey(key)) key += "'";
                String l = line(idx + "/" + e.name(), names);
                if (nfsExport && (l.startsWith("whiteout ") || l.startsWith("reg ") && l.contains(" nlink=1 "))) {
                    l = "whiteout, or an orphan the next mount whites out";
                }
                lines.put(key, l);
            }
        }
        return new Snapshot(title, lines);
    }

    private static void walk(String root, String rel, String prefix, InodeNames names, Map<String, String> lines)
            throws IOException {
        String p = root + rel;
        lines.put(prefix + Linux.toUtf8(rel.isEmpty() ? "/" : rel), line(p, names));
        Stat st = Linux.lstat(p);
        if (!st.isDir()) return;
        for (DirEnt e : Linux.readdir(p)) {
            if (!e.isDotOrDotDot()) walk(root, rel + "/" + e.name(), prefix, names, lines);
        }
    }

    static String line(String p, InodeNames names) throws IOException {
        Stat st = Linux.lstat(p);
        if (st.isWhiteout()) return "whiteout " + String.format("%04o", st.perm()) + " " + st.uid() + ":" + st.gid()
                + Snapshot.xattrs(xattrs(p), names);
        StringBuilder s = new StringBuilder(Snapshot.typeName(st.mode()))
                .append(' ').append(String.format("%04o", st.perm()))
                .append(' ').append(st.uid()).append(':').append(st.gid());
        if (!st.isDir()) s.append(" nlink=").append(st.nlink());
        if (st.isReg()) {
            s.append(" size=").append(st.size()).append(" sha=").append(Snapshot.hash(Files.readAllBytes(Path.of(Linux.toUtf8(p)))));
        } else if (st.isLink()) {
            s.append(" -> ").append(Linux.toUtf8(Linux.readlink(p)));
        } else if (st.isChr() || st.type() == Stat.S_IFBLK) {
            s.append(" rdev=").append(st.rdevMajor()).append(':').append(st.rdevMinor());
        }
        s.append(" m=").append(Snapshot.time(st.mtimeSec(), st.mtimeNsec()))
                .append(Snapshot.atime(st.atimeSec(), st.atimeNsec()));
        return s.append(Snapshot.xattrs(xattrs(p), names)).toString();
    }

    static SortedMap<String, byte[]> xattrs(String p) throws ErrnoException {
        SortedMap<String, byte[]> m = new TreeMap<>();
        for (String n : Linux.llistxattr(p)) {
            byte[] v = Linux.lgetxattrOrNull(p, n);
            if (v != null) m.put(n, v);
        }
        return m;
    }
}
