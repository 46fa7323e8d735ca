package org.overlayj.fuse;

import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/** Facilities and cleanup for tests that mount: they fail (never skip) when root or /dev/fuse is missing. */
public final class TestMounts {
    private TestMounts() {}

    public static void requireFuse() {
        if (Linux.geteuid() != 0) fail("this test needs root (mount(2) of /dev/fuse)");
        if (!Files.exists(Path.of("/dev/fuse"))) fail("this test needs /dev/fuse");
    }

    public static Path tempDir() throws IOException {
        return Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-fuse-");
    }

    public static boolean isMounted(Path mnt) throws IOException {
        String m = mnt.toAbsolutePath().toString();
        try (Stream<String> lines = Files.lines(Path.of("/proc/mounts"))) {
            return lines.anyMatch(l -> l.split(" ")[1].equals(m));
        }
    }

    public static String mountLine(Path mnt) throws IOException {
        String m = mnt.toAbsolutePath().toString();
        try (Stream<String> lines = Files.lines(Path.of("/proc/mounts"))) {
            return lines.filter(l -> l.split(" ")[1].equals(m)).findFirst().orElse(null);
        }
    }

    /** Lazily unmounts anything left on {@code mnt} and deletes {@code dir} recursively. */
    public static void cleanup(Path mnt, Path dir) {
        try {
            for (int i = 0; i < 4 && mnt != null && isMounted(mnt); i++) {
                try {
                    Linux.umount(mnt.toString(), Linux.MNT_DETACH);
                } catch (Exception ignored) {
                    // best effort
                }
            }
        } catch (IOException ignored) {
            // best effort
        }
        if (dir == null) return;
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }

    /** Runs a command, returns its stdout; fails the test on a non-zero exit. */
    public static String sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        int rc = p.waitFor();
        if (rc != 0) fail(String.join(" ", cmd) + " exited " + rc + ": " + out);
        return out;
    }

    /** Runs a command, returns its exit code (output discarded into the result holder). */
    public static int rc(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor();
    }
}
