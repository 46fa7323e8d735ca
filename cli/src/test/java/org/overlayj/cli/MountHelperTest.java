package org.overlayj.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code mount -t fuse.overlayj overlay MNT -o lowerdir=..} and an fstab line, through mount(8) and mount.fuse3,
 * exactly as a user types them. mount.fuse3 runs {@code overlayj} through /bin/sh with no PATH of its own, so the
 * shell's default PATH finds /usr/local/bin/overlayj (the link scripts/setup.sh makes). To test this build rather
 * than whatever that link points at, the test runs in a private mount namespace where /usr/local/bin (and sbin)
 * hold only a launcher of the classes under test.
 */
class MountHelperTest {
    private Path dir;

    @BeforeEach void setUp() throws IOException {
        if (Linux.geteuid() != 0) fail("this test needs root (mount(8), mount namespaces)");
        if (!Files.exists(Path.of("/dev/fuse"))) fail("this test needs /dev/fuse");
        for (String tool : List.of("/usr/bin/unshare", "/sbin/mount.fuse3")) {
            if (!Files.isExecutable(Path.of(tool))) fail("this test needs " + tool + " (util-linux, fuse3)");
        }
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-mnthelper-");
        for (String d : new String[]{"l", "u", "w", "m", "bin", "logs"}) Files.createDirectory(dir.resolve(d));
        Files.writeString(dir.resolve("l/f"), "hello\n");
    }

    @AfterEach void cleanup() throws IOException {
        try {
            // the FUSE server of a failed run: the only processes naming our directory are ours
            List<ProcessHandle> left = ProcessHandle.allProcesses().filter(ph -> String.join(" ",
                    ph.info().arguments().orElse(new String[0])).contains(dir.toString())).toList();
            for (ProcessHandle ph : left) ph.destroy();
            for (ProcessHandle ph : left) {
                ph.onExit().orTimeout(30, TimeUnit.SECONDS).exceptionally(t -> {
                    ph.destroyForcibly();
                    return null;
                }).join();
            }
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test void mountTypeFuseOverlayjAndFstab() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path marker = dir.resolve("launched");
        Path launcher = dir.resolve("bin/overlayj");
        Files.writeString(launcher, "#!/bin/sh\ntouch '" + marker + "'\nexec '" + java
                + "' --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -cp '" + System.getProperty("java.class.path")
                + "' " + Main.class.getName() + " \"$@\"\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        String l = dir.resolve("l").toString(), u = dir.resolve("u").toString(), w = dir.resolve("w").toString(),
                m = dir.resolve("m").toString();
        Path fstab = dir.resolve("fstab");
        Files.writeString(fstab, "overlay " + m + " fuse.overlayj lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w
                + ",noatime 0 0\n");
        Path script = dir.resolve("run.sh");
        Files.writeString(script, String.join("\n",
                "set -e",
                "mount --bind " + dir.resolve("bin") + " /usr/local/bin",
                "mount --bind " + dir.resolve("bin") + " /usr/local/sbin",
                "mount -t fuse.overlayj overlay " + m + " -o lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w,
                "echo \"read: $(cat " + m + "/f)\"",
                "grep ' " + m + " ' /proc/mounts",
                "echo written > " + m + "/g",
                "umount " + m,
                "mount -T " + fstab + " " + m,
                "echo \"read: $(cat " + m + "/f) $(cat " + m + "/g)\"",
                "grep ' " + m + " ' /proc/mounts",
                "umount " + m,
                "echo done", ""));
        Path out = dir.resolve("out.txt");
        ProcessBuilder pb = new ProcessBuilder("unshare", "-m", "--propagation", "private", "sh", script.toString())
                .redirectErrorStream(true).redirectOutput(out.toFile());
        pb.environment().put("OVERLAYJ_LOG_DIR", dir.resolve("logs").toString());
        Process p = pb.start();
        if (!p.waitFor(180, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("mount script hung:\n" + Files.readString(out));
        }
        String text = Files.readString(out);
        assertEquals(0, p.exitValue(), text);
        List<String> lines = text.lines().toList();
        assertEquals("read: hello", lines.get(0), text);
        assertTrue(lines.get(1).matches("overlay " + m + " fuse\\.overlayj rw,.*"), text);
        assertEquals("read: hello written", lines.get(2), text);
        assertTrue(lines.get(3).matches("overlay " + m + " fuse\\.overlayj rw,noatime,.*"), text);
        assertEquals("done", lines.get(4), text);
        assertTrue(Files.exists(marker), "mount.fuse3 ran the overlayj launcher from /usr/local/bin");
        assertEquals("written\n", Files.readString(dir.resolve("u/g")), "the write went to the upper layer");
    }
}
