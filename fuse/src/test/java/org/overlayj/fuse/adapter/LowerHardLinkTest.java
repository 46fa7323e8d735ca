package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lower hard links through the FUSE door: a change through one name copies up (or links up) that name, as the
 * kernel overlay does, even when another name of the same inode was looked up last. FUSE requests name an inode,
 * not a path, so the door has the kernel look such names up at every use (random differential seed 12011:
 * {@code truncate /h11 0} copied up /g/... instead, and made /g a merge directory with link count 1).
 */
class LowerHardLinkTest {
    private Path dir, low, upper, work, mnt;
    private Overlay overlay;
    private FuseServer server;

    private void mount(boolean index) throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        low = Files.createDirectory(dir.resolve("low"));
        upper = Files.createDirectory(dir.resolve("upper"));
        work = Files.createDirectory(dir.resolve("work"));
        mnt = Files.createDirectory(dir.resolve("mnt"));
        Files.createDirectories(low.resolve("g"));
        Files.writeString(low.resolve("g/a"), "shared data");
        Linux.link(low.resolve("g/a").toString(), low.resolve("h").toString());
        overlay = Overlay.mount(new OverlayOptions(List.of(low.toString()), upper.toString(), work.toString(),
                OverlayOptions.RedirectDir.NOFOLLOW, index, false, OverlayOptions.Uuid.AUTO, OverlayOptions.Xino.OFF,
                false, false, false, List.of()));
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay"), new OverlayFileSystem(overlay));
    }

    @AfterEach void unmount() {
        try {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
        } finally {
            if (mnt != null) TestMounts.cleanup(mnt, dir);
        }
    }

    private void truncateThroughTheNameLookedUpFirst() throws Exception {
        String h = mnt.resolve("h").toString(), a = mnt.resolve("g/a").toString();
        assertEquals(Linux.lstat(h).ino(), Linux.lstat(a).ino(), "one inode, two names");
        Linux.lstat(h);
        Linux.lstat(a);                                     // the other name is the one looked up last
        Linux.truncate(h, 0);
        assertTrue(Files.exists(upper.resolve("h")), "the name the truncate came through is copied up");
        assertFalse(Files.exists(upper.resolve("g")), "the other name's directory stays lower-only");
        assertEquals(2, Linux.lstat(mnt.resolve("g").toString()).nlink(), "so /g keeps its lower link count");
        assertEquals(0, Linux.lstat(h).size());
    }

    @Test void withTheIndexTheNameUsedIsTheOneCopiedUp() throws Exception {
        mount(true);
        truncateThroughTheNameLookedUpFirst();
        assertEquals(0, Linux.lstat(mnt.resolve("g/a").toString()).size(), "the index keeps the names one inode");
    }

    @Test void withoutTheIndexTheNameUsedIsTheOneCopiedUp() throws Exception {
        mount(false);
        truncateThroughTheNameLookedUpFirst();
        assertEquals(11, Linux.lstat(mnt.resolve("g/a").toString()).size(), "no index: the copy-up broke the link");
    }
}
