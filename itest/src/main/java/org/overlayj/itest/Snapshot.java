package org.overlayj.itest;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A normalized picture of a tree: one line per path. Anything that legitimately differs between two copies of the
 * layers (inode numbers, fid generations, "now" times, random uuids, temp names) is replaced by what it means, so
 * two snapshots are equal exactly when the trees agree.
 */
public record Snapshot(String title, Map<String, String> entries) {

    public Snapshot {
        entries = java.util.Collections.unmodifiableSortedMap(new TreeMap<>(entries));
    }

    /**
     * The same snapshot without atimes: across a remount the kernel itself does not keep them (its cached overlay
     * inode and the real inode drift apart under relatime), so cross-checks after a remount leave them out.
     */
    public Snapshot withoutAtimes() {
        Map<String, String> m = new TreeMap<>();
        for (var e : entries.entrySet()) m.put(e.getKey(), e.getValue().replaceAll(" a=\\S+", ""));
        return new Snapshot(title + " (atimes left out)", m);
    }

    /** Null when equal; otherwise a readable listing of the differing paths. */
    public String diff(Snapshot other, String mine, String theirs) {
        TreeSet<String> keys = new TreeSet<>(entries.keySet());
        keys.addAll(other.entries.keySet());
        List<String> out = new ArrayList<>();
        for (String k : keys) {
            String a = entries.get(k), b = other.entries.get(k);
            if (a != null && a.equals(b)) continue;
            out.add("  " + k);
            out.add("    " + pad(mine) + (a == null ? "(absent)" : a));
            out.add("    " + pad(theirs) + (b == null ? "(absent)" : b));
        }
        if (out.isEmpty()) return null;
        return title + " differs (" + (out.size() / 3) + " paths):\n" + String.join("\n", out);
    }

    private static String pad(String s) { return String.format("%-8s ", s + ":"); }

    @Override public String toString() {
        StringBuilder s = new StringBuilder(title).append(":\n");
        for (Map.Entry<String, String> e : entries.entrySet()) s.append("  ").append(e.getKey()).append("  ").append(e.getValue()).append('\n');
        return s.toString();
    }

    // --- shared normalization ---------------------------------------------------------------------------------

    /** Times at or after this are "now" (set by the filesystem, not by the script or the builder). */
    static final long NOW_FLOOR = 1_200_000_000L;

    static String time(long sec, long nsec) {
        return sec >= NOW_FLOOR ? "now" : sec + "." + String.format("%09d", nsec);
    }

    /**
     * {@code -Doverlayj.ignoreAtimes=true} leaves atimes out, like {@link #IGNORED_XATTRS} only for looking past a
     * known, reported difference. Off by default.
     */
    static final boolean IGNORE_ATIMES = Boolean.getBoolean("overlayj.ignoreAtimes");

    /** " a=..." or nothing when atimes are ignored. */
    static String atime(long sec, long nsec) {
        return IGNORE_ATIMES ? "" : " a=" + time(sec, nsec);
    }

    static String hash(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b), 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String typeName(int mode) {
        return switch (mode & 0170000) {
            case 0040000 -> "dir";
            case 0100000 -> "reg";
            case 0120000 -> "lnk";
            case 0010000 -> "fifo";
            case 0020000 -> "chr";
            case 0060000 -> "blk";
            case 0140000 -> "sock";
            default -> "type" + Integer.toOctalString(mode & 0170000);
        };
    }

    static String xattrValue(String name, byte[] v, InodeNames names) {
        if (name.endsWith("overlay.origin") || name.endsWith("overlay.upper")) return FhBlob.normalize(v, names);
        if (name.endsWith("overlay.uuid") && v.length == 16) return "<uuid16>";
        boolean text = true;
        for (byte b : v) if (b < 0x20 || b > 0x7e) { text = false; break; }
        return text ? "\"" + new String(v, java.nio.charset.StandardCharsets.ISO_8859_1) + "\"" : "0x" + HexFormat.of().formatHex(v);
    }

    /**
     * Xattr names left out of every snapshot ({@code -Doverlayj.ignoreXattrs=a,b}): only for looking past a known,
     * reported difference to the ones behind it. Empty by default: nothing is ignored.
     */
    static final java.util.Set<String> IGNORED_XATTRS = java.util.Set.of(
            System.getProperty("overlayj.ignoreXattrs", "").split(",")).stream()
            .filter(n -> !n.isBlank()).collect(java.util.stream.Collectors.toUnmodifiableSet());

    static String xattrs(SortedMap<String, byte[]> all, InodeNames names) {
        SortedMap<String, byte[]> x = new TreeMap<>(all);
        x.keySet().removeAll(IGNORED_XATTRS);
        if (x.isEmpty()) return "";
        StringBuilder s = new StringBuilder(" x{");
        boolean first = true;
        for (var e : x.entrySet()) {
            if (!first) s.append(", ");
            first = false;
            s.append(org.overlayj.sys.Linux.toUtf8(e.getKey())).append('=').append(xattrValue(e.getKey(), e.getValue(), names));
        }
        return s.append('}').toString();
    }
}
