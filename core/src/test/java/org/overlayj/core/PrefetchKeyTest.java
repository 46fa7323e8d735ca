package org.overlayj.core;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link Prefetch} keyed by something else than the fd number, as the NFS door keys it (by node: no open, and the
 * fd its READs use may change from call to call): one stream per key and real file, whichever fd a READ came
 * through; another real file under the key (a copy-up) ends it; the door's distance for "in order". (The FUSE
 * door's fd-keyed cases: the fuse module's PrefetchTest.)
 */
class PrefetchKeyTest {
    private static final int MIB = 1 << 20;
    private Path dir;

    @BeforeEach void setUp() throws IOException {
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-prefetch-");
    }

    @AfterEach void tearDown() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private Path file(String name, int mib) throws IOException {
        Path f = dir.resolve(name);
        byte[] b = new byte[MIB];
        try (var out = Files.newOutputStream(f)) {
            for (int i = 0; i < mib; i++) out.write(b);
        }
        return f;
    }

    private static long fdsOn(Path f) {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).equals(f);
                } catch (IOException e) {
                    return false;
                }
            }).count();
        } catch (IOException e) {
            return -1;
        }
    }

    private static void await(String what, BooleanSupplier cond) throws InterruptedException {
        for (int i = 0; i < 400; i++) {
            if (cond.getAsBoolean()) return;
            Thread.sleep(25);
        }
        fail("not within 10 s: " + what);
    }

    @Test void aKeysReadsThroughOtherFdsOfTheSameFileAreOneStream() throws Exception {
        Path f = file("f", 32);
        int a = Linux.open(f.toString(), Linux.O_RDONLY, 0), b = Linux.open(f.toString(), Linux.O_RDONLY, 0);
        Object node = new Object();
        try (Prefetch p = new Prefetch("test-prefetch", 8L * MIB, 16L * MIB)) {
            p.onRead(node, a, 0, MIB);
            p.onRead(node, b, MIB, MIB);
            p.onRead(node, a, 2L * MIB, MIB);
            p.onRead(node, b, 3L * MIB, MIB);
            assertEquals(1, p.started(), "one stream for the key");
            await("4 MiB ahead of the READ that ended at 4 MiB", () -> p.prefetched() == 6L * MIB);
            assertEquals(3, fdsOn(f), "the two fds and the stream's own");
        } finally {
            Linux.close(a);
            Linux.close(b);
        }
        assertEquals(0, fdsOn(f));
    }

    @Test void anotherRealFileUnderTheKeyEndsItsStream() throws Exception {
        Path lower = file("lower", 32), upper = file("upper", 32);
        int l = Linux.open(lower.toString(), Linux.O_RDONLY, 0), u = Linux.open(upper.toString(), Linux.O_RDONLY, 0);
        Object node = new Object();
        try (Prefetch p = new Prefetch("test-prefetch", 8L * MIB, 16L * MIB)) {
            p.onRead(node, l, 0, MIB);
            p.onRead(node, l, MIB, MIB);
            await("the lower file is read ahead", () -> p.prefetched() == 2L * MIB);
            p.onRead(node, u, 2L * MIB, MIB);       // copied up meanwhile: the next READ goes to the upper file
            await("the lower file's stream ended and closed it", () -> fdsOn(lower) == 1);
            assertEquals(1, p.started(), "one READ of the upper file starts nothing yet");
            p.onRead(node, u, 3L * MIB, MIB);
            assertEquals(2, p.started(), "the next one does: the upper file has its own stream");
        } finally {
            Linux.close(l);
            Linux.close(u);
        }
    }

    @Test void readsWithinTheDoorsDistanceAreInOrder() throws Exception {
        Path f = file("f", 64);
        int fd = Linux.open(f.toString(), Linux.O_RDONLY, 0);
        try (Prefetch wide = new Prefetch("test-prefetch", 8L * MIB, 16L * MIB);
             Prefetch narrow = new Prefetch(8L * MIB)) {
            // a kernel client's READs in flight, served in another order than sent
            for (Prefetch p : new Prefetch[]{wide, narrow}) {
                p.onRead("k", fd, 0, MIB);
                p.onRead("k", fd, 10L * MIB, MIB);
            }
            assertEquals(1, wide.started(), "10 MiB apart is in order within 16 MiB");
            assertEquals(0, narrow.started(), "but not within the default 4 MiB");
        } finally {
            Linux.close(fd);
        }
    }
}
