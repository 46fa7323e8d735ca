package org.overlayj.itest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AUFS whiteouts ({@code .wh.NAME}, {@code .wh..wh..opq}) and fuse-overlayfs's opaque xattrs in the lower layers,
 * as containers/storage unpacks images for a mount program: overlayj (the launcher, bin/overlayj, run as
 * containers/storage runs it: relative layer paths, the layers' directory as working directory) must show what
 * fuse-overlayfs shows on a copy of the same layers, before and after the same changes, after a remount, and each
 * must read the layers the other wrote the same way. The oracle here is fuse-overlayfs, not the kernel, which
 * ignores the AUFS format.
 */
class AufsWhiteoutTest {
    private final Path launcher = Path.of("..", "bin", "overlayj").toAbsolutePath().normalize();
    private Path dir;

    /** Three lower layers with every form of AUFS marker; l1 is the top one. */
    static final String LAYERS = """
            set -e
            mkdir -p l3/d l3/o l3/keep l3/r l3/u l3/x l3/w l3/s
            echo a3 > l3/a; echo b3 > l3/b; echo x > l3/d/x; echo y > l3/d/y; echo p > l3/o/p; echo k > l3/keep/k
            echo h > l3/hl; ln l3/hl l3/hl2; echo r1 > l3/r/r1; echo u3 > l3/u/u3; echo x3 > l3/x/x3; echo w3 > l3/w/w3
            echo s > l3/s/s3; ln -s a l3/lnk
            mkdir -p l2/d l2/o l2/keep l2/w l2/s
            touch l2/.wh.a l2/d/.wh.x l2/o/.wh..wh..opq l2/keep/.wh.nothing l2/.wh.u
            echo new > l2/o/new; echo c2 > l2/c; echo w2 > l2/w/w2; echo s2 > l2/s/s2; touch l2/s/.wh.s3
            mkdir -p l1/d l1/x l1/u l1/w
            touch l1/.wh.b l1/.wh.c; mkdir l1/.wh.lnk; echo z > l1/d/z; echo x1 > l1/x/x1; echo u1 > l1/u/u1; echo w1 > l1/w/w1
            setfattr -n user.fuseoverlayfs.opaque -v y l1/x
            setfattr -n user.overlay.opaque -v y l1/w
            mkdir u w mnt
            """;

    /** What a user sees: every object's type, mode, owner and size, every file's data, lookups of hidden names. */
    static final String VIEW = """
            cd mnt
            find . -printf '%p %y %m %U:%G %s %l\\n' | LC_ALL=C sort
            find . -type f | LC_ALL=C sort | xargs -r md5sum
            for n in .wh.a .wh..wh..opq o/.wh..wh..opq d/.wh.x s/.wh.s3 a b c u/u3 d/x lnk .wh.lnk; do
              stat -c '%n %F' $n 2>&1
            done
            for d in . d o s w x u; do echo "$d: $(ls -A $d | tr '\\n' ' ')"; done
            """;

    /** Changes that meet the markers: removal, re-creation, rmdir emptiness, renames, links, copy-ups. */
    static final String CHANGES = """
            cd mnt
            rm d/y; echo "rm d/y $?"
            mkdir a && echo A > a/f; echo "mkdir a $?"
            rmdir o 2>/dev/null; echo "rmdir o (not empty) $?"
            rm -r o && mkdir o && echo again > o/f; echo "recreate o $?"
            mv keep keep2; echo "mv keep $?"
            ln w/w1 w1link; echo "ln $?"
            chmod 600 w1link; echo "chmod $?"
            echo app >> w1link; echo "append $?"
            chmod 700 s; echo "chmod s $?"
            touch .wh.zz 2>/dev/null; echo "touch .wh.zz $?"
            rm -r x; echo "rm -r x $?"
            mkdir b; echo "mkdir b $?"
            rm d/z && rmdir d; echo "rmdir d $?"
            mkdir d && touch d/x; echo "mkdir d $?"
            mv r/r1 u/; echo "mv r1 $?"
            mv s s2; echo "mv s $?"
            echo more >> w/w1; echo "append w1 $?"
            """;

    @BeforeEach void setUp() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
        assertTrue(Files.isExecutable(launcher), launcher + " is missing");
        assertTrue(Files.isExecutable(Path.of("/usr/bin/fuse-overlayfs")), "fuse-overlayfs is missing (scripts/setup.sh)");
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-aufs-");
        Files.createDirectories(dir.resolve("logs"));
        sh(dir, "mkdir oj && cd oj && " + LAYERS);
        sh(dir, "cp -a oj fo");
    }

    @AfterEach void tearDown() throws Exception {
        if (dir == null) return;
        Cleanup.removeTree(dir);
        ProcessHandle.allProcesses().filter(ph -> ph.info().arguments().map(a -> String.join(" ", a)
                .contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
    }

    @Test void overlayjReadsAndChangesAufsLayersAsFuseOverlayfs() throws Exception {
        Path oj = dir.resolve("oj"), fo = dir.resolve("fo");
        // Not index=on: fuse-overlayfs 1.10 misreads an upper root carrying the origin that the kernel (and
        // overlayj) record there with the index (its lookups then stop at the upper layer). And lower hard links
        // are left alone: fuse-overlayfs shows them as one inode only while mounted, overlayj only with the index
        String opts = "lowerdir=l1:l2:l3,upperdir=u,workdir=w";
        mountOverlayj(oj, opts);
        mountFuseOverlayfs(fo, opts);
        String before = same("fresh layers", oj, fo, VIEW);
        // the markers do what fuse-overlayfs makes them do: spot checks, so that agreeing on nothing cannot pass
        assertTrue(before.contains("\n.: d hl hl2 keep o r s u w x \n"), before);
        assertTrue(before.contains("stat: cannot statx 'a': No such file or directory"), before);
        assertTrue(before.contains("o: new \n") && before.contains("x: x1 \n") && before.contains("w: w1 \n"), before);
        assertTrue(before.contains("d: y z \n") && before.contains("s: s2 \n") && before.contains("u: u1 \n"), before);
        same("the changes", oj, fo, CHANGES);
        String after = same("after the changes", oj, fo, VIEW);
        unmount(oj);
        unmount(fo);
        mountOverlayj(oj, opts);
        mountFuseOverlayfs(fo, opts);
        assertEquals(after, same("after a remount", oj, fo, VIEW));
        unmount(oj);
        unmount(fo);
        // each reads the layers the other wrote as their writer showed them
        mountOverlayj(fo, opts);
        mountFuseOverlayfs(oj, opts);
        assertEquals(after, same("each on the layers the other wrote", oj, fo, VIEW));
        unmount(oj);
        unmount(fo);
    }

    /**
     * Owners and modes kept in override_stat xattrs (rootless storage): a layer whose root carries
     * user.containers.override_stat (or user.fuseoverlayfs.override_stat) shows each object's UID:GID:MODE from it.
     */
    @Test void overrideStatShowsAsFuseOverlayfsShowsIt() throws Exception {
        String layers = """
                set -e
                mkdir -p os/l1/d os/l2 os/l3 os/u os/w os/mnt && cd os
                echo f > l1/f; echo x > l1/d/x; echo h > l2/h; echo k > l3/k
                setfattr -n user.containers.override_stat -v 0:0:0755 l1
                setfattr -n user.containers.override_stat -v 1000:1001:0640 l1/f
                setfattr -n user.containers.override_stat -v 5:6:0700 l1/d
                setfattr -n user.containers.override_stat -v 7:8:04711 l1/d/x
                setfattr -n user.fuseoverlayfs.override_stat -v 0:0:0750 l2
                setfattr -n user.fuseoverlayfs.override_stat -v 42:43:0604 l2/h
                """;
        sh(dir, layers);
        sh(dir, "cp -a os os2");
        String opts = "lowerdir=l1:l2:l3,upperdir=u,workdir=w";
        mountOverlayj(dir.resolve("os"), opts);
        mountFuseOverlayfs(dir.resolve("os2"), opts);
        String view = "cd mnt && stat -c '%n %u:%g %a %F' . f d d/x h k";
        String a = sh(dir.resolve("os"), view), b = sh(dir.resolve("os2"), view);
        System.out.println("== override_stat: overlayj and fuse-overlayfs show\n" + a);
        assertEquals(b, a, "overlayj (actual) vs fuse-overlayfs (expected)");
        assertTrue(a.contains("f 1000:1001 640 regular file") && a.contains("d/x 7:8 4711") && a.contains("h 42:43 604"), a);
        unmount(dir.resolve("os"));
        unmount(dir.resolve("os2"));
    }

    /** Runs {@code script} in both layer dirs (through their mounts), asserts equal output, prints and returns it. */
    private String same(String what, Path oj, Path fo, String script) throws Exception {
        String a = sh(oj, script), b = sh(fo, script);
        System.out.println("== AUFS layers, " + what + ": overlayj and fuse-overlayfs show the same ("
                + a.lines().count() + " lines)\n" + a);
        assertEquals(b, a, what + ": overlayj (actual) differs from fuse-overlayfs (expected)");
        return a;
    }

    private void mountOverlayj(Path layers, String opts) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(launcher.toString(), "-o", opts, "mnt").directory(layers.toFile());
        pb.environment().put("OVERLAYJ_LOG_DIR", dir.resolve("logs").toString());
        run(pb);
    }

    private static void mountFuseOverlayfs(Path layers, String opts) throws Exception {
        run(new ProcessBuilder("fuse-overlayfs", "-o", opts, "mnt").directory(layers.toFile()));
    }

    private static void unmount(Path layers) throws Exception {
        run(new ProcessBuilder("fusermount3", "-u", layers.resolve("mnt").toString()));
        // the overlayj server ends after the unmount; wait until the mount is gone from the table
        for (int i = 0; i < 100 && Cleanup.mountsUnder(layers.resolve("mnt")).size() > 0; i++) Thread.sleep(50);
        assertEquals(List.of(), Cleanup.mountsUnder(layers.resolve("mnt")));
    }

    private static String run(ProcessBuilder pb) throws Exception {
        Process p = pb.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", pb.command()));
        assertEquals(0, p.exitValue(), String.join(" ", pb.command()) + ": " + out);
        return out;
    }

    static String sh(Path cwd, String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", "-c", script).directory(cwd.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), script);
        return out;
    }
}
