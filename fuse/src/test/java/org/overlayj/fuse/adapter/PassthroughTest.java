package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseBackings;
import org.overlayj.fuse.FuseInit;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseOpcode;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FUSE passthrough: files open on their upper inode are read and written by the kernel itself, with no READ or
 * WRITE requests; files open on a lower inode are not, so that a copy-up still moves their reads to the upper copy.
 */
class PassthroughTest {
    private Path dir, upper, mnt;
    private Overlay overlay;
    private OverlayFileSystem ofs;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        Path low = Files.createDirectory(dir.resolve("low"));
        upper = Files.createDirectory(dir.resolve("upper"));
        Path work = Files.createDirectory(dir.resolve("work"));
        mnt = Files.createDirectory(dir.resolve("mnt"));
        Files.writeString(low.resolve("a"), "lower\n");
        overlay = Overlay.mount(OverlayOptions.of(List.of(low.toString()), upper.toString(), work.toString()));
        ofs = new OverlayFileSystem(overlay);
        // The /dev/fuse loop, whatever enable_uring is meanwhile (FuseUringTest turns it on for its mounts): through
        // io_uring a RELEASE and the OPEN after it can be served at once by two ring entries, and a reopen that
        // still finds the earlier open is served through requests (same data, no backing file), which the counts
        // below would take for a failure. The loop handles a RELEASE before it reads the next request.
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

    private long io() {
        return server.requests(FuseOpcode.READ) + server.requests(FuseOpcode.WRITE);
    }

    @Test void upperFilesAreReadAndWrittenByTheKernel() throws Exception {
        // root on Linux >= 6.9 with CONFIG_FUSE_PASSTHROUGH, which is what this project runs on
        assertTrue(server.negotiated().has(FuseInit.PASSTHROUGH), "the kernel agreed to passthrough");
        byte[] data = new byte[3 << 20];
        new Random(7).nextBytes(data);
        long before = io();
        Files.write(mnt.resolve("new"), data);
        assertArrayEquals(data, Files.readAllBytes(upper.resolve("new")), "the bytes are on the upper inode");
        TestMounts.sh("sync");
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "1");   // a read through requests would fill it
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("new")));
        assertEquals(before, io(), "no READ or WRITE request for a file created in the upper layer");
    }

    @Test void aFileOpenOnItsLowerInodeSeesTheCopyUpAndThenGoesThroughTheKernel() throws Exception {
        Path a = mnt.resolve("a");
        try (FileChannel r = FileChannel.open(a, StandardOpenOption.READ)) {
            assertEquals("lower\n", read(r));
            // the copy-up; the reader is open on the lower inode, so this writer is served through requests too
            long before = server.requests(FuseOpcode.WRITE);
            Files.writeString(a, "appended\n", StandardOpenOption.APPEND);
            assertEquals(before + 1, server.requests(FuseOpcode.WRITE));
            assertEquals("lower\nappended\n", read(r), "the earlier reader reads the upper copy");
        }
        // both closed: the file is upper now; two files open on it at once share one backing file
        long before = io();
        try (FileChannel r = FileChannel.open(a, StandardOpenOption.READ);
             FileChannel w = FileChannel.open(a, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            assertEquals("lower\nappended\n", read(r));
            w.write(ByteBuffer.wrap("again\n".getBytes(StandardCharsets.UTF_8)));
            assertEquals("lower\nappended\nagain\n", read(r));
        }
        assertEquals(before, io(), "no READ or WRITE request once the file is upper");
        assertEquals("lower\nappended\nagain\n", Files.readString(upper.resolve("a")));
    }

    /** A kernel that refuses backing files (not root, an upper layer on an overlay): served through requests. */
    @Test void whenTheKernelRefusesBackingFilesUpperFilesAreServedAndCachedAsBefore() throws Exception {
        ofs.attach(FuseBackings.NONE);                  // refuses every backing file
        long writes = server.requests(FuseOpcode.WRITE);
        Files.writeString(mnt.resolve("new"), "through requests\n");
        assertEquals(writes + 1, server.requests(FuseOpcode.WRITE));
        assertEquals("through requests\n", Files.readString(mnt.resolve("new")));
        long reads = server.requests(FuseOpcode.READ);
        assertEquals("through requests\n", Files.readString(mnt.resolve("new")));
        assertEquals(reads, server.requests(FuseOpcode.READ), "the page cache is kept across opens");
        assertEquals("through requests\n", Files.readString(upper.resolve("new")));
    }

    /**
     * Readers and appenders race on lower files (each first append copies one up): no open may fail (the kernel
     * refuses EBUSY/ETXTBSY to an open whose io mode conflicts with the inode's other open files), and every file
     * ends with all its appends.
     */
    @Test void racingOpensOfFilesBeingCopiedUpAllSucceed() throws Exception {
        Path low = dir.resolve("low");
        int files = 40, threads = 6, rounds = 150;
        for (int i = 0; i < files; i++) Files.writeString(low.resolve("r" + i), "0\n");
        java.util.concurrent.atomic.AtomicIntegerArray appends = new java.util.concurrent.atomic.AtomicIntegerArray(files);
        List<Throwable> errors = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        List<Thread> ts = new java.util.ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Random rnd = new Random(t);
            ts.add(Thread.ofPlatform().start(() -> {
                for (int k = 0; k < rounds; k++) {
                    int i = rnd.nextInt(files);
                    Path p = mnt.resolve("r" + i);
                    try {
                        if (rnd.nextBoolean()) {
                            try (FileChannel r = FileChannel.open(p, StandardOpenOption.READ)) {
                                read(r);
                                if (rnd.nextBoolean()) {
                                    Files.writeString(p, "a\n", StandardOpenOption.APPEND);
                                    appends.incrementAndGet(i);
                                    read(r);
                                }
                            }
                        } else {
                            Files.writeString(p, "b\n", StandardOpenOption.APPEND);
                            appends.incrementAndGet(i);
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }
            }));
        }
        for (Thread t : ts) t.join();
        assertEquals(List.of(), errors.stream().map(Throwable::toString).limit(5).toList());
        for (int i = 0; i < files; i++) {
            assertEquals(1 + appends.get(i), Files.readAllLines(mnt.resolve("r" + i)).size(), "r" + i);
        }
    }

    /** The mount option passthrough=off: INIT does not ask, and upper files are served through requests. */
    @Test void turnedOffTheDoorDoesNotAskForPassthrough() throws Exception {
        Path mnt2 = Files.createDirectory(dir.resolve("mnt2"));
        Path up2 = Files.createDirectory(dir.resolve("upper2")), work2 = Files.createDirectory(dir.resolve("work2"));
        try (Overlay o2 = Overlay.mount(OverlayOptions.of(List.of(dir.resolve("low").toString()), up2.toString(),
                work2.toString()));
             FuseServer s2 = FuseServer.mount(mnt2.toString(), FuseMountOptions.defaults("overlay"),
                     new OverlayFileSystem(o2, false))) {
            assertTrue(!s2.negotiated().has(FuseInit.PASSTHROUGH), "not asked for");
            Files.writeString(mnt2.resolve("new"), "through requests\n");
            assertEquals(1, s2.requests(FuseOpcode.WRITE));
        } finally {
            TestMounts.cleanup(mnt2, null);
        }
    }

    private static String read(FileChannel c) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(4096);
        c.read(b, 0);
        return new String(b.array(), 0, b.position(), StandardCharsets.UTF_8);
    }
}
