package org.overlayj.core;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.FileHandle;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Differential harness for the format doc's §10 checklist: one scenario, written once against {@link Fs}, runs on
 * the kernel overlay (Linux calls on its mount point) and then on our engine (API calls), over the same lower
 * directories with a fresh upper and work dir each time. Because the lowers are the same, lower-based fh blobs and
 * index names are byte-equal between the two runs; upper-based blobs name different inodes, so snapshots and
 * transcripts show them by the upper path they name.
 */
final class ChecklistTwin implements AutoCloseable {
    static final HexFormat HEX = HexFormat.of();
    final Layers L;
    /** Run in the layers' root after every reset: what the upper holds before a mount (e.g. whiteouts). */
    String upperSetup = "";

    ChecklistTwin(int nLowers, String lowerSetup) throws IOException {
        Linux.umask(0); // the engine's mount sets it process-wide; both sides (and their shells) must agree
        L = new Layers(nLowers);
        try {
            if (!lowerSetup.isEmpty()) Layers.sh("cd " + L.root + " && " + lowerSetup);
        } catch (IOException | RuntimeException e) {
            try {
                close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** A fresh, empty upper and work dir (the lowers stay). */
    void reset() throws IOException {
        kernelUmount();
        Layers.sh("rm -rf " + L.upper + " " + L.work + " && mkdir " + L.upper + " " + L.work);
        if (!upperSetup.isEmpty()) Layers.sh("cd " + L.root + " && " + upperSetup);
    }

    // --- what the two sides share ----------------------------------------------------------------------------------

    /** The kernel-visible view a scenario needs; paths are relative to the overlay root ("" is the root). */
    interface Fs {
        void append(String path, String text) throws ErrnoException;
        String read(String path) throws ErrnoException;
        /** Opens read-write and closes without writing: a copy-up with no data change. */
        void openRw(String path) throws ErrnoException;
        void mkdir(String path, int mode) throws ErrnoException;
        void mknod(String path, int mode, long rdev) throws ErrnoException;
        void symlink(String target, String path) throws ErrnoException;
        void unlink(String path) throws ErrnoException;
        void rmdir(String path) throws ErrnoException;
        void rename(String from, String to) throws ErrnoException;
        void link(String from, String to) throws ErrnoException;
        void chmod(String path, int mode) throws ErrnoException;
        /** lchown; -1 leaves the id as it is. */
        void chown(String path, int uid, int gid) throws ErrnoException;
        List<String> ls(String path) throws ErrnoException;
        /** name → d_ino of a listing, "." and ".." left out. */
        Map<String, Long> dino(String path) throws ErrnoException;
        Stat stat(String path) throws ErrnoException;
        byte[] getxattr(String path, String name) throws ErrnoException;
        void setxattr(String path, String name, byte[] value) throws ErrnoException;
        List<String> listxattr(String path) throws ErrnoException;
        /** The NFS handle (type 0xf8 payload, 3 pad bytes + blob). */
        byte[] handle(String path) throws ErrnoException;
        /** Decodes a handle (type 0xf8) and tells which object it is by its st_ino. */
        long decodeIno(byte[] handle) throws ErrnoException;
        /** The same for a legacy type 0xfb handle: the blob first, padded to a multiple of 4 bytes. */
        long decodeInoLegacy(byte[] handle) throws ErrnoException;
    }

    @FunctionalInterface interface Scenario {
        void run(Fs fs, List<String> out) throws Exception;
    }

    /** A step between mounts that looks at (or changes) the layers directly. */
    @FunctionalInterface interface Offline {
        void run(List<String> out) throws Exception;
    }

    /** Two offline steps: the first remembers upper and work, the second reports whether they are unchanged. */
    Offline[] unchangedCheck() {
        String[] before = new String[2];
        return new Offline[] {
                out -> {
                    before[0] = snapshot(L.upper.toString(), true, upperNames());
                    before[1] = snapshot(L.work.toString(), true, upperNames());
                },
                out -> out.add("upper+work unchanged: " + (before[0].equals(snapshot(L.upper.toString(), true, upperNames()))
                        && before[1].equals(snapshot(L.work.toString(), true, upperNames()))))};
    }

    /** The result of one side: what the scenario observed and what upper and work hold afterwards. */
    record Run(List<String> transcript, String upper, String work, List<String> messages) {}

    /** A mount step with its own options (a plain {@link Scenario} step uses the run's options). */
    record Mount(String kernelOpts, Scenario scenario) {}

    /**
     * Runs the steps on one side over a fresh upper/work: a {@link Scenario} or {@link Mount} mounts, runs and
     * unmounts (a refused mount adds "mount: ERRNO" to the transcript and its messages to the run's messages); a
     * String is a shell command run in the layers' root between mounts.
     */
    Run run(boolean kernel, String kernelOpts, Object... steps) throws Exception {
        reset();
        List<String> out = new ArrayList<>(), messages = new ArrayList<>();
        for (Object step : steps) {
            if (step instanceof String cmd) {
                Layers.sh("cd " + L.root + " && " + cmd);
                continue;
            }
            if (step instanceof Offline off) {
                off.run(out);
                continue;
            }
            Mount m = step instanceof Mount mm ? mm : new Mount(kernelOpts, (Scenario) step);
            if (kernel) {
                KernelLog log = new KernelLog();
                try {
                    kernelMount(m.kernelOpts());
                } catch (ErrnoException e) {
                    out.add("mount: " + Errno.name(e.errno()));
                    messages.addAll(log.overlayLines());
                    continue;
                } finally {
                    log.close();
                }
                try {
                    m.scenario().run(new KernelFs(L.mnt.toString()), out);
                } finally {
                    kernelUmount();
                }
            } else {
                Overlay o;
                try {
                    o = Overlay.mount(options(m.kernelOpts()));
                } catch (ErrnoException e) {
                    out.add("mount: " + Errno.name(e.errno()));
                    messages.add(e.detail());
                    continue;
                }
                try (o) {
                    m.scenario().run(new EngineFs(o), out);
                }
            }
        }
        Map<Long, String> names = upperNames();
        return new Run(out, snapshot(L.upper.toString(), false, names), snapshot(L.work.toString(), false, names), messages);
    }

    Run kernel(String kernelOpts, Object... steps) throws Exception {
        return run(true, kernelOpts, steps);
    }

    Run engine(String kernelOpts, Object... steps) throws Exception {
        return run(false, kernelOpts, steps);
    }

    /** Kernel first, then engine; asserts transcripts and on-disk upper/work are equal; returns the kernel run. */
    Run compare(String kernelOpts, Object... steps) throws Exception {
        Run k = kernel(kernelOpts, steps);
        Run e = engine(kernelOpts, steps);
        assertSame(k, e);
        return k;
    }

    static void assertSame(Run k, Run e) {
        assertEquals(String.join("\n", k.transcript), String.join("\n", e.transcript), "transcript (kernel vs engine)");
        assertEquals(k.upper, e.upper, "upper dir (kernel vs engine)");
        assertEquals(k.work, e.work, "work dir (kernel vs engine)");
    }

    /** {@link #compare}, and every refusal message of ours is among the kernel's new log lines. */
    Run compareWithMessages(String kernelOpts, Object... steps) throws Exception {
        Run k = kernel(kernelOpts, steps);
        Run e = engine(kernelOpts, steps);
        assertSame(k, e);
        if (!sameMessages(k, e)) {
            // Most of the kernel's overlayfs warnings are rate-limited (10 per call site per 5 s): the tests before
            // this one may have used the burst up (which ones run first depends on the order surefire finds the
            // classes in). After 5 s the kernel prints them again: its run once more, on fresh layers.
            Thread.sleep(5_100);
            k = kernel(kernelOpts, steps);
            assertSame(k, e);
        }
        assertSameMessages(k, e);
        return k;
    }

    static final Scenario NOTHING = (fs, out) -> { };

    /** One scenario (a lambda cannot go through the varargs form). */
    Run compare(String kernelOpts, Scenario scenario) throws Exception {
        return compare(kernelOpts, new Object[] {scenario});
    }

    private static boolean sameMessages(Run k, Run e) {
        for (String m : e.messages())
            if (k.messages().stream().noneMatch(l -> l.contains("overlayfs: " + m) || l.contains("overlay: " + m))) return false;
        return k.messages().isEmpty() == e.messages().isEmpty();
    }

    /** Every message of ours appears among the kernel's new overlayfs log lines. */
    static void assertSameMessages(Run k, Run e) {
        for (String m : e.messages())
            org.junit.jupiter.api.Assertions.assertTrue(k.messages().stream().anyMatch(l -> l.contains("overlayfs: " + m) || l.contains("overlay: " + m)),
                    "engine message '" + m + "' not among the kernel's: " + k.messages());
        org.junit.jupiter.api.Assertions.assertEquals(k.messages().isEmpty(), e.messages().isEmpty(), k.messages() + " vs " + e.messages());
    }

    /**
     * The kernel option string of this run (layers first, then {@code kernelOpts}) through our own parser with this
     * machine's module defaults, so both sides get the same effective options.
     */
    OverlayOptions options(String kernelOpts) throws ErrnoException {
        return org.overlayj.core.config.MountOptions.parse(kernelOptions(kernelOpts), L.root.toString(),
                org.overlayj.core.config.ModuleDefaults.current()).overlay();
    }

    /**
     * The full option string: {@code kernelOpts} after the standard layers, or as it is when it names its own
     * layers ("lowerdir=" in it); "$R" stands for the layers' root directory.
     */
    String kernelOptions(String kernelOpts) {
        String o = kernelOpts.replace("$R", L.root.toString());
        if (o.contains("lowerdir=")) return o;
        String std = "lowerdir=" + L.lowerdir() + ",upperdir=" + L.upper + ",workdir=" + L.work;
        return o.isEmpty() ? std : std + "," + o;
    }

    private boolean kernelMounted;

    void kernelMount(String kernelOpts) throws ErrnoException {
        Linux.mount("overlay", L.mnt.toString(), "overlay", 0, kernelOptions(kernelOpts));
        kernelMounted = true;
    }

    void kernelUmount() throws ErrnoException {
        if (kernelMounted) Linux.umount(L.mnt.toString(), 0);
        kernelMounted = false;
    }

    // --- snapshots of the real directories -------------------------------------------------------------------------

    /**
     * One line per object under {@code root}: path, type, mode (not for whiteouts, whose mode means nothing), owner,
     * nlink, size, content, and every xattr. Temporary names ({@code #...}) and what lies in W/work are left out
     * (both sides clear them at the next mount). Upper-based fh blobs are shown by the path of the inode they name.
     */
    static String snapshot(String root) throws ErrnoException {
        return snapshot(root, false);
    }

    static String snapshot(String root, boolean withUuid) throws ErrnoException {
        return snapshot(root, withUuid, new HashMap<>());
    }

    /** The upper's inodes by path ("/" is the upper root): what an upper-based blob anywhere names. */
    Map<Long, String> upperNames() throws ErrnoException {
        Map<Long, String> inoPaths = new HashMap<>();
        walk(L.upper.toString(), "", new TreeMap<>(), inoPaths);
        return inoPaths;
    }

    /** {@code names}: inode names known beforehand (the upper's, for a work dir snapshot); the walk adds its own. */
    static String snapshot(String root, boolean withUuid, Map<Long, String> names) throws ErrnoException {
        Map<Long, String> inoPaths = new HashMap<>(names);
        TreeMap<String, Stat> all = new TreeMap<>();
        walk(root, "", all, inoPaths);
        StringBuilder sb = new StringBuilder();
        for (var e : all.entrySet()) {
            String rel = e.getKey();
            Stat st = e.getValue();
            String p = rel.isEmpty() ? root : root + "/" + rel;
            sb.append(rel.isEmpty() ? "." : rel).append(' ');
            if (st.isWhiteout()) sb.append("WHITEOUT");
            else {
                sb.append(String.format("%06o %d:%d n%d", st.mode(), st.uid(), st.gid(), st.isDir() ? 0 : st.nlink()));
                if (st.isReg()) sb.append(" size=").append(st.size()).append(" '").append(content(p)).append('\'');
                if (st.isLink()) sb.append(" -> ").append(Linux.readlink(p));
                if (st.isChr() || st.type() == Stat.S_IFBLK) sb.append(" rdev=").append(st.rdev());
            }
            for (String x : Linux.llistxattr(p).stream().sorted().toList()) {
                // NS uuid belongs to the mount checks (item 18 tests it on its own); its value is random anyway
                if (x.endsWith("overlay.uuid") && rel.isEmpty() && !withUuid) continue;
                byte[] v = Linux.lgetxattr(p, x);
                sb.append(' ').append(x).append('=').append(showValue(x, v, inoPaths));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static void walk(String root, String rel, TreeMap<String, Stat> all, Map<Long, String> inoPaths) throws ErrnoException {
        String p = rel.isEmpty() ? root : root + "/" + rel;
        Stat st = Linux.lstat(p);
        all.put(rel, st);
        inoPaths.putIfAbsent(st.ino(), rel.isEmpty() ? "/" : rel);
        if (!st.isDir()) return;
        if (rel.equals("work")) return; // W/work: scratch, cleared at every mount
        for (var d : Linux.readdir(p)) {
            if (d.isDotOrDotDot() || d.name().startsWith("#")) continue;
            walk(root, rel.isEmpty() ? d.name() : rel + "/" + d.name(), all, inoPaths);
        }
    }

    private static String content(String p) throws ErrnoException {
        int fd = Linux.open(p, Linux.O_RDONLY, 0);
        try {
            byte[] b = new byte[256];
            int n = Linux.pread(fd, b, 0, b.length, 0);
            return new String(b, 0, Math.max(n, 0), StandardCharsets.ISO_8859_1).replace("\n", "\\n");
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    static String showValue(String name, byte[] v, Map<Long, String> inoPaths) {
        if (name.endsWith(".uuid")) return "<" + v.length + " bytes>";
        if (isBlob(v)) return showBlob(v, 0, inoPaths);
        boolean text = true;
        for (byte b : v) text &= b >= 0x20 && b < 0x7f;
        return text ? "\"" + new String(v, StandardCharsets.ISO_8859_1) + "\"" : "0x" + HEX.formatHex(v);
    }

    static boolean isBlob(byte[] v) {
        return v.length >= 21 && v[0] == 0 && (v[1] & 0xff) == 0xfb && (v[2] & 0xff) == v.length;
    }

    /** A blob at {@code off}: lower ones in hex; upper ones (flag 04) by the inode their ext4/xfs fid names. */
    static String showBlob(byte[] v, int off, Map<Long, String> inoPaths) {
        if ((v[off + 3] & 4) == 0) return "0x" + HEX.formatHex(v);
        long ino = Integer.toUnsignedLong((v[off + 21] & 0xff) | (v[off + 22] & 0xff) << 8 | (v[off + 23] & 0xff) << 16
                | (v[off + 24] & 0xff) << 24);
        String head = HEX.formatHex(v, 0, off + 21);
        return "upper-blob[" + head + " -> " + inoPaths.getOrDefault(ino, "ino " + ino) + "]";
    }

    /** A handle as a transcript shows it: byte-exact when lower-based, by the upper path it names otherwise. */
    String showHandle(byte[] h) throws ErrnoException {
        Map<Long, String> inoPaths = upperNames();
        if (h.length > 3 + 21 && (h[3 + 3] & 4) != 0) return showBlob(h, 3, inoPaths);
        return HEX.formatHex(h);
    }

    static String errno(ThrowingRunnable r) {
        try {
            r.run();
            return "ok";
        } catch (ErrnoException e) {
            return Errno.name(e.errno());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @FunctionalInterface interface ThrowingRunnable {
        void run() throws Exception;
    }

    /**
     * The kernel log from the moment of construction: /dev/kmsg read record by record from its end (a count of
     * dmesg lines does not work once the ring buffer is full). Lines of other processes' overlays may slip in;
     * {@link #assertSameMessages} only asks that ours be among them.
     */
    static final class KernelLog implements AutoCloseable {
        private final int fd;

        KernelLog() throws ErrnoException {
            fd = Linux.open("/dev/kmsg", Linux.O_RDONLY | Linux.O_NONBLOCK, 0);
            Linux.lseek(fd, 0, Linux.SEEK_END);
        }

        List<String> overlayLines() throws ErrnoException {
            List<String> out = new ArrayList<>();
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                java.lang.foreign.MemorySegment buf = a.allocate(8192);
                while (true) {
                    long n;
                    try {
                        n = Linux.read(fd, buf);
                    } catch (ErrnoException e) {
                        if (e.errno() == Errno.EAGAIN) break;
                        if (e.errno() == 32) continue; // EPIPE: records overwritten meanwhile
                        throw e;
                    }
                    if (n <= 0) break;
                    String rec = new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
                    String msg = rec.substring(rec.indexOf(';') + 1);
                    if (msg.indexOf('\n') >= 0) msg = msg.substring(0, msg.indexOf('\n'));
                    if (msg.contains("overlayfs:") || msg.startsWith("overlay:")) out.add(msg);
                }
            }
            return out;
        }

        @Override public void close() {
            Linux.closeQuietly(fd);
        }
    }

    @Override public void close() throws IOException {
        try {
            kernelUmount();
        } finally {
            // whatever a setup mounted under the layers' root (tmpfs, loop ext4) that a failed test left, deepest first
            Layers.sh("findmnt -rn -o TARGET | grep '^" + L.root + "/' | sort -r | while read m; do umount \"$m\"; done; true");
            L.close();
        }
    }

    // --- the two sides ----------------------------------------------------------------------------------------------

    /** Linux calls on the kernel overlay's mount point. */
    static final class KernelFs implements Fs {
        final String mnt;

        KernelFs(String mnt) {
            this.mnt = mnt;
        }

        String p(String path) {
            return path.isEmpty() ? mnt : mnt + "/" + path;
        }

        @Override public void append(String path, String text) throws ErrnoException {
            int fd = Linux.open(p(path), Linux.O_WRONLY | Linux.O_APPEND | Linux.O_CREAT, 0644);
            try {
                byte[] b = Linux.fromUtf8(text).getBytes(StandardCharsets.ISO_8859_1);
                Linux.pwrite(fd, b, 0, b.length, 0);
            } finally {
                Linux.close(fd);
            }
        }

        @Override public String read(String path) throws ErrnoException {
            int fd = Linux.open(p(path), Linux.O_RDONLY, 0);
            try {
                byte[] b = new byte[4096];
                int n = Linux.pread(fd, b, 0, b.length, 0);
                return new String(b, 0, n, StandardCharsets.UTF_8);
            } finally {
                Linux.close(fd);
            }
        }

        @Override public void openRw(String path) throws ErrnoException {
            Linux.close(Linux.open(p(path), Linux.O_RDWR, 0));
        }

        @Override public void mkdir(String path, int mode) throws ErrnoException { Linux.mkdir(p(path), mode); }
        @Override public void mknod(String path, int mode, long rdev) throws ErrnoException { Linux.mknod(p(path), mode, rdev); }
        @Override public void symlink(String target, String path) throws ErrnoException { Linux.symlink(target, p(path)); }
        @Override public void unlink(String path) throws ErrnoException { Linux.unlink(p(path)); }
        @Override public void rmdir(String path) throws ErrnoException { Linux.rmdir(p(path)); }
        @Override public void rename(String from, String to) throws ErrnoException { Linux.rename(p(from), p(to), 0); }
        @Override public void link(String from, String to) throws ErrnoException { Linux.link(p(from), p(to)); }
        @Override public void chmod(String path, int mode) throws ErrnoException { Linux.chmod(p(path), mode); }
        @Override public void chown(String path, int uid, int gid) throws ErrnoException { Linux.lchown(p(path), uid, gid); }

        @Override public List<String> ls(String path) throws ErrnoException {
            return Linux.readdir(p(path)).stream().filter(d -> !d.isDotOrDotDot()).map(d -> d.name()).toList();
        }

        @Override public Map<String, Long> dino(String path) throws ErrnoException {
            Map<String, Long> m = new TreeMap<>();
            for (var d : Linux.readdir(p(path))) if (!d.isDotOrDotDot()) m.put(d.name(), d.ino());
            return m;
        }

        @Override public Stat stat(String path) throws ErrnoException { return Linux.lstat(p(path)); }
        @Override public byte[] getxattr(String path, String name) throws ErrnoException { return Linux.lgetxattr(p(path), name); }
        @Override public void setxattr(String path, String name, byte[] value) throws ErrnoException { Linux.lsetxattr(p(path), name, value, 0); }
        @Override public List<String> listxattr(String path) throws ErrnoException { return Linux.llistxattr(p(path)).stream().sorted().toList(); }

        @Override public byte[] handle(String path) throws ErrnoException {
            FileHandle h = Linux.nameToHandle(p(path), 0);
            if (h.type() != 0xf8) throw new AssertionError("kernel handle type " + h.type());
            return h.bytes();
        }

        @Override public long decodeIno(byte[] handle) throws ErrnoException {
            return decode(0xf8, handle);
        }

        @Override public long decodeInoLegacy(byte[] handle) throws ErrnoException {
            return decode(0xfb, handle);
        }

        long decode(int type, byte[] handle) throws ErrnoException {
            int m = Linux.open(mnt, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
            try {
                int fd = Linux.openByHandle(m, new FileHandle(type, handle), Linux.O_PATH);
                try {
                    return Linux.fstat(fd).ino();
                } finally {
                    Linux.close(fd);
                }
            } finally {
                Linux.close(m);
            }
        }
    }

    /** API calls on our engine, as root. */
    static final class EngineFs implements Fs {
        static final Creds R = Creds.ROOT;
        final Overlay o;

        EngineFs(Overlay o) {
            this.o = o;
        }

        Node walk(String path) throws ErrnoException {
            Node n = o.root();
            for (String s : path.split("/")) if (!s.isEmpty()) n = o.lookup(n, s, R);
            return n;
        }

        Node parent(String path) throws ErrnoException {
            int i = path.lastIndexOf('/');
            return i < 0 ? o.root() : walk(path.substring(0, i));
        }

        static String name(String path) {
            return path.substring(path.lastIndexOf('/') + 1);
        }

        @Override public void append(String path, String text) throws ErrnoException {
            Node n;
            try {
                n = walk(path);
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENOENT) throw e;
                n = o.create(parent(path), name(path), 0100644, R);
            }
            OpenFile f = o.open(n, Linux.O_WRONLY | Linux.O_APPEND, R);
            try {
                byte[] b = Linux.fromUtf8(text).getBytes(StandardCharsets.ISO_8859_1);
                o.write(f, o.getattr(n).size(), b, 0, b.length);
            } finally {
                o.release(f);
            }
        }

        @Override public String read(String path) throws ErrnoException {
            Node n = walk(path);
            OpenFile f = o.open(n, Linux.O_RDONLY, R);
            try {
                byte[] b = new byte[4096];
                int len = o.read(f, 0, b, 0, b.length);
                return new String(b, 0, len, StandardCharsets.UTF_8);
            } finally {
                o.release(f);
            }
        }

        @Override public void openRw(String path) throws ErrnoException {
            o.release(o.open(walk(path), Linux.O_RDWR, R));
        }

        @Override public void mkdir(String path, int mode) throws ErrnoException { o.mkdir(parent(path), name(path), mode, R); }
        @Override public void mknod(String path, int mode, long rdev) throws ErrnoException { o.mknod(parent(path), name(path), mode, rdev, R); }
        @Override public void symlink(String target, String path) throws ErrnoException { o.symlink(parent(path), name(path), target, R); }
        @Override public void unlink(String path) throws ErrnoException { o.unlink(parent(path), name(path), R); }
        @Override public void rmdir(String path) throws ErrnoException { o.rmdir(parent(path), name(path), R); }
        @Override public void rename(String from, String to) throws ErrnoException { o.rename(parent(from), name(from), parent(to), name(to), 0, R); }
        @Override public void link(String from, String to) throws ErrnoException { o.link(walk(from), parent(to), name(to), R); }
        @Override public void chmod(String path, int mode) throws ErrnoException { o.setattr(walk(path), SetAttr.chmod(mode), R); }
        @Override public void chown(String path, int uid, int gid) throws ErrnoException {
            o.setattr(walk(path), SetAttr.chown(uid == -1 ? null : uid, gid == -1 ? null : gid), R);
        }

        @Override public List<String> ls(String path) throws ErrnoException {
            return o.readdir(walk(path), 0, 100000, R).stream().map(DirEntry::name).filter(n -> !n.equals(".") && !n.equals("..")).toList();
        }

        @Override public Map<String, Long> dino(String path) throws ErrnoException {
            Map<String, Long> m = new TreeMap<>();
            for (DirEntry d : o.readdir(walk(path), 0, 100000, R)) if (!d.name().equals(".") && !d.name().equals("..")) m.put(d.name(), d.ino());
            return m;
        }

        @Override public Stat stat(String path) throws ErrnoException {
            Attr a = o.getattr(walk(path));
            return new Stat(a.mode(), a.ino(), a.nlink(), a.uid(), a.gid(), a.size(), a.blocks(), a.blksize(),
                    a.atimeSec(), a.atimeNsec(), a.mtimeSec(), a.mtimeNsec(), a.ctimeSec(), a.ctimeNsec(),
                    Linux.major(a.rdev()), Linux.minor(a.rdev()), 0, 0, 0);
        }

        @Override public byte[] getxattr(String path, String name) throws ErrnoException { return o.getxattr(walk(path), name, R); }
        @Override public void setxattr(String path, String name, byte[] value) throws ErrnoException { o.setxattr(walk(path), name, value, 0, R); }
        @Override public List<String> listxattr(String path) throws ErrnoException { return o.listxattr(walk(path), R).stream().sorted().toList(); }
        @Override public byte[] handle(String path) throws ErrnoException { return o.encodeHandle(walk(path)); }
        @Override public long decodeIno(byte[] handle) throws ErrnoException { return o.getattr(o.decodeHandle(handle)).ino(); }
        @Override public long decodeInoLegacy(byte[] handle) throws ErrnoException { return o.getattr(o.decodeHandle(handle)).ino(); }
    }
}
