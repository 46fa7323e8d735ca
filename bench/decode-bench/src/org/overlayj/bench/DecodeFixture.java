package org.overlayj.bench;

import org.overlayj.core.Creds;
import org.overlayj.core.Node;
import org.overlayj.core.OpenFile;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.MountOptions;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * The layers the decode benchmark runs on, built once per index size and kept on disk between JMH forks
 * ($OVERLAYJ_BENCH_DIR, default /tmp/overlayj-bench-decode; run.sh removes it at the end).
 *
 * Index entries are made as the engine makes them: up to 10,000 lower files copied up under index=on,nfs_export=on.
 * Past that (the 1M case) copying up is too slow, so the rest of W/index is filled, after the engine's mount, with
 * whiteouts carrying valid origin-shaped hex names (what the kernel leaves for deleted exported objects). Decode
 * looks up one name in W/index, so only the directory's size matters, not what the other entries are; whiteouts
 * also keep later mounts valid (the mount-time index check skips them).
 */
final class DecodeFixture {
    static final int REAL_MAX = 10_000;
    /** The handles measured: a never copied-up lower file, a copied-up file, a lower dir, a copied-up (indexed) dir. */
    static final List<String> KINDS = List.of("lower", "copiedup", "dir", "copiedupdir");
    /** Where each kind's object is, below the overlay root (the same path in the lower layer). */
    static final List<String> PATHS = List.of("lf", "cu", "d/sub", "dcu");

    final Path dir;
    final OverlayOptions options;

    private DecodeFixture(Path dir) throws IOException {
        this.dir = dir;
        // Parsed like a mount(8) option string, so the bench follows the options' defaults as they evolve.
        this.options = MountOptions.parse("lowerdir=" + dir.resolve("lower") + ",upperdir=" + dir.resolve("upper")
                + ",workdir=" + dir.resolve("work") + ",index=on,nfs_export=on").overlay();
    }

    static Path base() {
        String env = System.getenv("OVERLAYJ_BENCH_DIR");
        return Path.of(env != null && !env.isEmpty() ? env : "/tmp/overlayj-bench-decode");
    }

    /** The fixture for this index size, built on first use (synchronized across forks by a ready marker). */
    static DecodeFixture ensure(int indexEntries) throws IOException {
        DecodeFixture f = new DecodeFixture(base().resolve("index-" + indexEntries));
        if (!Files.exists(f.dir.resolve("ready"))) f.build(indexEntries);
        return f;
    }

    byte[] handle(String kind) throws IOException {
        return Files.readAllBytes(dir.resolve("handle-" + kind + ".bin"));
    }

    /**
     * Puts the kind's real inodes (lower, and upper if any) back in the kernel's dentry cache, as the benchmark
     * assumes they are. Evicted (memory pressure, a test's drop_caches), a non-directory decodes to a disconnected
     * node that holds an fd on its inode: another branch of decode, and under {@code cold} one fd per decode until
     * the garbage nodes are collected, which runs into the fd limit.
     */
    void warmKernelDentries(String kind) throws IOException {
        String path = PATHS.get(KINDS.indexOf(kind));
        for (String layer : List.of("lower", "upper")) {
            Path p = dir.resolve(layer).resolve(path);
            if (Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) Files.readAttributes(p, "unix:ino");
        }
    }

    private void build(int indexEntries) throws IOException {
        long t0 = System.nanoTime();
        if (Files.exists(dir)) new ProcessBuilder("rm", "-rf", dir.toString()).inheritIO().start().onExit().join();
        Path lower = dir.resolve("lower");
        Files.createDirectories(lower.resolve("d/sub"));
        Files.createDirectories(lower.resolve("dcu"));
        Files.createDirectories(dir.resolve("upper"));
        Files.createDirectories(dir.resolve("work"));
        Files.writeString(lower.resolve("lf"), "lower file\n");
        Files.writeString(lower.resolve("cu"), "to be copied up\n");
        Files.writeString(lower.resolve("dcu/x"), "x\n");
        int real = Math.min(indexEntries, REAL_MAX) - 2; // cu and dcu make two more
        for (int i = 0; i < real; i++) {
            Path p = lower.resolve(String.format("many/p%03d/f%d", i / 100, i % 100));
            if (i % 100 == 0) Files.createDirectories(p.getParent());
            Files.writeString(p, "file " + i + "\n");
        }
        Creds r = Creds.ROOT;
        long tm = System.nanoTime();
        try (Overlay o = Overlay.mount(options)) {
            append(o, walk(o, "cu"));
            o.create(walk(o, "dcu"), "y", 0644, r); // copies up dcu: a directory index entry under nfs_export
            for (int i = 0; i < real; i++) append(o, walk(o, String.format("many/p%03d/f%d", i / 100, i % 100)));
            for (int k = 0; k < KINDS.size(); k++) {
                Files.write(dir.resolve("handle-" + KINDS.get(k) + ".bin"), o.encodeHandle(walk(o, PATHS.get(k))));
            }
            o.sync();
        }
        long copied = System.nanoTime();
        String index = dir.resolve("work/index").toString();
        int dummies = fillDummies(index, indexEntries);
        long filled = System.nanoTime();
        Files.writeString(dir.resolve("ready"), "");
        System.out.printf("# fixture %s: %d real index entries (mount + copy-ups %.1f s), %d dummies (%.1f s), total %.1f s%n",
                dir, countEntries(index) - dummies, (copied - tm) / 1e9, dummies, (filled - copied) / 1e9,
                (filled - t0) / 1e9);
    }

    /** Whiteouts named like the index entries already there (same fh header and uuid, random file id). */
    private static int fillDummies(String index, int target) throws IOException {
        int have = countEntries(index);
        if (have >= target) return 0;
        String model = null;
        for (var e : Linux.readdir(index)) {
            if (!e.isDotOrDotDot() && !e.name().startsWith("#")) { model = e.name(); break; }
        }
        if (model == null) throw new IOException("no index entry to model dummies on in " + index);
        // The last 16 hex digits are the ext4 file id (inode + generation): vary those.
        String prefix = model.substring(0, model.length() - 16);
        HexFormat hex = HexFormat.of();
        Random rnd = new Random(42);
        byte[] id = new byte[8];
        int made = 0;
        while (have + made < target) {
            rnd.nextBytes(id);
            String p = index + "/" + prefix + hex.formatHex(id);
            try {
                Linux.mkwhiteout(p);
                made++;
            } catch (org.overlayj.sys.ErrnoException e) {
                if (e.errno() != org.overlayj.sys.Errno.EEXIST) throw e;
            }
        }
        return made;
    }

    static int countEntries(String dir) throws IOException {
        int n = 0;
        for (var e : Linux.readdir(dir)) if (!e.isDotOrDotDot()) n++;
        return n;
    }

    static Node walk(Overlay o, String path) throws IOException {
        Node n = o.root();
        for (String p : path.split("/")) n = o.lookup(n, Linux.fromUtf8(p), Creds.ROOT);
        return n;
    }

    private static void append(Overlay o, Node n) throws IOException {
        OpenFile f = o.open(n, Linux.O_WRONLY | Linux.O_APPEND, Creds.ROOT);
        byte[] b = "+\n".getBytes(StandardCharsets.US_ASCII);
        o.write(f, o.getattr(n).size(), b, 0, b.length);
        o.release(f);
    }
}
