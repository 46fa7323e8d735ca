package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The /dev/fuse loop answers the directory listings of a lone walker on the reading thread itself (FuseServer's
 * listingAlone): a walk of a tree hands the reader role on not once, where each listing was handed on before.
 * Several walkers at once still get every listing answered.
 */
class LoneListingTest {
    private static final int DIRS = 30, FILES = 40;
    private Path dir, mnt;
    private Overlay overlay;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        Path low = Files.createDirectory(dir.resolve("low"));
        Path upper = Files.createDirectory(dir.resolve("upper"));
        Path work = Files.createDirectory(dir.resolve("work"));
        mnt = Files.createDirectory(dir.resolve("mnt"));
        for (int d = 0; d < DIRS; d++) {
            Path sub = Files.createDirectories(low.resolve("d" + d / 10).resolve("s" + d));
            for (int f = 0; f < FILES; f++) Files.writeString(sub.resolve("f" + f), "file " + f + "\n");
        }
        overlay = Overlay.mount(OverlayOptions.of(List.of(low.toString()), upper.toString(), work.toString()));
        // the /dev/fuse loop (the rings have a thread per queue of their own)
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay").withUring(false),
                new OverlayFileSystem(overlay));
    }

    @AfterEach void unmount() {
        try {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
        } finally {
            TestMounts.cleanup(mnt, dir);
        }
    }

    /** Entries of a walk with every entry's attributes read (as find -printf '%s' does). */
    private long walk() throws Exception {
        long n = 0;
        try (Stream<Path> s = Files.walk(mnt)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.readAttributes(p, BasicFileAttributes.class, java.nio.file.LinkOption.NOFOLLOW_LINKS);
                n++;
            }
        }
        return n;
    }

    @Test void aLoneWalkHandsNoListingOn() throws Exception {
        long entries = 1 + 3 + DIRS + (long) DIRS * FILES;   // the root, d0..d2, the s dirs, the files
        long before = server.roleHandoffs();
        assertEquals(entries, walk());
        // (every request of a walk is quick or a listing: before listingAlone, each listing was handed on)
        assertEquals(0, server.roleHandoffs() - before, "a lone walker's listings were handed to another thread");
    }

    @Test void concurrentWalkersAreAllAnswered() throws Exception {
        long entries = 1 + 3 + DIRS + (long) DIRS * FILES;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Long>> walks = new ArrayList<>();
            for (int i = 0; i < 4; i++) walks.add(pool.submit(this::walk));
            for (Future<Long> w : walks) assertEquals(entries, w.get(60, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
    }
}
