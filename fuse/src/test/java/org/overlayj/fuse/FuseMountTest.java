package org.overlayj.fuse;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The protocol layer mounted for real over the in-memory filesystem, driven by Java I/O and shell tools. */
class FuseMountTest {
    private Path dir, mnt;
    private MemFs fs;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        mnt = Files.createDirectory(dir.resolve("mnt"));
        fs = new MemFs();
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("memfs"), fs);
    }

    @AfterEach void unmount() {
        try {
            if (server != null) server.close();
        } finally {
            TestMounts.cleanup(mnt, dir);
        }
    }

    @Test void mountIsListedWithFsnameAndType() throws Exception {
        String line = TestMounts.mountLine(mnt);
        assertNotNull(line);
        String[] f = line.split(" ");
        assertEquals("memfs", f[0]);
        assertEquals("fuse.overlayj", f[2]);
        assertTrue(f[3].contains("default_permissions") && f[3].contains("allow_other"), f[3]);
        assertTrue(server.negotiated().minor() >= 31);
    }

    @Test void filesDirectoriesLinksAndXattrs() throws Exception {
        Path d = Files.createDirectory(mnt.resolve("dir"));
        Path f = d.resolve("file");
        Files.writeString(f, "hello");
        Files.writeString(f, " world", StandardOpenOption.APPEND);
        assertEquals("hello world", Files.readString(f));
        assertEquals("hello world", TestMounts.sh("cat", f.toString()));

        Files.createLink(d.resolve("hard"), f);
        assertEquals(2, Files.getAttribute(f, "unix:nlink"));
        assertEquals(Files.getAttribute(f, "unix:ino"), Files.getAttribute(d.resolve("hard"), "unix:ino"));
        Files.createSymbolicLink(d.resolve("sym"), Path.of("file"));
        assertEquals(Path.of("file"), Files.readSymbolicLink(d.resolve("sym")));
        assertEquals("hello world", Files.readString(d.resolve("sym")));

        TestMounts.sh("mv", f.toString(), mnt.resolve("moved").toString());
        assertFalse(Files.exists(f));
        assertEquals("hello world", Files.readString(mnt.resolve("moved")));
        TestMounts.sh("ln", "-s", "dir/hard", mnt.resolve("s2").toString());
        assertEquals("symbolic link", TestMounts.sh("stat", "-c", "%F", mnt.resolve("s2").toString()).trim());

        TestMounts.sh("setfattr", "-n", "user.color", "-v", "blue", mnt.resolve("moved").toString());
        assertTrue(TestMounts.sh("getfattr", "-d", mnt.resolve("moved").toString()).contains("user.color=\"blue\""));
        TestMounts.sh("setfattr", "-x", "user.color", mnt.resolve("moved").toString());
        assertEquals(1, TestMounts.rc("getfattr", "-n", "user.color", mnt.resolve("moved").toString()));

        TestMounts.sh("chmod", "600", mnt.resolve("moved").toString());
        assertEquals("600", TestMounts.sh("stat", "-c", "%a", mnt.resolve("moved").toString()).trim());
        TestMounts.sh("touch", "-m", "-d", "@1000000000", mnt.resolve("moved").toString());
        assertEquals("1000000000", TestMounts.sh("stat", "-c", "%Y", mnt.resolve("moved").toString()).trim());

        try (Stream<Path> s = Files.list(d)) {
            assertEquals(List.of("hard", "sym"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        String ls = TestMounts.sh("ls", "-la", d.toString());
        assertTrue(ls.contains("hard") && ls.contains("sym -> file"), ls);

        Files.delete(d.resolve("hard"));
        Files.delete(d.resolve("sym"));
        Files.delete(d);
        assertFalse(Files.exists(d, LinkOption.NOFOLLOW_LINKS));
        assertEquals(0, TestMounts.rc("mkfifo", mnt.resolve("fifo").toString()));
        assertEquals("fifo", TestMounts.sh("stat", "-c", "%F", mnt.resolve("fifo").toString()).trim());
    }

    @Test void bigWritesTruncateAndOTrunc() throws Exception {
        byte[] data = new byte[3 * 1024 * 1024 + 123];
        new Random(7).nextBytes(data);
        Path f = mnt.resolve("big");
        Files.write(f, data);
        assertArrayEquals(data, Files.readAllBytes(f));
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(10);
        }
        assertEquals(10, Files.size(f));
        Files.writeString(f, "new", StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        assertEquals("new", Files.readString(f, StandardCharsets.UTF_8));
        assertEquals(0, TestMounts.rc("mv", "-n", mnt.resolve("big").toString(), mnt.resolve("big").toString()));
    }

    @Test void sequentialReadsComeInReadsOfTheReadaheadWindow() throws Exception {
        assertTrue(FuseServer.READAHEAD_KIB >= 1020, "1 MiB, or 1020 KiB when only 1 MiB pipes can be had");
        assertEquals(FuseServer.READAHEAD_KIB, Readahead.get(mnt.toString()));
        Path f = mnt.resolve("big");
        byte[] data = new byte[8 << 20];
        new Random(7).nextBytes(data);
        Files.write(f, data);
        // MemFs opens without KEEP_CACHE: this open drops the pages the write left, so the data comes by READ.
        assertArrayEquals(data, Files.readAllBytes(f));
        assertEquals(FuseServer.READAHEAD_KIB * 1024, fs.largestRead.get(),
                "READs as big as the window (a 128 KiB window gave READs of 128 KiB)");
    }

    @Test void errnosReachTheCaller() throws Exception {
        assertNotEquals(0, TestMounts.rc("cat", mnt.resolve("missing").toString()));
        Files.createDirectory(mnt.resolve("d"));
        Files.writeString(mnt.resolve("d/x"), "x");
        assertNotEquals(0, TestMounts.rc("rmdir", mnt.resolve("d").toString()));
        String df = TestMounts.sh("stat", "-f", "-c", "%b %a %S", mnt.toString());
        assertEquals("1000 500 4096", df.trim());
    }

    @Test void forgetReleasesLookups() throws Exception {
        for (int i = 0; i < 20; i++) Files.writeString(mnt.resolve("f" + i), "x");
        TestMounts.sh("ls", "-l", mnt.toString());
        assertTrue(fs.totalLookups() > 0);
        // Dropping the kernel's dentry and inode caches makes it FORGET every unused nodeid.
        for (int i = 0; i < 100 && fs.totalLookups() > 0; i++) {
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "2");
            Thread.sleep(100);
        }
        assertEquals(0, fs.totalLookups());
        assertTrue(fs.forgets.get() > 0);
    }

    @Test void externalUmountEndsTheLoop() throws Exception {
        TestMounts.sh("umount", mnt.toString());
        assertTrue(server.awaitExit(60, TimeUnit.SECONDS));
        assertFalse(TestMounts.isMounted(mnt));
    }
}
