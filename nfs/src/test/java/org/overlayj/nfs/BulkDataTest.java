package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.rpc.SplicedData;
import org.overlayj.nfs.xdr.*;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/**
 * READ and WRITE data through the oncrpc4j client: the reply's data is sent from a reused per-thread buffer and
 * a WRITE's data is taken from the received record in place, so sizes at the edges (MAX_IO, odd lengths that
 * need XDR padding) and concurrent READs on one connection must still give back exactly the bytes written.
 */
class BulkDataTest {
    private static final String EXPORTS = "/ 127.0.0.1(rw,no_root_squash,insecure)\n";

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }


    @Test void maxIoRoundTrip() throws Exception {
        long spliced = SplicedData.sent();
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            nfs_fh3 f = n.create(n.root("/"), "big");
            byte[] data = random(Nfs3Program.MAX_IO, 1);
            WRITE3resok w = n.write(f, 0, data, stable_how.UNSTABLE);
            assertEquals(Nfs3Program.MAX_IO, w.count);
            assertEquals(stable_how.UNSTABLE, w.committed);
            assertEquals(Nfs3Program.MAX_IO, w.file_wcc.after.attributes.size);
            READ3resok r = n.read(f, 0, Nfs3Program.MAX_IO);
            assertArrayEquals(data, r.data);
            assertTrue(r.eof);
            // More than MAX_IO asked: MAX_IO given (FSINFO's rtmax), not an error.
            byte[] more = random(Nfs3Program.MAX_IO, 2);
            n.write(f, Nfs3Program.MAX_IO, more, stable_how.FILE_SYNC);
            READ3resok capped = n.read(f, 1, Nfs3Program.MAX_IO + 4096);
            assertEquals(Nfs3Program.MAX_IO, capped.count);
            assertFalse(capped.eof);
            assertArrayEquals(Arrays.copyOfRange(data, 1, data.length), Arrays.copyOfRange(capped.data, 0, data.length - 1));
            assertEquals(more[0], capped.data[data.length - 1]);
            byte[] onDisk = Files.readAllBytes(t.upper.resolve("big"));
            assertArrayEquals(data, Arrays.copyOfRange(onDisk, 0, data.length));
            assertArrayEquals(more, Arrays.copyOfRange(onDisk, data.length, onDisk.length));
        }
        // The first 1 MiB READ above went from the file to the socket by splice (the tests run with the JVM option
        // bin/overlayj gives, --add-opens java.base/sun.nio.ch); the one at offset 1 by pread (a pipe of 256
        // pages cannot hold 1 MiB that starts inside a page). Without the splice path this fails.
        assertTrue(SplicedData.sent() >= spliced + 1, "READ replies spliced: " + (SplicedData.sent() - spliced));
    }

    @Test void oddSizesAndShortReads() throws Exception {
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            nfs_fh3 f = n.create(n.root("/"), "odd");
            int[] sizes = {1, 2, 3, 5, 4097, 65535, Nfs3Program.MAX_IO - 1, 7};
            byte[] expect = new byte[0];
            byte[] verf = null;
            for (int i = 0; i < sizes.length; i++) {
                byte[] d = random(sizes[i], 10 + i);
                int stable = i % 3 == 0 ? stable_how.UNSTABLE : i % 3 == 1 ? stable_how.DATA_SYNC : stable_how.FILE_SYNC;
                WRITE3resok w = n.write(f, expect.length, d, stable);
                assertEquals(d.length, w.count);
                assertEquals(stable, w.committed);
                if (verf != null) assertArrayEquals(verf, w.verf, "one write verifier per server instance");
                verf = w.verf;
                byte[] grown = Arrays.copyOf(expect, expect.length + d.length);
                System.arraycopy(d, 0, grown, expect.length, d.length);
                expect = grown;
            }
            // Reads of odd lengths at odd offsets; the last ones cross or start at EOF (short reads, eof set).
            Random rnd = new Random(3);
            for (int i = 0; i < 40; i++) {
                int off = rnd.nextInt(expect.length + 10);
                int count = 1 + rnd.nextInt(i % 4 == 0 ? Nfs3Program.MAX_IO : 9000);
                READ3resok r = n.read(f, off, count);
                int want = Math.max(0, Math.min(count, expect.length - off));
                assertEquals(want, r.count, "READ " + count + " at " + off);
                assertArrayEquals(Arrays.copyOfRange(expect, Math.min(off, expect.length), Math.min(off, expect.length) + want), r.data);
                assertEquals(off + want >= expect.length, r.eof, "eof of READ " + count + " at " + off);
            }
            // A lower file (not copied up by reading).
            READ3resok lower = n.read(n.lookup(n.root("/"), "hello.txt"), 0, 3);
            assertEquals("hel", new String(lower.data));
            assertFalse(lower.eof);
            assertFalse(Files.exists(t.upper.resolve("hello.txt")));
        }
    }

    @Test void concurrentReadsOnOneConnection() throws Exception {
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            nfs_fh3 f = n.create(n.root("/"), "shared");
            byte[] data = random(4 * Nfs3Program.MAX_IO + 12345, 4);
            for (int off = 0; off < data.length; off += Nfs3Program.MAX_IO)
                n.write(f, off, Arrays.copyOfRange(data, off, Math.min(data.length, off + Nfs3Program.MAX_IO)),
                        stable_how.UNSTABLE);
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<?>> all = new ArrayList<>();
                for (int th = 0; th < 8; th++) {
                    int seed = th;
                    all.add(pool.submit(() -> {
                        Random rnd = new Random(seed);
                        for (int i = 0; i < 12; i++) {
                            int off = rnd.nextInt(data.length);
                            int count = 1 + rnd.nextInt(Nfs3Program.MAX_IO);
                            READ3resok r = n.read(f, off, count);
                            int want = Math.min(count, data.length - off);
                            assertEquals(want, r.count);
                            assertArrayEquals(Arrays.copyOfRange(data, off, off + want), r.data,
                                    "READ " + count + " at " + off);
                        }
                        return null;
                    }));
                }
                for (Future<?> x : all) x.get();
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
