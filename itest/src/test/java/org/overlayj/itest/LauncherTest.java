package org.overlayj.itest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launcher users run, bin/overlayj of this checkout (the cli module is packaged before this one): a background
 * mount returns once the mount is live, the server it leaves behind runs with the server's JVM options (a heap
 * touched at start) while the launcher itself did not pay for them, and umount ends the server (once its linger as
 * the resident server is over: ResidentServerTest).
 */
class LauncherTest {
    private final Path launcher = Path.of("..", "bin", "overlayj").toAbsolutePath().normalize();
    private Path dir, mnt;

    @BeforeEach void setUp() throws IOException {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
        assertTrue(Files.isExecutable(launcher), launcher + " is missing");
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-launcher-");
        for (String d : List.of("l", "u", "w", "m", "logs")) Files.createDirectory(dir.resolve(d));
        Files.createDirectory(dir.resolve("run"), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        Files.writeString(dir.resolve("l/f"), "lower\n");
        mnt = dir.resolve("m");
    }

    @AfterEach void tearDown() throws Exception {
        Cleanup.removeTree(dir);
        // a server that outlived a failed test: the only processes naming our directory are ours
        ProcessHandle.allProcesses().filter(ph -> ph.info().arguments().map(a -> String.join(" ", a)
                .contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
    }

    private static String run(List<String> cmd, Path logs) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OVERLAYJ_LOG_DIR", logs.toString());
        // a runtime directory of its own: the server is this mount's, not a resident one another test left lingering
        pb.environment().put("OVERLAYJ_RUNTIME_DIR", logs.resolveSibling("run").toString());
        pb.environment().put("OVERLAYJ_LINGER", "1");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    @Test void backgroundMountLeavesAServerWithTheServersJvmOptions() throws Exception {
        assertTrue(run(List.of(launcher.toString(), "--version"), dir.resolve("logs")).contains("overlayj"));
        String opts = "lowerdir=" + dir.resolve("l") + ",upperdir=" + dir.resolve("u") + ",workdir=" + dir.resolve("w");
        run(List.of(launcher.toString(), "-o", opts, mnt.toString()), dir.resolve("logs"));
        assertEquals("lower\n", Files.readString(mnt.resolve("f")), "live when the launcher returned");

        Optional<ProcessHandle> server = ProcessHandle.allProcesses().filter(ph ->
                ph.info().arguments().map(a -> List.of(a).contains(mnt.toString())).orElse(false)).findFirst();
        assertTrue(server.isPresent(), "a server process serves " + mnt);
        List<String> args = List.of(server.get().info().arguments().orElseThrow());
        assertTrue(args.contains("-XX:+AlwaysPreTouch") && args.contains("-Xms96m"), "server JVM options: " + args);
        assertTrue(args.contains("--daemon-child"), "the re-launched child: " + args);

        Files.writeString(mnt.resolve("new"), "upper\n");
        assertEquals("upper\n", Files.readString(dir.resolve("u/new")));
        run(List.of("umount", mnt.toString()), dir.resolve("logs"));
        assertTrue(server.get().onExit().get(30, TimeUnit.SECONDS) != null);
        assertFalse(server.get().isAlive(), "umount ends the server");
    }
}
