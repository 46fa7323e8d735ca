package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The system calls of the LOOKUP that comes before every create (issue 20): an AUFS whiteout {@code .wh.NAME} is
 * looked for only where it could hide something, so not in the bottom lower layer and not in the upper directory
 * of a directory with nothing below, nor in an upper directory this mount made (a copy-up or a mkdir: empty then,
 * and the engine writes AUFS whiteouts only where it could not make a whiteout device, which clears that). Counted
 * with strace on this JVM, where the FUSE server runs; the whiteouts that do hide something still do.
 */
class CreateCallsTest {
    private static final String PYTHON = "/usr/bin/python3";
    private Path dir, mnt, top, bottom, upper, copied;
    private Overlay overlay;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        top = Files.createDirectories(dir.resolve("l1/d"));
        bottom = Files.createDirectories(dir.resolve("l2/d"));
        for (String d : List.of("u", "w", "mnt")) Files.createDirectory(dir.resolve(d));
        upper = dir.resolve("u");
        Files.createDirectory(upper.resolve("d"));          // d: a merged dir whose upper dir was there at mount
        copied = Files.createDirectories(dir.resolve("l2/c"));  // c: lower only, copied up by this mount
        mnt = dir.resolve("mnt");
        Files.writeString(bottom.resolve("hidden"), "hidden by l1\n");
        Files.createFile(top.resolve(".wh.hidden"));
        Files.writeString(bottom.resolve("shown"), "shown\n");
        Files.createFile(bottom.resolve(".wh.ghost"));      // in the bottom layer: hides nothing
        String opts = "lowerdir=" + dir.resolve("l1") + ":" + dir.resolve("l2") + ",upperdir=" + upper + ",workdir="
                + dir.resolve("w");
        overlay = Overlay.mount(MountOptions.parse(opts, "/", ModuleDefaults.BUILTIN).overlay());
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay"), new OverlayFileSystem(overlay));
    }

    @AfterEach void unmount() throws Exception {
        try {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
        } finally {
            TestMounts.cleanup(mnt, dir);
        }
    }

    /** What strace saw: every stat call of this process, and those its own threads (the server's) made. */
    private record Traced(String all, List<String> calls) {}

    /** Creates f0..f9 in each of {@code dirs} through the mount while strace records this process's stat calls. */
    private Traced statsWhileCreating(String... dirs) throws Exception {
        Path log = dir.resolve("strace.log");
        Process strace = new ProcessBuilder("strace", "-f", "-qq", "-e", "trace=statx,newfstatat,lstat", "-o",
                log.toString(), "-p", Long.toString(ProcessHandle.current().pid())).redirectErrorStream(true)
                .redirectOutput(dir.resolve("strace.out").toFile()).start();
        Set<String> ours;
        try {
            waitTraced(strace);
            List<String> cmd = new java.util.ArrayList<>(List.of(PYTHON, "-c", "import sys\nfor d in sys.argv[1:]:\n"
                    + "    for i in range(10):\n        open('%s/f%d' % (d, i), 'w').write('new %d\\n' % i)"));
            cmd.addAll(List.of(dirs));
            TestMounts.sh(cmd.toArray(String[]::new));
            try (var tasks = Files.list(Path.of("/proc/self/task"))) {
                ours = tasks.map(t -> t.getFileName().toString()).collect(Collectors.toSet());
            }
        } finally {
            strace.destroy();
            strace.waitFor();
        }
        String all = Files.readString(log);
        return new Traced(all, all.lines().filter(l -> ours.contains(l.split(" ", 2)[0])).toList());
    }

    @Test void aWhiteoutIsLookedForOnlyWhereItCouldHideSomething() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/strace"))) fail("this test needs strace (scripts/setup.sh)");
        Files.createDirectory(mnt.resolve("new"));          // an upper-only directory
        Traced t = statsWhileCreating(mnt.resolve("d").toString(), mnt.resolve("new").toString(),
                mnt.resolve("c").toString());
        String all = t.all();
        List<String> calls = t.calls();
        // still looked for where it may hide a lower name: the top lower layer and the upper dir of a merged dir
        assertTrue(calls.stream().anyMatch(l -> l.contains(top + "/.wh.f3\"")), all);
        assertTrue(calls.stream().anyMatch(l -> l.contains(upper + "/d/.wh.f3\"")), all);
        // not where nothing lies below, nor in an upper dir the mount made itself (c's copy-up)
        assertFalse(calls.stream().anyMatch(l -> l.contains(bottom + "/.wh.f")), all);
        assertFalse(calls.stream().anyMatch(l -> l.contains(upper + "/new/.wh.f")), all);
        assertFalse(calls.stream().anyMatch(l -> l.contains(upper + "/c/.wh.f")), all);
        assertEquals(10, calls.stream().filter(l -> l.matches(".*" + copied + "/f[0-9]\".*")).count(), all);
        // while every create's lookup did reach the bottom layer
        assertEquals(10, calls.stream().filter(l -> l.matches(".*" + bottom + "/f[0-9]\".*")).count(), all);

        // what the whiteouts show is unchanged: l1's hides l2's file, the bottom layer's hides nothing
        assertFalse(Files.exists(mnt.resolve("d/hidden")));
        assertEquals("shown\n", Files.readString(mnt.resolve("d/shown")));
        assertFalse(Files.exists(mnt.resolve("d/ghost")));
        assertEquals(List.of("f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "shown"),
                TestMounts.sh("ls", mnt.resolve("d").toString()).lines().toList());
        assertEquals("new 7\n", Files.readString(mnt.resolve("new/f7")));
        assertEquals("new 7\n", Files.readString(upper.resolve("c/f7")));
    }

    /**
     * Once a listing has read a directory's lower directories, a missing name is not looked for in them: a lower
     * layer does not change while mounted, so the names the listing read are all there is (the LOOKUP before each
     * create asked every lower layer). What the layers show is unchanged: l1's AUFS whiteout still hides l2's file,
     * lower names are still found, and a name of the upper layer (made here) too.
     */
    @Test void aListedLowerDirectoryIsNotAskedForMissingNames() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/strace"))) fail("this test needs strace (scripts/setup.sh)");
        assertEquals(List.of("shown"), TestMounts.sh("ls", mnt.resolve("d").toString()).lines().toList());
        assertEquals(List.of(), TestMounts.sh("ls", mnt.resolve("c").toString()).lines().toList());
        Traced t = statsWhileCreating(mnt.resolve("d").toString(), mnt.resolve("c").toString());
        String all = t.all();
        List<String> calls = t.calls();
        // the lookups asked the upper layer only, where the new names go
        assertEquals(10, calls.stream().filter(l -> l.matches(".*" + upper + "/d/f[0-9]\".*")).count(), all);
        assertFalse(calls.stream().anyMatch(l -> l.contains(top + "/f") || l.contains(top + "/.wh.f")), all);
        assertFalse(calls.stream().anyMatch(l -> l.contains(bottom + "/f")), all);
        assertFalse(calls.stream().anyMatch(l -> l.contains(copied + "/f")), all);

        // what the layers show is unchanged
        assertFalse(Files.exists(mnt.resolve("d/hidden")));
        assertFalse(Files.exists(mnt.resolve("d/ghost")));
        assertEquals("shown\n", Files.readString(mnt.resolve("d/shown")));
        assertEquals("new 7\n", Files.readString(mnt.resolve("d/f7")));
        assertEquals("new 7\n", Files.readString(upper.resolve("c/f7")));
        assertEquals(List.of("f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "shown"),
                TestMounts.sh("ls", mnt.resolve("d").toString()).lines().toList());
    }

    /**
     * The two xattr reads a create made and no longer makes: security.capability of the new file (the kernel asks
     * for it before the first write to every new inode; the door knows a file it just created has none), and the
     * parent's default ACL after the first create in a directory (the engine remembers it has none). The kernel
     * still sends the GETXATTR; what setcap later sets and removes shows as before.
     */
    @Test void aCreateReadsNoXattrTheMountAlreadyKnows() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/strace"))) fail("this test needs strace (scripts/setup.sh)");
        Files.createDirectory(mnt.resolve("new"));
        Path log = dir.resolve("strace.log");
        long getxattrs = server.requests(org.overlayj.fuse.FuseOpcode.GETXATTR);
        Process strace = new ProcessBuilder("strace", "-f", "-qq", "-e", "trace=lgetxattr,getxattr,fgetxattr", "-o",
                log.toString(), "-p", Long.toString(ProcessHandle.current().pid())).redirectErrorStream(true)
                .redirectOutput(dir.resolve("strace.out").toFile()).start();
        try {
            waitTraced(strace);
            TestMounts.sh("/bin/sh", "-c", "umask 022 && for i in 0 1 2 3 4 5 6 7 8 9; do echo new $i > "
                    + mnt.resolve("new") + "/f$i; done");
        } finally {
            strace.destroy();
            strace.waitFor();
        }
        String all = Files.readString(log);
        assertTrue(server.requests(org.overlayj.fuse.FuseOpcode.GETXATTR) - getxattrs >= 10,
                "the kernel asked before each first write");
        assertFalse(all.contains("security.capability"), all);
        assertTrue(all.lines().filter(l -> l.contains("system.posix_acl_default")).count() <= 1, all);

        // a capability set on a file made here shows, and its removal too
        Path f = mnt.resolve("new/f3");
        TestMounts.sh("setcap", "cap_net_raw+ep", f.toString());
        assertTrue(TestMounts.sh("getcap", f.toString()).contains("cap_net_raw"));
        assertTrue(TestMounts.sh("getcap", upper.resolve("new/f3").toString()).contains("cap_net_raw"));
        TestMounts.sh("setcap", "-r", f.toString());
        assertEquals("", TestMounts.sh("getcap", f.toString()).strip());
        assertEquals("new 3\n", Files.readString(f));
    }

    /** Until strace traces every thread of this JVM (TracerPid set), or fails if strace ended first. */
    private static void waitTraced(Process strace) throws Exception {
        for (int i = 0; i < 500; i++) {
            if (!strace.isAlive()) fail("strace ended: " + strace.exitValue());
            boolean all = true;
            try (var tasks = Files.list(Path.of("/proc/self/task"))) {
                for (Path t : tasks.toList()) {
                    try {
                        if (Files.readString(t.resolve("status")).contains("TracerPid:\t0\n")) all = false;
                    } catch (java.io.IOException gone) {
                        // the thread ended meanwhile
                    }
                }
            }
            if (all) return;
            Thread.sleep(20);
        }
        fail("strace did not attach to every thread");
    }
}
