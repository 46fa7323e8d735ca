package org.overlayj.core.layer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * Test helpers: a temp dir under /tmp/overlayj-test-*, mounts it made (tmpfs, bind, kernel overlay) torn down in
 * reverse order, and a snapshot of a tree (names, types, modes, sizes, xattrs) for before/after comparisons.
 */
final class LayerFixture implements AutoCloseable {
    static final long MS_RDONLY = 1, MS_REMOUNT = 32, MS_BIND = 4096;

    final Path base;
    private final Deque<String> mounts = new ArrayDeque<>();

    LayerFixture() throws IOException {
        base = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-");
    }

    /** Fails (never skips) when the machine cannot run kernel comparisons. */
    static void requireKernelOverlay() {
        if (Linux.geteuid() != 0) throw new AssertionError("kernel comparison tests need root");
        try {
            String fs = Files.readString(Path.of("/proc/filesystems"));
            if (!fs.contains("\toverlay\n")) throw new AssertionError("the kernel has no overlay filesystem");
        } catch (IOException e) {
            throw new AssertionError("cannot read /proc/filesystems", e);
        }
    }

    static String mkdirs(String p) throws IOException {
        Files.createDirectories(Path.of(p));
        return p;
    }

    static void touch(String p) throws IOException {
        Files.createDirectories(Path.of(p).getParent());
        Files.write(Path.of(p), new byte[0]);
    }

    void tmpfs(String at, boolean ro) throws ErrnoException {
        Linux.mount("tmpfs", at, "tmpfs", ro ? MS_RDONLY : 0, "mode=755");
        mounts.push(at);
    }

    void bindRo(String from, String at) throws ErrnoException {
        Linux.mount(from, at, "none", MS_BIND, null);
        mounts.push(at);
        Linux.mount("none", at, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, null);
    }

    void overlay(String at, String options) throws ErrnoException {
        Linux.mount("overlay", at, "overlay", 0, options);
        mounts.push(at);
    }

    /**
     * A small ext4 image with the given UUID ("clear" for a null one), loop-mounted at {@code at}. mount(8)
     * sets autoclear, so unmounting frees the loop device too.
     */
    void loopExt4(String at, String uuid) throws Exception {
        Path img = Files.createTempFile(base, "img-", ".ext4");
        run("truncate", "-s", "8M", img.toString());
        run("mkfs.ext4", "-q", "-F", "-U", uuid, img.toString());
        run("mount", "-o", "loop", img.toString(), at);
        mounts.push(at);
    }

    static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new AssertionError(String.join(" ", cmd) + " failed: " + out);
    }

    void pushMount(String at) {
        mounts.push(at);
    }

    void unmountAll() {
        while (!mounts.isEmpty()) {
            String m = mounts.pop();
            try {
                Linux.umount(m, 0);
            } catch (ErrnoException e) {
                try {
                    Linux.umount(m, Linux.MNT_DETACH);
                } catch (ErrnoException ignored) {
                    // already gone
                }
            }
        }
    }

    @Override public void close() throws IOException {
        unmountAll();
        try (var walk = Files.walk(base)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /**
     * The tree under {@code root} as text lines, one per object: path, type, permission bits, size of regular
     * files, xattrs. Values of xattrs in {@code masked} are reduced to their length (random or inode-dependent);
     * xattrs in {@code skipped} are left out; directories named in {@code skipDirs} are not entered.
     */
    static List<String> snapshot(String root, Set<String> masked, Set<String> skipped, Set<String> skipDirs)
            throws ErrnoException {
        List<String> out = new ArrayList<>();
        walk(root, "", masked, skipped, skipDirs, out);
        return out;
    }

    private static void walk(String abs, String rel, Set<String> masked, Set<String> skipped, Set<String> skipDirs,
                             List<String> out) throws ErrnoException {
        Stat st = Linux.lstat(abs);
        // temporary names come from a kernel counter there and a random number here: only their shape matters
        String shown = rel.replaceAll("#[0-9a-f]+", "#<tmp>");
        StringBuilder line = new StringBuilder(rel.isEmpty() ? "." : shown).append(' ')
                .append(Integer.toOctalString(st.type() >> 12)).append(' ')
                .append(Integer.toOctalString(st.perm()));
        if (st.isReg()) line.append(" size=").append(st.size());
        if (st.isChr()) line.append(" rdev=").append(st.rdevMajor()).append(':').append(st.rdevMinor());
        TreeMap<String, String> xs = new TreeMap<>();
        if (!st.isLink()) {
            for (String x : Linux.llistxattr(abs)) {
                if (skipped.contains(x)) continue;
                byte[] v = Linux.lgetxattr(abs, x);
                xs.put(x, masked.contains(x) ? "<" + v.length + " bytes>" : HexFormat.of().formatHex(v));
            }
        }
        if (!xs.isEmpty()) line.append(' ').append(xs);
        out.add(line.toString());
        if (!st.isDir() || skipDirs.contains(rel)) return;
        TreeMap<String, Boolean> names = new TreeMap<>();
        for (DirEnt e : Linux.readdir(abs)) if (!e.isDotOrDotDot()) names.put(e.name(), true);
        for (String n : names.keySet()) {
            walk(abs + "/" + n, rel.isEmpty() ? n : rel + "/" + n, masked, skipped, skipDirs, out);
        }
    }
}
