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
        for (Path userDir : userDirs) {
            // the rootless run's containers, then podman's pause process (which holds its user and mount
            // namespaces, and so the FUSE mounts made there): both started by this test
            String env = "export HOME=" + userDir + " XDG_RUNTIME_DIR=" + userDir + "/xdg"
                    + " CONTAINERS_STORAGE_CONF=" + userDir + "/w/storage.conf CONTAINERS_CONF=" + userDir + "/w/containers.conf;";
            new ProcessBuilder("su", USER, "-s", "/bin/bash", "-c", env + " podman rm -af; podman image umount -a; podman umount -a")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(120, TimeUnit.SECONDS);
            // in the engine's tmp_dir (podman-roundtrip.sh sets it to w/tmp), else podman's default place
            for (Path pause : List.of(userDir.resolve("w/tmp/pause.pid"), userDir.resolve("xdg/libpod/tmp/pause.pid"))) {
                if (!Files.exists(pause)) continue;
                long pid = Long.parseLong(Files.readString(pause).trim());
                ProcessHandle.of(pid).ifPresent(ph -> {
                    ph.destroy();
                    ph.onExit().orTimeout(30, TimeUnit.SECONDS).exceptionally(t -> null).join();
                });
            }
            Cleanup.removeTree(userDir);
        }
        if (!userDirs.isEmpty()) {
            // the test user's overlayj servers: one still served a mount of podman's (gone) namespace for up to a
            // minute and a half after the test; the user is this test's own, so all of them are the test's
            List<ProcessHandle> servers = ProcessHandle.allProcesses()
                    .filter(ph -> ph.info().user().map(USER::equals).orElse(false))
                    .filter(ph -> ph.info().arguments().map(a -> String.join(" ", a).contains("org.overlayj")).orElse(false))
                    .toList();
            servers.forEach(ProcessHandle::destroy);
            for (ProcessHandle ph : servers) {
                ph.onExit().orTimeout(30, TimeUnit.SECONDS).exceptionally(t -> {
                    ph.destroyForcibly();
                    return null;
                }).join();
            }
            removeUserRuntimeFallback();
        }
        if (dir == null) return;
        for (Path w : List.of(dir.resolve("w"), dir.resolve("oj/w"), dir.resolve("kernel/w"))) {
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
        }
        Cleanup.removeTree(dir);
        ProcessHandle.allProcesses().filter(ph -> ph.info().arguments().map(a -> String.join(" ", a)
                .contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
    }

    /**
     * Removes the test user's fallback resident-server directory (bin/overlayj: ${TMPDIR:-/tmp}/overlayj-resident-UID),
     * which outlives its server: podman runs its mount program, and su runs the plain user's script, without
     * $XDG_RUNTIME_DIR. The user is the tests' own, so the directory is too.
     */
    static void removeUserRuntimeFallback() throws Exception {
        Path fallback = Path.of("/tmp/overlayj-resident-" + sh("id -u " + USER).trim());
        if (Files.isDirectory(fallback, java.nio.file.LinkOption.NOFOLLOW_LINKS)) Cleanup.removeTree(fallback);
    }

    /** The test user of the rootless run (made if missing, with the subordinate id ranges useradd gives). */
    static final String USER = "ojrootless";

    /**
     * The same round trip as a user (rootless podman: it runs overlayj as root in its user namespace, which mounts
     * through /dev/fuse there and writes user.overlay.* by itself). /dev/fuse is made usable by users (0666), as
     * Debian's udev rule has it.
     */
    @Test void rootlessPodmanCommitsAndLayeredImagesThroughOverlayj() throws Exception {
        Path d = rootlessDir();
        String out = asUser(d, "", launcher.toString());
        System.out.println("== podman (rootless, user " + USER + ", mount_program = bin/overlayj):\n" + out);
        assertTrue(out.contains("one overlayj server serves containers c1 and c2"), out);
        assertTrue(out.contains("SAME: container c1 after its workload vs a new container of the image committed from it")
                && out.contains("SAME: 4-layer image: overlayj vs fuse-overlayfs")
                && out.contains("SAME: 4-layer image: overlayj vs podman export")
                && out.contains("podman round trip: all comparisons agree"), out);
        String logs = sh("cat " + d + "/logs/*.log");
        assertTrue(logs.contains("using user.overlay.*"), "rootless mounts use the userxattr format:\n" + logs);
    }

    /**
     * Rootless with --uidmap (containers/storage then passes uidmapping=/gidmapping=): the container of the commit
     * shows owners shifted once more than the container it was committed from, with fuse-overlayfs as much as with
     * overlayj (containers/storage's doing), so here the oracle is fuse-overlayfs as the mount program: both views,
     * before and after the commit, must be the same through either.
     */
    @Test void rootlessPodmanWithUidmapShowsWhatFuseOverlayfsShows() throws Exception {
        String map = " --uidmap 0:1:60000 --gidmap 0:1:60000";
        Path a = rootlessDir(), b = rootlessDir();
        String outA = asUser(a, "VIEWS_ONLY=1", launcher + map);
        String outB = asUser(b, "VIEWS_ONLY=1", "/usr/bin/fuse-overlayfs" + map);
        assertTrue(sh("cat " + a + "/w/mount-calls.log").contains("uidmapping=:0:1:60000"), outA);
        for (String v : List.of("c1.view", "c2.view")) {
            String oj = Files.readString(a.resolve("w").resolve(v)), fo = Files.readString(b.resolve("w").resolve(v));
            System.out.println("== rootless podman --uidmap 0:1:60000, " + v + ": overlayj and fuse-overlayfs show the same ("
                    + oj.lines().count() + " lines)\n" + oj);
            assertEquals(fo, oj, v + ": overlayj (actual) vs fuse-overlayfs (expected)");
        }
        assertTrue(Files.readString(a.resolve("w/c1.view")).contains("./bin/busybox f 755 1:1 "), "owners shown mapped");
    }

    /**
     * Rootful with --uidmap: podman 4.3's containers/storage hands the mount program lower layers on idmapped mounts
     * that it detaches once the program returns, and uidmapping=/gidmapping= as well. overlayj reads such a lower
     * through a mount without the idmapping (the mapping options then shift owners once) that stays; fuse-overlayfs
     * 1.10 loses the layers. The oracle is podman's own overlay driver (the kernel's overlayfs on the same idmapped
     * lowers): the container after its workload (run by runc as uid 100000) must show the same tree. (A container of
     * the commit is printed, not compared: containers/storage 4.3 stores the commit's owners shifted, and the
     * kernel's view of it cannot even be listed by root.)
     */
    @Test void rootfulPodmanWithUidmapShowsWhatTheKernelDriverShows() throws Exception {
        String map = " --uidmap 0:100000:65536 --gidmap 0:100000:65536";
        String oj = rootfulViews("oj", launcher + map), kernel = rootfulViews("kernel", "kernel" + map);
        assertTrue(sh("cat " + dir + "/oj/w/mount-calls.log").contains("uidmapping=:0:100000:65536"), oj);
        String c1 = Files.readString(dir.resolve("oj/w/c1.view")), k1 = Files.readString(dir.resolve("kernel/w/c1.view"));
        System.out.println("== rootful podman --uidmap 0:100000:65536, c1.view: overlayj and podman's kernel overlay driver ("
                + c1.lines().count() + " lines)\n" + c1);
        System.out.println("== c2.view (container of the commit), overlayj:\n" + Files.readString(dir.resolve("oj/w/c2.view"))
                + "== c2.view, kernel driver:\n" + Files.readString(dir.resolve("kernel/w/c2.view")));
        assertEquals(k1, c1, "c1.view: overlayj (actual) vs the kernel's overlay driver (expected)");
        assertTrue(c1.contains("./bin/busybox f 755 100000:100000 ") && c1.contains("./data/hard f 644 100000:100000 "), c1);
        assertTrue(sh("cat " + dir + "/oj/logs/*.log").contains("is on an idmapped mount and owners are mapped by the options too"), oj);
    }

    /** Runs podman-roundtrip.sh rootful with VIEWS_ONLY=1 in {@code dir/name}; {@code args}: mount program, options. */
    private String rootfulViews(String name, String args) throws Exception {
        Path d = Files.createDirectories(dir.resolve(name));
        Path script = d.resolve("podman-roundtrip.sh");
        try (InputStream in = PodmanTest.class.getResourceAsStream("/podman-roundtrip.sh")) {
            Files.write(script, in.readAllBytes());
        }
        List<String> cmd = new java.util.ArrayList<>(List.of("bash", script.toString(), d.resolve("w").toString()));
        cmd.addAll(List.of(args.split(" ")));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OVERLAYJ_LOG_DIR", Files.createDirectories(d.resolve("logs")).toString());
        pb.environment().put("VIEWS_ONLY", "1");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "podman round trip timed out");
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    /** A directory of the test user's (the test root may be closed to others), removed in tearDown. */
    private Path rootlessDir() throws Exception {
        sh("id " + USER + " >/dev/null 2>&1 || useradd -m -s /bin/bash " + USER);
        sh("grep -q '^" + USER + ":' /etc/subuid || echo '" + USER + ":524288:65536' >> /etc/subuid;"
                + " grep -q '^" + USER + ":' /etc/subgid || echo '" + USER + ":524288:65536' >> /etc/subgid;"
                + " chmod 0666 /dev/fuse");
        assertTrue(Files.isExecutable(Path.of("/usr/bin/newuidmap")), "newuidmap is missing (uidmap package)");
        Path d = Files.createTempDirectory(Path.of("/tmp"), "overlayj-test-podman-rootless-");
        userDirs.add(d);
        try (InputStream in = PodmanTest.class.getResourceAsStream("/podman-roundtrip.sh")) {
            Files.write(d.resolve("podman-roundtrip.sh"), in.readAllBytes());
        }
        sh("chown -R " + USER + ": " + d + " && chmod 755 " + d);
        String check = sh("su " + USER + " -s /bin/sh -c 'test -x " + launcher + " && echo ok || echo no'");
        assertEquals("ok\n", check, launcher + " is not executable by " + USER + " (the checkout must be readable by users)");
        return d;
    }

    /** Runs podman-roundtrip.sh as the test user in {@code d} with {@code args} (mount program, then options). */
    private String asUser(Path d, String env, String args) throws Exception {
        String cmd = "export HOME=" + d + " XDG_RUNTIME_DIR=" + d + "/xdg OVERLAYJ_LOG_DIR=" + d + "/logs " + env + ";"
                + " mkdir -m 700 -p $XDG_RUNTIME_DIR $OVERLAYJ_LOG_DIR; cd $HOME; bash podman-roundtrip.sh $HOME/w " + args;
        Process p = new ProcessBuilder("su", USER, "-s", "/bin/bash", "-c", cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "rootless podman round trip timed out");
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    private final List<Path> userDirs = new java.util.ArrayList<>();

    private static String sh(String script) throws Exception {
        Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), script);
        assertEquals(0, p.exitValue(), script + ": " + out);
        return out;
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
        assertTrue(out.contains("one overlayj server serves containers c1 and c2"), out);
        assertTrue(out.contains("SAME: container c1 after its workload vs a new container of the image committed from it")
                && out.contains("SAME: 4-layer image: overlayj vs fuse-overlayfs")
                && out.contains("SAME: 4-layer image: overlayj vs podman export")
                && out.contains("podman round trip: all comparisons agree"), out);
    }

}
