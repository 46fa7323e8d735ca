package org.overlayj.itest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The AUFS whiteout fallback (issue 17 point 1): where a 0/0 whiteout device cannot be made (mknod and
 * RENAME_WHITEOUT refused with EPERM, here by a seccomp filter around the server), overlayj writes what
 * fuse-overlayfs writes, an empty {@code .wh.NAME} beside the name, says so once in its log, and still shows
 * what the kernel's overlayfs shows for the same workload (made with device whiteouts on a copy), also after a
 * remount without the filter. The upper layers differ exactly by those whiteouts.
 */
class WhiteoutFallbackTest {
    private final Path launcher = Path.of("..", "bin", "overlayj").toAbsolutePath().normalize();
    private Path dir;

    @BeforeEach void setUp() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-wh-fallback-");
        for (String r : new String[] {"whiteout-fallback.sh", "no-mknod.py"}) {
            try (InputStream in = WhiteoutFallbackTest.class.getResourceAsStream("/" + r)) {
                Files.write(dir.resolve(r), in.readAllBytes());
            }
        }
        // the filter must refuse what it is meant to, or the test proves nothing
        String probe = AufsWhiteoutTest.sh(dir, "python3 no-mknod.py mknod probe c 0 0 2>&1; echo rc=$?");
        assertTrue(probe.contains("Operation not permitted") && probe.contains("rc=1"), probe);
    }

    @AfterEach void tearDown() throws Exception {
        if (dir == null) return;
        AufsWhiteoutTest.sh(dir, "for m in m k; do ! mountpoint -q $m || umount -l $m; done");
        ProcessHandle.allProcesses().filter(ph -> ph.info().arguments().map(a -> String.join(" ", a)
                .contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
        Cleanup.removeTree(dir);
    }

    @Test void aufsWhiteoutsWrittenWhereDevicesCannotBeShowTheKernelsView() throws Exception {
        Process p = new ProcessBuilder("bash", "whiteout-fallback.sh", launcher.toString()).directory(dir.toFile())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "timed out");
        System.out.println("== whiteout fallback: overlayj under a filter refusing mknod/RENAME_WHITEOUT vs the kernel:\n" + out);
        assertEquals(0, p.exitValue(), out);
        String kernel = section(out, "kernel");
        assertEquals(kernel, section(out, "overlayj"), "overlayj with AUFS whiteouts (actual) vs the kernel (expected)");
        assertEquals(kernel, section(out, "overlayj remounted without the filter"), "after a remount");
        String oj = section(out, "upper written by overlayj"), k = section(out, "upper written by the kernel");
        // overlayj's upper: no device at all, a .wh. file for each device the kernel made (a whited-out name made
        // again has neither)
        assertFalse(oj.contains("character special file"), oj);
        StringBuilder expected = new StringBuilder();
        for (String line : k.lines().toList()) {
            if (!line.contains(" character special file 0:0")) {
                expected.append(line).append('\n');
                continue;
            }
            String path = line.substring(0, line.indexOf(' '));
            int slash = path.lastIndexOf('/');
            expected.append(path, 0, slash + 1).append(".wh.").append(path.substring(slash + 1))
                    .append(" regular empty file 0:0 \n");
        }
        assertEquals(sorted(expected.toString()), oj, "upper: the kernel's with each device whiteout as .wh.NAME");
        assertTrue(k.contains("./a regular file") && k.contains("./e directory 0:0 trusted.overlay.opaque"), k);
        String log = AufsWhiteoutTest.sh(dir, "cat *.log");
        assertEquals(1, log.lines().filter(l -> l.contains("writing AUFS .wh.NAME files instead")).count(), log);
    }

    private static String sorted(String lines) {
        return String.join("\n", lines.lines().sorted((a, b) -> a.split(" ")[0].compareTo(b.split(" ")[0])).toList()) + "\n";
    }

    private static String section(String out, String name) {
        int at = out.indexOf("== " + name + "\n");
        assertTrue(at >= 0, "no section " + name + " in\n" + out);
        int from = at + name.length() + 4, to = out.indexOf("\n== ", from);
        return out.substring(from, to < 0 ? out.length() : to + 1);
    }
}
