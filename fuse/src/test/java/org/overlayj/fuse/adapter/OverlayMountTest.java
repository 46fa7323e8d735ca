package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An overlay of two lower dirs and an upper, mounted through FUSE; operations through the mount, checks on the
 * upper layer on disk.
 */
class OverlayMountTest {
    private Path dir, low1, low2, upper, work, mnt;
    private Overlay overlay;
    private OverlayFileSystem ofs;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        Linux.chmod(dir.toString(), 0755);            // other users reach the mount point (tests as uid 1000)
        low1 = Files.createDirectory(dir.resolve("low1"));
        low2 = Files.createDirectory(dir.resolve("low2"));
        upper = Files.createDirectory(dir.resolve("upper"));
        work = Files.createDirectory(dir.resolve("work"));
        mnt = Files.createDirectory(dir.resolve("mnt"));
        // low1 is the top lower layer
        Files.createDirectories(low1.resolve("d"));
        Files.writeString(low1.resolve("d/top"), "from low1");
        Files.createDirectories(low2.resolve("d"));
        Files.writeString(low2.resolve("d/bottom"), "from low2");
        Files.writeString(low2.resolve("d/top"), "shadowed");
        Files.writeString(low2.resolve("f"), "lower file");
        Files.createDirectories(low2.resolve("gone/sub"));
        Files.createDirectories(low2.resolve("shared"));
        Linux.lchown(low2.resolve("shared").toString(), 0, 4242);
        Linux.chmod(low2.resolve("shared").toString(), 0770);
        overlay = Overlay.mount(OverlayOptions.of(List.of(low1.toString(), low2.toString()), upper.toString(),
                work.toString()));
        ofs = new OverlayFileSystem(overlay);
        // the /dev/fuse loop, whatever enable_uring is meanwhile (FuseUringTest turns it on): bigReadsAreSpliced...
        // counts the replies that loop splices
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay").withUring(false), ofs);
    }

    @AfterEach void unmount() {
        try {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
        } finally {
            TestMounts.cleanup(mnt, dir);
        }
    }

    private static byte[] xattr(Path p, String name) throws Exception {
        return Linux.lgetxattrOrNull(p.toString(), name);
    }

    @Test void mergedViewAndCopyUp() throws Exception {
        try (Stream<Path> s = Files.list(mnt.resolve("d"))) {
            assertEquals(List.of("bottom", "top"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals("from low1", Files.readString(mnt.resolve("d/top")));
        assertEquals("from low2", Files.readString(mnt.resolve("d/bottom")));

        Files.writeString(mnt.resolve("f"), " appended", StandardOpenOption.APPEND);
        assertEquals("lower file appended", Files.readString(upper.resolve("f")), "written through at once");
        assertEquals("lower file", Files.readString(low2.resolve("f")), "lower untouched");
        assertNotNull(xattr(upper.resolve("f"), "trusted.overlay.origin"), "copy-up records the origin");
        assertEquals(Files.getAttribute(low2.resolve("f"), "unix:ino"), Files.getAttribute(mnt.resolve("f"), "unix:ino"),
                "st_ino stays the lower one after copy-up (same fs, xino off)");
    }

    @Test void namespaceOpsLeaveKernelFormatInUpper() throws Exception {
        Files.createDirectory(mnt.resolve("newdir"));
        Files.writeString(mnt.resolve("newdir/n"), "new");
        assertEquals("new", Files.readString(upper.resolve("newdir/n")));

        Files.delete(mnt.resolve("d/bottom"));
        Stat wh = Linux.lstat(upper.resolve("d/bottom").toString());
        assertTrue(wh.isWhiteout(), "unlink of a lower file leaves a 0/0 whiteout");
        assertFalse(Files.exists(mnt.resolve("d/bottom")));

        TestMounts.sh("rm", "-r", mnt.resolve("gone").toString());
        assertTrue(Linux.lstat(upper.resolve("gone").toString()).isWhiteout());
        Files.createDirectory(mnt.resolve("gone"));
        assertEquals("y", new String(xattr(upper.resolve("gone"), "trusted.overlay.opaque")),
                "a dir made over a whiteout is opaque");
        try (Stream<Path> s = Files.list(mnt.resolve("gone"))) {
            assertEquals(0, s.count());
        }

        TestMounts.sh("mv", mnt.resolve("f").toString(), mnt.resolve("renamed").toString());
        assertEquals("lower file", Files.readString(upper.resolve("renamed")));
        assertTrue(Linux.lstat(upper.resolve("f").toString()).isWhiteout());

        TestMounts.sh("ln", mnt.resolve("renamed").toString(), mnt.resolve("hard").toString());
        assertEquals(2, Files.getAttribute(mnt.resolve("hard"), "unix:nlink"));
        assertEquals(Files.getAttribute(upper.resolve("renamed"), "unix:ino"),
                Files.getAttribute(upper.resolve("hard"), "unix:ino"));
        TestMounts.sh("ln", "-s", "d/top", mnt.resolve("sym").toString());
        assertEquals("d/top", Files.readSymbolicLink(upper.resolve("sym")).toString());
        assertEquals("from low1", Files.readString(mnt.resolve("sym")));

        TestMounts.sh("chmod", "640", mnt.resolve("d/top").toString());
        assertEquals("640", TestMounts.sh("stat", "-c", "%a", upper.resolve("d/top").toString()).trim());
        assertEquals("from low1", Files.readString(upper.resolve("d/top")));

        TestMounts.sh("setfattr", "-n", "user.k", "-v", "v", mnt.resolve("d/top").toString());
        assertEquals("v", new String(xattr(upper.resolve("d/top"), "user.k")));
        String listed = TestMounts.sh("getfattr", "-d", "-m", "-", mnt.resolve("d/top").toString());
        assertTrue(listed.contains("user.k"), listed);
        assertFalse(listed.contains("trusted.overlay"), "overlay xattrs are hidden: " + listed);

        TestMounts.sh("mkfifo", mnt.resolve("fifo").toString());
        assertEquals("fifo", TestMounts.sh("stat", "-c", "%F", upper.resolve("fifo").toString()).trim());
        assertNull(xattr(upper.resolve("newdir"), "trusted.overlay.opaque"));
    }

    /**
     * The kernel keeps names and attributes for long here, so what an operation changes on objects it does not
     * name must reach it as notifications: each step would show the stale value otherwise.
     */
    @Test void cachedAttributesFollowSideEffects() throws Exception {
        assertEquals(3, Files.getAttribute(mnt.resolve("gone"), "unix:nlink"), "a lower-only dir: its own count");
        Files.writeString(mnt.resolve("gone/sub/new"), "x");          // copies up gone and gone/sub
        assertEquals(1, Files.getAttribute(mnt.resolve("gone"), "unix:nlink"), "now a merge dir");

        assertFalse(Files.exists(mnt.resolve("d/later")));            // cached as missing
        Files.writeString(mnt.resolve("d/later"), "y");
        assertEquals("y", Files.readString(mnt.resolve("d/later")));

        TestMounts.sh("ln", mnt.resolve("f").toString(), mnt.resolve("d/alias").toString());
        assertEquals(2, Files.getAttribute(mnt.resolve("f"), "unix:nlink"));
        Files.delete(mnt.resolve("d/alias"));
        assertEquals(1, Files.getAttribute(mnt.resolve("f"), "unix:nlink"), "still reached by its other name");
        assertEquals("lower file", Files.readString(mnt.resolve("f")));
    }

    @Test void truncateAndOTruncCopyUp() throws Exception {
        Files.writeString(mnt.resolve("d/bottom"), "x", StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE);
        assertEquals("x", Files.readString(upper.resolve("d/bottom")));
        TestMounts.sh("truncate", "-s", "3", mnt.resolve("f").toString());
        assertEquals(3, Files.size(upper.resolve("f")));
        assertEquals("low", Files.readString(mnt.resolve("f")));
    }

    /** Runs {@code cmd} as uid/gid 1000 with the given supplementary groups; returns the exit code. */
    private static int asUser(String groups, String... cmd) throws Exception {
        String[] full = new String[cmd.length + 4];
        full[0] = "setpriv";
        full[1] = "--reuid=1000";
        full[2] = "--regid=1000";
        full[3] = groups.isEmpty() ? "--clear-groups" : "--groups=" + groups;
        System.arraycopy(cmd, 0, full, 4, cmd.length);
        return TestMounts.rc(full);
    }

    @Test void callerCredentialsAndSupplementaryGroups() throws Exception {
        Path shared = mnt.resolve("shared");
        assertEquals(0, asUser("4242", "touch", shared.resolve("mine").toString()),
                "a member through a supplementary group may create");
        Stat st = Linux.lstat(upper.resolve("shared/mine").toString());
        assertEquals(1000, st.uid(), "new files belong to the caller");
        assertEquals(1000, st.gid());
        assertNotEquals(0, asUser("", "touch", shared.resolve("other").toString()), "a non-member may not");
        assertFalse(Files.exists(upper.resolve("shared/other")));
        assertEquals(0, asUser("4242", "ls", shared.toString()));
        assertNotEquals(0, asUser("", "ls", shared.toString()));
        assertNotEquals(0, asUser("4242", "chmod", "777", shared.toString()), "only the owner may chmod");
    }

    @Test void bigReadsAreSplicedFromTheLayers() throws Exception {
        byte[] data = new byte[4 * 1024 * 1024 + 123];           // the last READ is short, in the middle of a page
        new java.util.Random(11).nextBytes(data);
        Files.write(low2.resolve("big"), data);
        long before = server.splicedReads();
        org.junit.jupiter.api.Assertions.assertArrayEquals(data, Files.readAllBytes(mnt.resolve("big")));
        assertTrue(server.splicedReads() > before, "READ replies of 1 MiB are spliced");

        // A reader opened on the lower file keeps reading after a writer copied it up: its READs then come from the
        // upper copy, through an fd reopened there while the lower one stays open for reads still in flight.
        Files.write(low2.resolve("big2"), data);
        try (java.io.RandomAccessFile r = new java.io.RandomAccessFile(mnt.resolve("big2").toFile(), "r")) {
            byte[] head = new byte[1 << 20];
            r.readFully(head);
            org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOf(data, head.length), head);
            try (java.io.RandomAccessFile w = new java.io.RandomAccessFile(mnt.resolve("big2").toFile(), "rw")) {
                w.seek(3 << 20);
                w.write("XYZ".getBytes());
            }
            assertNotNull(Linux.lstatOrNull(upper.resolve("big2").toString()), "copied up");
            System.arraycopy("XYZ".getBytes(), 0, data, 3 << 20, 3);
            byte[] rest = new byte[data.length - head.length];
            r.readFully(rest);
            org.junit.jupiter.api.Assertions.assertArrayEquals(
                    java.util.Arrays.copyOfRange(data, head.length, data.length), rest);
        }
        for (int i = 0; i < 100 && ofs.openFiles() > 0; i++) Thread.sleep(50); // RELEASE comes after close(2)
        assertEquals(0, ofs.openFiles(), "all released");
    }

    /**
     * A lower file read in order through the mount is read ahead of its READs by the server (FuseServer's
     * Prefetch): the bytes are the file's, its atime does not move (the stream opens it O_NOATIME, as every lower
     * file is read), and once the reader is done the server holds no fd of it.
     */
    @Test void aLowerFileReadInOrderIsReadAheadWithoutMovingItsAtimeOrKeepingItOpen() throws Exception {
        byte[] data = new byte[24 * 1024 * 1024 + 123];
        new java.util.Random(12).nextBytes(data);
        Path big = low2.resolve("ahead");
        Files.write(big, data);
        // an atime older than the mtime: any read of the file that is not O_NOATIME moves it (relatime)
        Linux.utimens(big.toString(), 1_000_000, 0, 2_000_000, 0, true);
        long streams = server.prefetchStreams(), bytes = server.prefetchedBytes();
        org.junit.jupiter.api.Assertions.assertArrayEquals(data, Files.readAllBytes(mnt.resolve("ahead")));
        assertTrue(server.prefetchStreams() > streams, "a stream read the file ahead of its READs");
        assertTrue(server.prefetchedBytes() > bytes, "and read some of it");
        assertEquals(1_000_000, Linux.lstat(big.toString()).atimeSec(), "the lower file's atime did not move");
        for (int i = 0; i < 100 && (ofs.openFiles() > 0 || fdsOn(big) > 0); i++) Thread.sleep(50);
        assertEquals(0, ofs.openFiles(), "all released");
        assertEquals(0, fdsOn(big), "no fd of the server's is left on the lower file");
    }

    /** How many fds of this process (the server's) are open on {@code f}. */
    private static long fdsOn(Path f) throws java.io.IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).equals(f);
                } catch (java.io.IOException e) {
                    return false;
                }
            }).count();
        }
    }

    @Test void forgetDropsNodes() throws Exception {
        TestMounts.sh("ls", "-lR", mnt.toString());
        assertTrue(ofs.referencedNodes() > 1);
        for (int i = 0; i < 100 && ofs.referencedNodes() > 1; i++) {
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "2");
            Thread.sleep(100);
        }
        assertEquals(1, ofs.referencedNodes(), "only the root is left");
        assertEquals(0, ofs.openFiles());
    }
}
