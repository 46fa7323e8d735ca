package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;
import org.overlayj.sys.Linux;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A lower file read in order through READs is read ahead of them by the server (core's Prefetch, keyed by the
 * file's node): through the real server on loopback, the bytes are the file's, its atime does not move, and no fd
 * of the server's stays open on it once the READs stop, nor once the server has stopped.
 */
class LowerPrefetchTest {
    private static final String EXPORTS = "/ 127.0.0.1(rw,no_root_squash,insecure)\n";
    private static final int MIB = 1 << 20;
    /** An atime older than the mtime: any read of the file that is not O_NOATIME moves it (relatime). */
    private static final long OLD_ATIME = 1_000_000, MTIME = 2_000_000;

    private static byte[] lowerFile(TestOverlay t, String name, int size) throws Exception {
        byte[] data = new byte[size];
        new Random(size).nextBytes(data);
        // out of the page cache: a cold file, which the stream does read (it skips what is cached already)
        Path p = t.lowerFile(name, data, true);
        Linux.utimens(p.toString(), OLD_ATIME, 0, MTIME, 0, true);
        return data;
    }


    /** How many fds of this process (the server's) are open on {@code f}. */
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

    private static long fdsOnQuietly(Path f) {
        try {
            return fdsOn(f);
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

    @Test void aLowerFileReadInOrderIsReadAheadAndReadBackWholeWithoutMovingItsAtime() throws Exception {
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            byte[] data = lowerFile(t, "big", 24 * MIB + 123);
            Path big = t.lower.resolve("big");
            nfs_fh3 f = n.lookup(n.root("/"), "big");
            long streams = t.server.prefetchStreams();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            for (long off = 0; ; ) {
                READ3resok r = n.read(f, off, MIB);
                got.write(r.data, 0, r.count);
                off += r.count;
                if (r.eof || r.count == 0) break;
            }
            assertArrayEquals(data, got.toByteArray(), "the bytes read back are the lower file's");
            assertTrue(t.server.prefetchStreams() > streams, "a stream read the file ahead of its READs");
            await("the stream read some of it", () -> t.server.prefetchedBytes() > 0);
            await("the stream ended at the end of the file", () -> fdsOnQuietly(big) <= 1);
            assertEquals(OLD_ATIME, Linux.lstat(big.toString()).atimeSec(), "the lower file's atime did not move");
            assertFalse(Files.exists(t.upper.resolve("big")), "reading copied nothing up");
        }
    }

    @Test void aStreamWhoseReadsStopClosesItsFile() throws Exception {
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            byte[] data = lowerFile(t, "big", 64 * MIB);
            Path big = t.lower.resolve("big");
            nfs_fh3 f = n.lookup(n.root("/"), "big");
            for (int i = 0; i < 8; i++) {
                READ3resok r = n.read(f, (long) i * MIB, MIB);
                assertArrayEquals(java.util.Arrays.copyOfRange(data, i * MIB, (i + 1) * MIB), r.data);
            }
            assertEquals(1, t.server.prefetchStreams());
            await("the stream read ahead", () -> t.server.prefetchedBytes() > 0);
            // No more READs (the client stopped): the stream ends after its idle time, and the kept READ file
            // after its own; nothing of the server's stays open on the lower file.
            await("no fd of the server's left on the lower file", () -> fdsOnQuietly(big) == 0);
            assertTrue(t.server.prefetchedBytes() < 64L * MIB, "the stream did not read to the end: "
                    + t.server.prefetchedBytes());
            assertEquals(OLD_ATIME, Linux.lstat(big.toString()).atimeSec(), "the lower file's atime did not move");
        }
    }

    @Test void aStoppedServerHasClosedTheStreamsFiles() throws Exception {
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            lowerFile(t, "big", 64 * MIB);
            Path big = t.lower.resolve("big");
            nfs_fh3 f = n.lookup(n.root("/"), "big");
            for (int i = 0; i < 8; i++) n.read(f, (long) i * MIB, MIB);
            await("the stream read ahead", () -> t.server.prefetchedBytes() > 0);
            n.read(f, 8L * MIB, MIB);                    // the stream is following READs right now
            t.server.close();
            assertEquals(0, fdsOn(big), "when the stop returns, no fd of the server's is left on the lower file");
            assertTrue(t.server.prefetchedBytes() < 64L * MIB, "the stream had not reached the end of the file");
        }
    }
}
