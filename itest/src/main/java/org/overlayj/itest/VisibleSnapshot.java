package org.overlayj.itest;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The overlay tree as a user sees it: for every path its type, mode, owner, nlink, size, content hash, symlink
 * target, rdev, listed xattrs, times (builder- or script-set values exactly, filesystem-set ones as "now"), st_ino
 * and d_ino named by the layer object they equal, and which paths share an inode.
 */
public final class VisibleSnapshot {
    private VisibleSnapshot() {}

    /** A path of the tree and its type, for the op generator. */
    public record Item(String path, int type, long size, long nlink) {
        public boolean isDir() { return type == 0040000; }
        public boolean isReg() { return type == 0100000; }
        public boolean isLink() { return type == 0120000; }
    }

    public record Result(Snapshot snapshot, List<Item> items) {}

    /** Call {@link InodeNames#refreshUpper()} first when the upper layer may have changed. */
    public static Result take(String title, TreeView view, InodeNames names) throws ErrnoException {
        return take(title, view, names, false);
    }

    /**
     * @param nfsExport the overlay runs with nfs_export=on: there the link count the kernel reports for a copied-up
     *                  (so indexed) non-directory whose lower has one link depends on its inode cache. The overlay
     *                  inode that did the copy-up reports the union count (the aliases); once that inode is evicted
     *                  (memory pressure, remount: format doc §5.5 "observed quirk") a fresh lookup falls back to the
     *                  upper inode's real count, which includes the index entry. Seen mid-session on this machine
     *                  under load (a shrunk replay of the same script agreed). Such link counts are left out; the
     *                  upper snapshot still compares the real counts and {@code NS nlink} of those files exactly.
     */
    public static Result take(String title, TreeView view, InodeNames names, boolean nfsExport) throws ErrnoException {
        Map<String, String> lines = new TreeMap<>();
        Map<Long, List<String>> byIno = new HashMap<>();
        List<Item> items = new ArrayList<>();
        walk(view, names, nfsExport, "/", null, lines, byIno, items);
        for (List<String> group : byIno.values()) {
            if (group.size() < 2) continue;
            String first = group.stream().min(String::compareTo).orElseThrow();
            for (String p : group) lines.merge(p, " same-ino-as=" + Linux.toUtf8(first), String::concat);
        }
        Map<String, String> keyed = new TreeMap<>();
        for (var e : lines.entrySet()) keyed.put(Linux.toUtf8(e.getKey()), e.getValue());
        return new Result(new Snapshot(title, keyed), items);
    }

    private static void walk(TreeView v, InodeNames names, boolean nfs, String path, TreeView.Entry listed,
                             Map<String, String> lines, Map<Long, List<String>> byIno, List<Item> items)
            throws ErrnoException {
        TreeView.Meta m;
        try {
            m = v.stat(path);
        } catch (ErrnoException e) {
            // e.g. a whiteout listed in a plain upper dir: the kernel shows an entry it cannot stat
            lines.put(path, "unstatable " + Errno.name(e.errno()) + (listed == null ? "" : " dtype=" + listed.type()));
            return;
        }
        StringBuilder s = new StringBuilder(Snapshot.typeName(m.mode()))
                .append(' ').append(String.format("%04o", m.mode() & 07777))
                .append(' ').append(m.uid()).append(':').append(m.gid())
                .append(" nlink=").append(nfs && m.type() != 0040000 && names.lowerNlink(m.ino()) == 1
                        && names.name(m.ino()).startsWith("L") ? "(nfs_export: union or real)" : String.valueOf(m.nlink()));
        int type = m.type();
        if (type == 0100000) {
            byte[] data = readOrNull(v, path);
            s.append(" size=").append(m.size()).append(" sha=").append(data == null ? "unreadable" : Snapshot.hash(data));
            if (data != null && data.length != m.size()) s.append(" read-len=").append(data.length);
        } else if (type == 0120000) {
            s.append(" -> ").append(Linux.toUtf8(v.readlink(path))).append(" size=").append(m.size());
        } else if (type == 0020000 || type == 0060000) {
            s.append(" rdev=").append(Linux.major(m.rdev())).append(':').append(Linux.minor(m.rdev()));
        }
        s.append(" ino=").append(names.name(m.ino()));
        if (listed != null) {
            s.append(" dino=").append(listed.ino() == m.ino() || staleLinkDino(type, m, listed, names, path)
                    ? "=ino" : names.name(listed.ino()));
            if (listed.type() != (type >>> 12)) s.append(" dtype=").append(listed.type());
        }
        s.append(" m=").append(Snapshot.time(m.mtimeSec(), m.mtimeNsec()))
                .append(Snapshot.atime(m.atimeSec(), m.atimeNsec()));
        s.append(Snapshot.xattrs(v.xattrs(path), names));
        lines.put(path, s.toString());
        byIno.computeIfAbsent(m.ino(), k -> new ArrayList<>()).add(path);
        items.add(new Item(path, type, m.size(), m.nlink()));
        if (type == 0040000) {
            for (TreeView.Entry e : v.list(path)) {
                walk(v, names, nfs, (path.equals("/") ? "" : path) + "/" + e.name(), e, lines, byIno, items);
            }
        }
    }

    /**
     * The kernel keeps a cache of the d_ino values of a non-merge impure directory, and a link(2) into that
     * directory does not invalidate it (it bumps the directory version only for merge directories or "impurity"
     * changes): a new hard link to a copied-up file is then listed with its real upper inode number instead of
     * its st_ino (the origin's), until the cache goes (memory pressure, drop_caches, remount, another impure
     * change). Checked by hand on 6.18: mkdir n2; mv op/a n2/a; ls n2; ln n2/a n2/n0 lists n0 with the upper
     * number, and with the origin's after echo 2 > /proc/sys/vm/drop_caches (or without the ls before the ln).
     * Since which of the two the kernel shows depends on its cache, a non-directory hard link whose d_ino is
     * an upper inode while its st_ino is a lower origin counts as d_ino == st_ino. The link count does not
     * matter: unlinking the other alias afterwards leaves nlink 1 and the stale number (seed 1250: mkdir /f/a;
     * mv /h11 /f/a/op; ln /f/e /f/a/n1; rm /f/e, checked by hand with an ls before the ln: n1 listed with its
     * upper number, st_ino the origin's, and both the origin's after drop_caches). Only the upper inode of
     * the very path (any upper alias while it has several, or an index entry) is excused.
     */
    private static boolean staleLinkDino(int type, TreeView.Meta m, TreeView.Entry listed, InodeNames names,
                                         String path) {
        if (type == 0040000) return false;
        String d = names.name(listed.ino()), st = names.name(m.ino());
        boolean upperOfThis = d.startsWith("U:") && (m.nlink() >= 2 || d.equals("U:" + path));
        return (upperOfThis || d.startsWith("I:")) && st.startsWith("L");
    }

    private static byte[] readOrNull(TreeView v, String path) {
        try {
            return v.read(path);
        } catch (ErrnoException e) {
            return null;
        }
    }
}
