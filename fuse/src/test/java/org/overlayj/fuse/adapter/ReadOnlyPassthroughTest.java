package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseInit;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseOpcode;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A read-only overlay (lower layers only) never copies a file up, so a file open on its lower inode reads that inode
 * for as long as it is open: it is a FUSE passthrough file, read by the kernel with no READ requests, as the upper
 * files of a writable overlay are. The backing file is opened through the layer's private noatime clone, so these
 * reads leave the lower atime alone, as the kernel overlay's reads through its own private lower mounts do.
 */
class ReadOnlyPassthroughTest {
    private Path dir, top, low, mnt;
    private Overlay overlay;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        top = Files.createDirectory(dir.resolve("top"));
        low = Files.createDirectory(dir.resolve("low"));
        mnt = Files.createDirectory(dir.resolve("mnt"));
    }

    @AfterEach void unmount() {
        try {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
        } finally {
            TestMounts.cleanup(mnt, dir);
        }
    }

    private void mountReadOnly() throws Exception {
        // the kernel wants two lower layers when there is no upper one
        overlay = Overlay.mount(OverlayOptions.of(List.of(top.toString(), low.toString()), null, null));
        assertTrue(overlay.readOnly(), "no upper layer: a read-only overlay");
        // the /dev/fuse loop, as PassthroughTest says why
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay").withUring(false),
                new OverlayFileSystem(overlay));
    }

    @Test void lowerFilesAreReadByTheKernelAndKeepTheirAtime() throws Exception {
        byte[] data = new byte[3 << 20];
        new Random(11).nextBytes(data);
        Path f = low.resolve("f");
        Files.write(f, data);
        // an atime older than the mtime: relatime moves it at the next read through a mount without noatime
        FileTime old = FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() - 100_000);
        Files.setAttribute(f, "lastAccessTime", old);
        mountReadOnly();
        assertTrue(server.negotiated().has(FuseInit.PASSTHROUGH), "the kernel agreed to passthrough");

        long reads = server.requests(FuseOpcode.READ);
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("f")));
        // two files open at once share the node's backing file, and a read through one sees the same bytes
        try (FileChannel a = FileChannel.open(mnt.resolve("f"), StandardOpenOption.READ);
             FileChannel b = FileChannel.open(mnt.resolve("f"), StandardOpenOption.READ)) {
            ByteBuffer x = ByteBuffer.allocate(4096), y = ByteBuffer.allocate(4096);
            a.read(x, 1 << 20);
            b.read(y, 1 << 20);
            assertArrayEquals(x.array(), y.array());
        }
        assertEquals(reads, server.requests(FuseOpcode.READ), "no READ request for a lower file of a read-only overlay");
        assertEquals(old, Files.getAttribute(f, "lastAccessTime"), "the lower atime did not move");

        // the check above can fail: a plain read of the lower file moves its atime on this filesystem
        Files.readAllBytes(f);
        assertNotEquals(old, Files.getAttribute(f, "lastAccessTime"), "relatime moves an atime older than the mtime");
    }
}
