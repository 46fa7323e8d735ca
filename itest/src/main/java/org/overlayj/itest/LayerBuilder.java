package org.overlayj.itest;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Builds a small random pair of lower layers from a seed: l2 at the bottom, l1 on top with 0/0 whiteouts over l2
 * names, an opaque directory ({@code trusted.overlay.opaque=y}), merged directories and shadowing files; plus an
 * empty upper and work dir. Objects get a mix of sizes (0, small, 70 KiB), modes (suid/sgid included), owners,
 * user.* and trusted.* xattrs, FIFOs, symlinks and fixed nanosecond times, so that anything a copy-up must preserve
 * is there to be checked. Lower hard-link groups are optional because they only behave kernel-like with index=on.
 *
 * <p>Trees are small on purpose: a sequence builds, copies and mounts a fresh pair, hundreds of times per run.
 */
public final class LayerBuilder {
    /** Names are drawn from a small pool so that the two lower layers overlap often. */
    private static final String[] NAMES = {"a", "b", "c", "d", "e", "f", "g"};
    private static final int[] FILE_MODES = {0644, 0644, 0600, 0755, 04755, 02755, 06755, 0444};
    private static final int[] DIR_MODES = {0755, 0755, 0700, 0775, 02775};
    private static final int[] UIDS = {0, 0, 1000, 1001};
    private static final int[] GIDS = {0, 0, 100, 1001};
    /** Every time the builder writes is before this, so "now" times set by a kernel are told apart. */
    static final long EPOCH = 1_000_000_000L;

    private final Random r;
    private final boolean hardLinks;
    private final Map<String, Character> l2 = new LinkedHashMap<>();
    private final Map<String, Character> l1 = new LinkedHashMap<>();
    private int bigFiles;

    private LayerBuilder(long seed, boolean hardLinks) {
        this.r = new Random(seed * 31 + 7);
        this.hardLinks = hardLinks;
    }

    /**
     * Two byte-identical copies, {@code root/A} and {@code root/B}, of one seeded build in {@code root/proto}.
     * Both are copied from the prototype, because copying reads the source and moves its atimes to "now".
     */
    public static LayerSet[] buildPair(Path root, long seed, boolean hardLinks) throws IOException {
        LayerSet proto = build(root.resolve("proto"), seed, hardLinks);
        return new LayerSet[] {proto.copyTo(root.resolve("A")), proto.copyTo(root.resolve("B"))};
    }

    /** Builds the layers under {@code base} (which must not exist yet). */
    public static LayerSet build(Path base, long seed, boolean hardLinks) throws IOException {
        LayerSet s = new LayerSet(base);
        Files.createDirectories(base);
        for (Path p : List.of(s.lower1(), s.lower2(), s.upper(), s.work())) Files.createDirectory(p);
        new LayerBuilder(seed, hardLinks).fill(s);
        return s;
    }

    private void fill(LayerSet s) throws IOException {
        String b2 = Linux.fromUtf8(s.lower2().toString()), b1 = Linux.fromUtf8(s.lower1().toString());
        tree(b2, "", 0, l2, null);
        tree(b1, "", 0, l1, l2);
        ensureWhiteoutAndOpaque(b1, b2);
        if (hardLinks) hardLinkGroups(b2);
        // Directory times last, deepest first: creating children above moved their mtimes.
        for (String root : List.of(b2, b1)) {
            Map<String, Character> m = root.equals(b2) ? l2 : l1;
            List<String> dirs = new ArrayList<>();
            for (var e : m.entrySet()) if (e.getValue() == 'd') dirs.add(e.getKey());
            dirs.sort((x, y) -> Integer.compare(depth(y), depth(x)));
            for (String d : dirs) times(root + d);
        }
        for (Path p : List.of(s.lower1(), s.lower2(), s.upper(), s.work())) {
            Linux.utimens(Linux.fromUtf8(p.toString()), EPOCH - 1000, 1, EPOCH - 1000, 2, true);
        }
    }

    private static int depth(String p) { return p.length() - p.replace("/", "").length(); }

    /** One directory level; {@code below} is the layer underneath (null for the bottom one). */
    private void tree(String root, String dir, int depth, Map<String, Character> mine, Map<String, Character> below)
            throws IOException {
        int n = depth == 0 ? 5 + r.nextInt(3) : 1 + r.nextInt(4);
        List<String> pool = new ArrayList<>(List.of(NAMES));
        for (int i = 0; i < n && !pool.isEmpty(); i++) {
            String name = pool.remove(r.nextInt(pool.size()));
            String rel = dir + "/" + name;
            Character under = below == null ? null : below.get(rel);
            char kind;
            if (under != null) {
                int x = r.nextInt(100);
                if (x < 30) kind = 'w';
                else if (under == 'd' && x < 75) kind = r.nextInt(4) == 0 ? 'o' : 'd';
                else kind = pickKind(depth);
            } else {
                kind = pickKind(depth);
            }
            make(root, rel, kind, depth, mine, below);
        }
    }

    private char pickKind(int depth) {
        int x = r.nextInt(100);
        if (x < 30 && depth < 2) return 'd';
        if (x < 75) return 'f';
        if (x < 90) return 'l';
        return 'p';
    }

    private void make(String root, String rel, char kind, int depth, Map<String, Character> mine,
                      Map<String, Character> below) throws IOException {
        String p = root + rel;
        switch (kind) {
            case 'w' -> {
                Linux.mkwhiteout(p);
                mine.put(rel, 'w');
            }
            case 'd', 'o' -> {
                Linux.mkdir(p, 0755);
                mine.put(rel, 'd');
                if (kind == 'o') Linux.lsetxattr(p, "trusted.overlay.opaque", new byte[] {'y'}, 0);
                attrs(p, DIR_MODES[r.nextInt(DIR_MODES.length)], true);
                tree(root, rel, depth + 1, mine, kind == 'o' ? null : below);
            }
            case 'f' -> {
                int size = r.nextInt(100) < 15 ? 0 : r.nextInt(300) + 1;
                if (r.nextInt(100) < 10 && bigFiles < 2) {
                    size = 70 * 1024;
                    bigFiles++;
                }
                Files.write(Path.of(Linux.toUtf8(p)), Op.Content.bytes(size, r.nextInt(1000)));
                mine.put(rel, 'f');
                attrs(p, FILE_MODES[r.nextInt(FILE_MODES.length)], true);
                times(p);
            }
            case 'l' -> {
                String[] targets = {"a", "../b", "nowhere", "/nonexistent/x", "d/e"};
                Linux.symlink(targets[r.nextInt(targets.length)], p);
                mine.put(rel, 'l');
                Linux.lchown(p, UIDS[r.nextInt(UIDS.length)], GIDS[r.nextInt(GIDS.length)]);
                if (r.nextInt(10) == 0) Linux.lsetxattr(p, "trusted.foo", bytes("link" + r.nextInt(9)), 0);
                times(p);
            }
            case 'p' -> {
                Linux.mknod(p, 0010000 | 0644, 0);
                mine.put(rel, 'p');
                attrs(p, r.nextBoolean() ? 0644 : 0600, false);
                times(p);
            }
            default -> throw new IllegalArgumentException("kind " + kind);
        }
    }

    /** Owner, then mode (chown clears suid/sgid), then xattrs. */
    private void attrs(String p, int mode, boolean xattrs) throws ErrnoException {
        Linux.lchown(p, UIDS[r.nextInt(UIDS.length)], GIDS[r.nextInt(GIDS.length)]);
        Linux.chmod(p, mode);
        if (!xattrs) return;
        if (r.nextInt(100) < 30) Linux.lsetxattr(p, "user.x", bytes("v" + r.nextInt(100)), 0);
        if (r.nextInt(100) < 15) Linux.lsetxattr(p, "trusted.foo", bytes("t" + r.nextInt(100)), 0);
    }

    private void times(String p) throws ErrnoException {
        long m = EPOCH + r.nextInt(100_000_000);
        Linux.utimens(p, m + r.nextInt(1000), r.nextInt(1_000_000_000), m, r.nextInt(1_000_000_000), true);
    }

    /** The checklist needs at least one whiteout over an l2 name and one opaque directory in every tree. */
    private void ensureWhiteoutAndOpaque(String b1, String b2) throws IOException {
        if (!l1.containsValue('w')) {
            make(b2, "/wo", 'f', 2, l2, null);
            make(b1, "/wo", 'w', 0, l1, l2);
        }
        // An opaque l1 dir over an l2 dir whose child must stay hidden.
        Linux.mkdir(b2 + "/op", 0755);
        l2.put("/op", 'd');
        make(b2, "/op/hidden", 'f', 2, l2, null);
        make(b1, "/op", 'o', 1, l1, null);
    }

    /** 2–4 aliases of one l2 file across directories. */
    private void hardLinkGroups(String b2) throws IOException {
        List<String> files = new ArrayList<>(), dirs = new ArrayList<>(List.of(""));
        for (var e : l2.entrySet()) {
            if (e.getValue() == 'f') files.add(e.getKey());
            if (e.getValue() == 'd') dirs.add(e.getKey());
        }
        if (files.isEmpty()) return;
        for (int g = 0; g < 2; g++) {
            String src = files.get(r.nextInt(files.size()));
            int extra = 1 + r.nextInt(3);
            for (int i = 0; i < extra; i++) {
                String rel = dirs.get(r.nextInt(dirs.size())) + "/h" + g + i;
                if (l2.containsKey(rel)) continue;
                Linux.link(b2 + src, b2 + rel);
                l2.put(rel, 'f');
            }
        }
    }

    private static byte[] bytes(String s) { return s.getBytes(StandardCharsets.ISO_8859_1); }
}
