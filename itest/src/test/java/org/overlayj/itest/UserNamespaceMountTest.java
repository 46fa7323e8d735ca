package org.overlayj.itest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * overlayj run as root in a user namespace, as rootless podman runs its mount program: it mounts with mount(2) on
 * /dev/fuse there, finds that trusted.* cannot be written and switches to the kernel's userxattr format by itself
 * (and says so in its log); the layers it writes then mount under the kernel's overlayfs with userxattr and show
 * the same.
 */
class UserNamespaceMountTest {
    private final Path launcher = Path.of("..", "bin", "overlayj").toAbsolutePath().normalize();
    private Path dir;

    @BeforeEach void setUp() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
        assertTrue(Files.isExecutable(launcher), launcher + " is missing");
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-userns-");
        AufsWhiteoutTest.sh(dir, "mkdir -p l/d u w m k && echo lower > l/f && echo x > l/d/x && echo y > l/d/y && chmod -R a+rwX .");
    }

    @AfterEach void tearDown() throws Exception {
        if (dir == null) return;
        Cleanup.removeTree(dir);
        ProcessHandle.allProcesses().filter(ph -> ph.info().arguments().map(a -> String.join(" ", a)
                .contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
    }

    @Test void rootInAUserNamespaceMountsWithUserXattrs() throws Exception {
        String inside = "cd " + dir + " && OVERLAYJ_LOG_DIR=" + dir + " " + launcher + " -o lowerdir=l,upperdir=u,workdir=w m"
                + " && echo more >> m/f && rm m/d/x && mkdir m/n && ls m m/d && cat m/f && fusermount3 -u m";
        Process p = new ProcessBuilder("unshare", "-Urm", "bash", "-ec", inside).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertEquals("m:\nd\nf\nn\n\nm/d:\ny\nlower\nmore\n", out, out);
        String log;
        try (var s = Files.list(dir).filter(f -> f.toString().endsWith(".log"))) {
            log = Files.readString(s.findFirst().orElseThrow());
        }
        assertTrue(log.contains("using user.overlay.*") && log.contains("overlay xattrs: user.overlay.*"), log);
        String xattrs = AufsWhiteoutTest.sh(dir, "getfattr -R -d -m - --absolute-names u | grep -o '^[a-z]*\\.overlay\\.[a-z]*' | sort -u");
        assertEquals("user.overlay.impure\nuser.overlay.origin\nuser.overlay.uuid\n", xattrs);
        // the kernel reads these layers with userxattr as overlayj showed them
        String kernel = AufsWhiteoutTest.sh(dir, "mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w,userxattr k"
                + " && ls k k/d && cat k/f; umount k");
        System.out.println("== root in a user namespace: overlayj used user.overlay.*; the kernel (userxattr) shows:\n" + kernel);
        assertEquals("k:\nd\nf\nn\n\nk/d:\ny\nlower\nmore\n", kernel);
    }
}
