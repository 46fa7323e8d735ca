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
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        // output to a file: a pipe nobody reads could fill up, and destroy() closes pipes
        Path out = dir.resolve("out-" + started.size() + ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
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

        // fuse-overlayfs options that change what users see are refused by name, never silently ignored
        Process r = overlayj("-o", opts() + ",squash_to_root", mnt.toString());
        String out3 = output(r);
        assertNotEquals(0, r.exitValue());
        assertTrue(out3.contains("squash_to_root") && out3.contains("not supported"), out3);
        assertFalse(isMounted());
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
