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
 * overlayj run by a plain user, outside any user namespace (issue 17 point 3): mount(2) is refused, so it mounts
 * through fusermount3 as libfuse and fuse-overlayfs do, writes the user.overlay.* format by itself, and is
 * unmounted by {@code fusermount3 -u}. The same workload on the kernel's overlayfs (userxattr, in a user namespace
 * of the same user, on a copy of the layers) must give the same tree and the same upper layer, and the kernel must
 * read the layers overlayj wrote as overlayj showed them. The test user and /dev/fuse (0666) are set up as
 * PodmanTest does.
 */
class PlainUserMountTest {
    private final Path launcher = Path.of("..", "bin", "overlayj").toAbsolutePath().normalize();
    private Path dir;

    @BeforeEach void setUp() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
        assertTrue(Files.isExecutable(Path.of("/usr/bin/fusermount3")), "fusermount3 is missing (fuse3 package)");
        sh("id " + PodmanTest.USER + " >/dev/null 2>&1 || useradd -m -s /bin/bash " + PodmanTest.USER
                + "; chmod 0666 /dev/fuse");
        // under /tmp, not the test root: that may be closed to other users
        dir = Files.createTempDirectory(Path.of("/tmp"), "overlayj-test-plain-user-");
        try (InputStream in = PlainUserMountTest.class.getResourceAsStream("/plain-user-mount.sh")) {
            Files.write(dir.resolve("plain-user-mount.sh"), in.readAllBytes());
        }
        sh("chown -R " + PodmanTest.USER + ": " + dir + " && chmod 755 " + dir);
        assertEquals("ok\n", asUser("test -x " + launcher + " && echo ok || echo no"),
                launcher + " is not executable by " + PodmanTest.USER + " (the checkout must be readable by users)");
    }

    @AfterEach void tearDown() throws Exception {
        if (dir == null) return;
        for (String m : new String[] {"m", "k", "k3"}) {
            sh("! mountpoint -q " + dir.resolve(m) + " || umount -l " + dir.resolve(m));
        }
        ProcessHandle.allProcesses().filter(ph -> ph.info().arguments().map(a -> String.join(" ", a)
                .contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
        Cleanup.removeTree(dir);
        PodmanTest.removeUserRuntimeFallback();
    }

    @Test void plainUserMountsThroughFusermount3LikeTheKernelInAUserNamespace() throws Exception {
        String out = asUser("cd " + dir + " && bash plain-user-mount.sh " + launcher);
        System.out.println("== plain user " + PodmanTest.USER + ": overlayj through fusermount3 vs the kernel (userxattr):\n"
                + out);
        String mount = section(out, "mount");
        assertTrue(mount.contains(" fuse.overlayj ") && mount.contains("user_id=" + uid()), mount);
        String oj = section(out, "overlayj");
        assertTrue(oj.contains("./keep/k2 regular file 644") && oj.contains("./e/b "), oj);
        assertEquals(section(out, "kernel"), oj, "overlayj (actual) vs the kernel with userxattr (expected)");
        assertEquals(oj, section(out, "kernel on the layers overlayj wrote"),
                "the kernel reading overlayj's layers (actual) vs what overlayj showed (expected)");
        assertEquals(section(out, "upper written by the kernel"), section(out, "upper written by overlayj"),
                "upper layer: names, types, overlay xattr names");
        String log = sh("cat " + dir + "/*.log");
        assertTrue(log.contains("through /usr/bin/fusermount3") && log.contains("overlay xattrs: user.overlay.*"), log);
        assertNoMountOrHelper();
    }

    private void assertNoMountOrHelper() throws Exception {
        for (int i = 0; i < 300 && (mountedAt("m") || helperAlive()); i++) Thread.sleep(100);
        assertFalse(mountedAt("m"), "no mount left on " + dir.resolve("m"));
        assertFalse(helperAlive(), "no fusermount3 left");
    }

    private boolean mountedAt(String name) throws Exception {
        String target = " " + dir.resolve(name) + " ";
        return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().anyMatch(l -> l.contains(target));
    }

    private boolean helperAlive() {
        return ProcessHandle.allProcesses().anyMatch(ph -> ph.info().commandLine().map(c -> c.contains("fusermount3")
                && c.contains(dir.toString())).orElse(false));
    }

    private static String section(String out, String name) {
        int at = out.indexOf("== " + name + "\n");
        assertTrue(at >= 0, "no section " + name + " in\n" + out);
        int from = at + name.length() + 4, to = out.indexOf("\n== ", from);
        return out.substring(from, to < 0 ? out.length() : to + 1);
    }

    private static String uid() throws Exception {
        return sh("id -u " + PodmanTest.USER).trim();
    }

    private static String asUser(String script) throws Exception {
        Process p = new ProcessBuilder("su", PodmanTest.USER, "-s", "/bin/bash", "-c", script)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), script);
        assertEquals(0, p.exitValue(), script + ": " + out);
        return out;
    }

    private static String sh(String script) throws Exception {
        Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), script);
        assertEquals(0, p.exitValue(), script + ": " + out);
        return out;
    }
}
