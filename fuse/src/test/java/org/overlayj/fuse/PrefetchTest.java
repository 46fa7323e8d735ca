package org.overlayj.fuse;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Prefetch;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link Prefetch} on real files, driven as the dispatcher drives it (onRead before each READ's reply): how far its
 * stream reads, that it stops at the end of the file, and that it never keeps a file open that its READs have left.
 */
class PrefetchTest {
    private static final int MIB = 1 << 20;
    private Path dir;

    @BeforeEach void setUp() throws IOException {
        dir = TestMounts.tempDir();
    }

    @AfterEach void tearDown() {
        TestMounts.cleanup(null, dir);
    }

    private Path file(String name, int mib) throws IOException {
        Path f = dir.resolve(name);
        byte[] b = new byte[MIB];
        try (var out = Files.newOutputStream(f)) {
            for (int i = 0; i < mib; i++) out.write(b);
        }
        return f;
    }

    /** How many fds of this process are open on {@code f} (the test's own and any stream's). */
    private static long fdsOn(Path f) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).equals(f);
                } catch (IOException e) {
                    return false;               // closed meanwhile
                }
            }).count();
        }
    }

    private static void await(String what, BooleanSupplier cond) throws InterruptedException {
        for (int i = 0; i < 400; i++) {
            if (cond.getAsBoolean()) return;
            Thread.sleep(25);
        }
        fail("not within 10 s: " + what);
    }

    @Test void aFileReadInOrderIsReadAheadAsFarAsItWasReadUpToTheLimitAndNoFurtherThanItsEnd() throws Exception {
        Path f = file("f", 24);
        int fd = Linux.open(f.toString(), Linux.O_RDONLY, 0);
        try (Prefetch p = new Prefetch(4L * MIB)) {
            p.onRead(fd, 2L * MIB, MIB);
            assertEquals(0, p.started(), "one READ is no order yet");
            p.onRead(fd, 3L * MIB, MIB);
            assertEquals(1, p.started());
            await("2 MiB ahead of the READ that ended at 4 MiB: as much as was read in order", () -> p.prefetched() == 2L * MIB);
            Thread.sleep(200);
            assertEquals(2L * MIB, p.prefetched(), "no further while no READ comes");
            p.onRead(fd, 4L * MIB, 2 * MIB);
            await("4 MiB (the limit) ahead of the READ that ended at 6 MiB", () -> p.prefetched() == 6L * MIB);
            p.onRead(fd, 6L * MIB, 4 * MIB);
            await("4 MiB ahead of 10 MiB", () -> p.prefetched() == 10L * MIB);
            Thread.sleep(200);
            assertEquals(10L * MIB, p.prefetched(), "never more than the limit ahead");
            for (long off = 10L * MIB; off < 24L * MIB; off += MIB) p.onRead(fd, off, MIB);
            await("the rest of the file, to its end", () -> p.running() == 0);
            assertEquals(20L * MIB, p.prefetched(), "from the end of the second READ to the end of the file, once");
            assertEquals(1, p.started(), "a file read to its end gets no second stream");
            assertEquals(1, fdsOn(f), "the stream closed its file at the end");
        } finally {
            Linux.close(fd);
        }
    }

    @Test void aStreamWhoseReadsStopClosesItsFile() throws Exception {
        Path f = file("f", 64);
        int fd = Linux.open(f.toString(), Linux.O_RDONLY, 0);
        try (Prefetch p = new Prefetch(8L * MIB)) {
            for (long off = 0; off < 8L * MIB; off += MIB) p.onRead(fd, off, MIB);
            await("the stream started and read ahead", () -> p.prefetched() == 14L * MIB);
            assertEquals(2, fdsOn(f), "ours and the stream's");
            // no more READs: the reader stopped (or closed the file, and its RELEASE closed the server's fd)
            await("the idle stream has closed its file", () -> {
                try {
                    return fdsOn(f) == 1;
                } catch (IOException e) {
                    return false;
                }
            });
            assertEquals(0, p.running());
        } finally {
            Linux.close(fd);
        }
    }

    @Test void anotherFileUnderTheSameFdNumberEndsTheStream() throws Exception {
        Path a = file("a", 64), b = file("b", 4);
        int fd = Linux.open(a.toString(), Linux.O_RDONLY, 0);
        Prefetch p = new Prefetch(8L * MIB);
        try {
            p.onRead(fd, 0, MIB);
            p.onRead(fd, MIB, MIB);
            await("a is read ahead", () -> p.prefetched() == 2L * MIB);
            Linux.close(fd);
            int again = Linux.open(b.toString(), Linux.O_RDONLY, 0);
            try {
                assertEquals(fd, again, "the fd number is given again (lowest free)");
                p.onRead(again, 2L * MIB, MIB);     // at the offset a's stream follows, but of another file
                await("a's stream ended and closed a", () -> {
                    try {
                        return fdsOn(a) == 0;
                    } catch (IOException e) {
                        return false;
                    }
                });
                assertEquals(1, p.started(), "one READ of b starts nothing");
            } finally {
                Linux.close(again);
            }
        } finally {
            p.close();
        }
    }

    @Test void closingEndsEveryStream() throws Exception {
        Path f = file("f", 64);
        int fd = Linux.open(f.toString(), Linux.O_RDONLY, 0);
        try {
            Prefetch p = new Prefetch(8L * MIB);
            p.onRead(fd, 0, MIB);
            p.onRead(fd, MIB, MIB);
            await("read ahead", () -> p.prefetched() == 2L * MIB);
            p.close();
            assertEquals(1, fdsOn(f), "the stream's file is closed when close returns");
            p.onRead(fd, 2L * MIB, MIB);
            p.onRead(fd, 3L * MIB, MIB);
            assertEquals(1, p.started(), "a closed prefetch starts nothing");
        } finally {
            Linux.close(fd);
        }
    }

    @Test void zeroMeansNever() throws Exception {
        Path f = file("f", 4);
        int fd = Linux.open(f.toString(), Linux.O_RDONLY, 0);
        try (Prefetch p = new Prefetch(0)) {
            for (long off = 0; off < 4L * MIB; off += MIB) p.onRead(fd, off, MIB);
            assertEquals(0, p.started());
            assertTrue(fdsOn(f) == 1);
        } finally {
            Linux.close(fd);
        }
    }
}
