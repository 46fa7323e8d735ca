package org.overlayj.itest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real podman (Debian's package) with this checkout's bin/overlayj as its {@code mount_program}, rootful, in a
 * storage.conf and graph root of its own (podman-roundtrip.sh: a busybox-static rootfs imported as an image; a
 * container deletes, creates, hard-links, renames a directory, chmods; its commit shows exactly that in a new
 * container; a 4-layer image with deletions and opaque directories, which containers/storage unpacks with AUFS
 * whiteouts for a mount program, shows the same tree through overlayj, through fuse-overlayfs and as podman export
 * unpacks it). Workloads run through {@code podman run} where an OCI runtime can start here (runc, or crun with
 * --cgroups=disabled), else by chroot into {@code podman mount}. A missing podman fails the test.
 */
class PodmanTest {
    private final Path launcher = Path.of("..", "bin", "overlayj").toAbsolutePath().normalize();
    private Path dir;

    @BeforeEach void setUp() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
        assertTrue(Files.isExecutable(launcher), launcher + " is missing");
        for (String tool : List.of("/usr/bin/podman", "/usr/bin/fuse-overlayfs", "/bin/busybox")) {
            assertTrue(Files.isExecutable(Path.of(tool)), tool + " is missing: scripts/setup.sh installs podman, "
                    + "uidmap, runc, crun, slirp4netns, busybox-static and fuse-overlayfs");
        }
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-podman-");
    }

    @AfterEach void tearDown() throws Exception {
        if (dir == null) return;
        Path w = dir.resolve("w");
        if (Files.exists(w.resolve("storage.conf"))) {
            // containers and mounts podman still holds when the script stopped half-way
            for (List<String> cmd : List.of(List.of("podman", "rm", "-af"), List.of("podman", "umount", "-a"),
                    List.of("podman", "image", "umount", "-a"))) {
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD);
                pb.environment().put("CONTAINERS_STORAGE_CONF", w.resolve("storage.conf").toString());
                pb.environment().put("CONTAINERS_CONF", w.resolve("containers.conf").toString());
                pb.start().waitFor(120, TimeUnit.SECONDS);
            }
        }
        Cleanup.removeTree(dir);
        ProcessHandle.allProcesses().filter(ph -> ph.info().arguments().map(a -> String.join(" ", a)
                .contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
    }

    @Test void rootfulPodmanCommitsAndLayeredImagesThroughOverlayj() throws Exception {
        Path script = dir.resolve("podman-roundtrip.sh");
        try (InputStream in = PodmanTest.class.getResourceAsStream("/podman-roundtrip.sh")) {
            Files.write(script, in.readAllBytes());
        }
        ProcessBuilder pb = new ProcessBuilder("bash", script.toString(), dir.resolve("w").toString(), launcher.toString())
                .redirectErrorStream(true);
        pb.environment().put("OVERLAYJ_LOG_DIR", Files.createDirectories(dir.resolve("logs")).toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "podman round trip timed out");
        System.out.println("== podman (rootful, mount_program = bin/overlayj):\n" + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("SAME: container c1 after its workload vs a new container of the image committed from it")
                && out.contains("SAME: 4-layer image: overlayj vs fuse-overlayfs")
                && out.contains("SAME: 4-layer image: overlayj vs podman export")
                && out.contains("podman round trip: all comparisons agree"), out);
    }

}
