package org.overlayj.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The mount command run as a user would, in a child JVM on the test classpath (no install step needed). */
class MountCommandTest {
    private Path dir, mnt, logs;
    private final List<Process> started = new ArrayList<>();

    @BeforeEach void layers() throws IOException {
        if (Linux.geteuid() != 0) fail("this test needs root (mount(2) of /dev/fuse)");
        if (!Files.exists(Path.of("/dev/fuse"))) fail("this test needs /dev/fuse");
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-cli-");
        for (String d : new String[]{"l1", "l2", "u", "w", "mnt", "logs"}) Files.createDirectory(dir.resolve(d));
        Files.writeString(dir.resolve("l2/f"), "lower");
        mnt = dir.resolve("mnt");
        logs = dir.resolve("logs");
    }

    @AfterEach void cleanup() throws IOException {
        try {
            for (int i = 0; i < 4 && isMounted(); i++) {
                try {
                    Linux.umount(mnt.toString(), Linux.MNT_DETACH);
                } catch (Exception ignored) {
                    // best effort
                }
            }
            serverPid().ifPresent(ph -> {
                ph.destroy();
                ph.onExit().orTimeout(30, TimeUnit.SECONDS).exceptionally(t -> null).join();
            });
            for (Process p : started) if (p.isAlive()) p.destroyForcibly();
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private String opts() {
        return "lowerdir=" + dir.resolve("l1") + ":" + dir.resolve("l2") + ",upperdir=" + dir.resolve("u")
                + ",workdir=" + dir.resolve("w");
    }

    private Process overlayj(String... args) throws IOException {
        return overlayjIn(null, args);
    }

    /** As {@link #overlayj}, run in {@code cwd} (containers/storage runs its mount program in the graph root). */
    private Process overlayjIn(Path cwd, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        // output to a file: a pipe nobody reads could fill up, and destroy() closes pipes
        Path out = dir.resolve("out-" + started.size() + ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
        if (cwd != null) pb.directory(cwd.toFile());
        pb.environment().put("OVERLAYJ_LOG_DIR", logs.toString());
        Process p = pb.start();
        started.add(p);
        outputs.add(out);
        return p;
    }

    private final List<Path> outputs = new ArrayList<>();

    private String output(Process p) throws Exception {
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "exited");
        return Files.readString(outputs.get(started.indexOf(p)), StandardCharsets.UTF_8);
    }

    private boolean isMounted() throws IOException {
        return mountLine() != null;
    }

    private String mountLine() throws IOException {
        try (Stream<String> lines = Files.lines(Path.of("/proc/mounts"))) {
            return lines.filter(l -> l.split(" ")[1].equals(mnt.toString())).findFirst().orElse(null);
        }
    }

    /** The backgrounded server: the process whose command line names our mount point and the child flag. */
    private Optional<ProcessHandle> serverPid() {
        return ProcessHandle.allProcesses().filter(ph -> {
            String cmd = String.join(" ", ph.info().arguments().orElse(new String[0]));
            return cmd.contains(Daemon.CHILD_FLAG) && cmd.contains(mnt.toString());
        }).findFirst();
    }

    @Test void backgroundMountServesUntilUmount() throws Exception {
        Process p = overlayj("-o", opts(), "-o", "fsname=testovl,noatime,fast_ino=1", mnt.toString());
        String out = output(p);
        assertEquals(0, p.exitValue(), out);
        String line = mountLine();
        assertNotNull(line, "mounted when the command returned");
        String[] f = line.split(" ");
        assertEquals("testovl", f[0]);
        assertEquals("fuse.overlayj", f[2]);
        assertTrue(f[3].contains("noatime"), f[3]);

        ProcessHandle server = serverPid().orElseThrow(() -> new AssertionError("no server process"));
        assertTrue(server.isAlive());
        assertFalse(server.parent().map(ph -> ph.pid() == p.pid()).orElse(false), "detached from the launcher");

        Files.writeString(mnt.resolve("f"), "+more", java.nio.file.StandardOpenOption.APPEND);
        assertEquals("lower+more", Files.readString(dir.resolve("u/f")));
        Files.delete(mnt.resolve("f"));
        Stat wh = Linux.lstat(dir.resolve("u/f").toString());
        assertTrue(wh.isWhiteout());

        Process um = new ProcessBuilder("umount", mnt.toString()).redirectErrorStream(true).start();
        assertEquals(0, um.waitFor(), new String(um.getInputStream().readAllBytes()));
        assertTrue(server.onExit().orTimeout(60, TimeUnit.SECONDS).handle((x, t) -> t == null).join(),
                "server exits after umount");
        assertFalse(isMounted());
        try (Stream<Path> s = Files.list(logs)) {
            assertEquals(1, s.count(), "the server logged to a file in OVERLAYJ_LOG_DIR");
        }
    }

    @Test void failingMountExitsNonZeroWithTheMessage() throws Exception {
        Process p = overlayj("-o", "upperdir=" + dir.resolve("u") + ",workdir=" + dir.resolve("w"), mnt.toString());
        String out = output(p);
        assertNotEquals(0, p.exitValue());
        assertTrue(out.contains("lowerdir"), out);
        assertFalse(isMounted());

        Process q = overlayj("-o", "lowerdir=" + dir.resolve("nonexistent"), "overlay", mnt.toString());
        String out2 = output(q);
        assertNotEquals(0, q.exitValue());
        assertTrue(out2.contains("ENOENT") && out2.contains("nonexistent"), out2);
        assertFalse(isMounted());
        assertTrue(serverPid().isEmpty(), "no server left behind");

        // an option neither the kernel nor fuse-overlayfs knows is refused, with the kernel's words
        Process r = overlayj("-o", opts() + ",frobnicate=1", mnt.toString());
        String out3 = output(r);
        assertNotEquals(0, r.exitValue());
        assertTrue(out3.contains("Unknown parameter 'frobnicate'"), out3);
        assertFalse(isMounted());
    }

    /**
     * The command line containers/storage and containerd's fuse-overlayfs snapshotter write: the graph root as the
     * working directory, repeated -o, an empty option, volatile, nodev/nosuid, metacopy=on, an SELinux context in
     * quotes with a comma inside, and fuse-overlayfs's tuning options (accepted, logged once as ignored);
     * unmounted by fusermount3 -u.
     */
    @Test void containerEngineCommandLine() throws Exception {
        Process p = overlayjIn(dir, "-o", "lowerdir=l1:l2,upperdir=u,workdir=w,,volatile",
                "-o", "nodev,nosuid,metacopy=on,writeback=0,xattr_permissions=0",
                "-o", "context=\"system_u:object_r:container_file_t:s0:c1,c2\"",
                "-o", "fsync=0,threaded=1,fast_ino=1,noxattrs=0,static_nlink,noacl,timeout=1000,plugins=", "mnt");
        String out = output(p);
        assertEquals(0, p.exitValue(), out);
        String line = mountLine();
        assertNotNull(line, out);
        assertTrue(line.contains("nodev") && line.contains("nosuid"), line);
        Files.writeString(mnt.resolve("g"), "new");
        assertEquals("new", Files.readString(dir.resolve("u/g")));
        assertEquals("lower", Files.readString(mnt.resolve("f")));
        Process um = new ProcessBuilder("fusermount3", "-u", mnt.toString()).redirectErrorStream(true).start();
        assertEquals(0, um.waitFor(), new String(um.getInputStream().readAllBytes()));
        for (int i = 0; i < 600 && serverPid().isPresent(); i++) Thread.sleep(100);
        assertTrue(serverPid().isEmpty(), "the server ends after fusermount3 -u");
        String log;
        try (Stream<Path> s = Files.list(logs)) {
            log = Files.readString(s.findFirst().orElseThrow());
        }
        List<String> ignored = log.lines().filter(l -> l.contains("options ignored")).toList();
        assertEquals(1, ignored.size(), log);
        assertTrue(ignored.getFirst().contains("context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
                && ignored.getFirst().contains("writeback=0") && ignored.getFirst().contains("fast_ino=1"), log);
    }

    /** A read-only overlay, as containers/storage mounts an image: only lowerdir=a:b. */
    @Test void onlyLowerdirsMountReadOnly() throws Exception {
        Process p = overlayjIn(dir, "-o", "lowerdir=l1:l2", "mnt");
        assertEquals(0, p.waitFor(), output(p));
        assertEquals("lower", Files.readString(mnt.resolve("f")));
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> Files.writeString(mnt.resolve("g"), "x"));
        assertTrue(e.getMessage() == null || !Files.exists(dir.resolve("l1/g")), String.valueOf(e));
        assertTrue(mountLine().split(" ")[3].startsWith("ro"), mountLine());
    }

    /**
     * uidmapping=/gidmapping= (several triples) and squash_to_*: owners show mapped, an unmapped one as 65534,
     * owners written through the mount go back to the layers' ids.
     */
    @Test void idMappingsShowOwnersMappedAndWriteThemBack() throws Exception {
        Files.writeString(dir.resolve("l2/c1000"), "x");
        Files.writeString(dir.resolve("l2/c70000"), "x");
        Files.writeString(dir.resolve("l2/c300005"), "x");
        Linux.lchown(dir.resolve("l2/c1000").toString(), 1000, 1001);
        Linux.lchown(dir.resolve("l2/c70000").toString(), 70000, 70000);
        Linux.lchown(dir.resolve("l2/c300005").toString(), 65536, 65537);
        Process p = overlayjIn(dir, "-o", "lowerdir=l1:l2,upperdir=u,workdir=w,uidmapping=0:100000:65536:65536:300000:10,"
                + "gidmapping=0:200000:65536:65536:400000:10", "mnt");
        assertEquals(0, p.waitFor(), output(p));
        assertEquals("100000:200000", owner(mnt.resolve("f")));
        assertEquals("101000:201001", owner(mnt.resolve("c1000")));
        assertEquals("65534:65534", owner(mnt.resolve("c70000")));
        assertEquals("300000:400001", owner(mnt.resolve("c300005")));
        // a chown through the mount writes the layers' ids
        Linux.lchown(mnt.resolve("f").toString(), 100005, 200007);
        assertEquals("5:7", owner(dir.resolve("u/f")));
        assertEquals("100005:200007", owner(mnt.resolve("f")));
        // the host's root, which no triple covers, still creates (as itself), as the container engine must
        Files.writeString(mnt.resolve("new"), "n");
        assertEquals("0:0", owner(dir.resolve("u/new")));
        assertEquals("100000:200000", owner(mnt.resolve("new")));
        Process um = new ProcessBuilder("fusermount3", "-u", mnt.toString()).start();
        assertEquals(0, um.waitFor());
        for (int i = 0; i < 600 && isMounted(); i++) Thread.sleep(100);

        Process q = overlayjIn(dir, "-o", "lowerdir=l1:l2,upperdir=u,workdir=w,squash_to_root,squash_to_gid=42", "mnt");
        assertEquals(0, q.waitFor(), output(q));
        assertEquals("0:42", owner(mnt.resolve("c1000")));
        Linux.lchown(mnt.resolve("c70000").toString(), 12, 13);      // succeeds, as squashed owners make it
        assertEquals("0:42", owner(mnt.resolve("c70000")));

        Process bad = overlayjIn(dir, "-o", "lowerdir=l1:l2,uidmapping=0:100000", "mnt2");
        String out = output(bad);
        assertNotEquals(0, bad.exitValue());
        assertTrue(out.contains("invalid mapping specified: uidmapping=0:100000"), out);
    }

    private static String owner(Path p) throws Exception {
        Stat st = Linux.lstat(p.toString());
        return st.uid() + ":" + st.gid();
    }

    @Test void foregroundServerUnmountsOnSigterm() throws Exception {
        Process p = overlayj("-f", "overlay", mnt.toString(), "-o", opts());
        for (int i = 0; i < 600 && !isMounted() && p.isAlive(); i++) Thread.sleep(100);
        assertTrue(isMounted(), "mounted in the foreground");
        assertEquals("lower", Files.readString(mnt.resolve("f")));
        p.destroy();                                  // SIGTERM
        String out = output(p);
        assertEquals(0, p.exitValue(), out);
        assertFalse(isMounted());
    }

    @Test void helpAndVersion() throws Exception {
        Process h = overlayj("--help");
        String help = output(h);
        assertEquals(0, h.exitValue());
        assertTrue(help.contains("MOUNTPOINT") && help.contains("lowerdir"), help);
        Process v = overlayj("--version");
        String version = output(v);
        assertEquals(0, v.exitValue());
        assertTrue(version.contains("overlayj"), version);
    }
}
