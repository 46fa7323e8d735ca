package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.nfs_fh3;
import org.overlayj.nfs.xdr.stable_how;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/** A clean stop: calls already admitted reply before the transport goes; what was acknowledged is on disk. */
class NfsStopTest {

    @Test void drainWaitsForAdmittedCallsAndRefusesNewOnes() throws Exception {
        InFlight g = new InFlight();
        assertTrue(g.enter());                       // a call in flight
        CompletableFuture<Boolean> drained = CompletableFuture.supplyAsync(() -> {
            try {
                return g.drain(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        while (g.enter()) g.exit();                  // until the stop has closed the gate
        assertFalse(drained.isDone(), "the admitted call has not replied yet");
        assertEquals(1, g.active());
        g.exit();
        assertTrue(drained.get(60, TimeUnit.SECONDS));
        assertFalse(g.enter());
    }

    @Test void drainGivesUpAtItsDeadline() throws Exception {
        InFlight g = new InFlight();
        assertTrue(g.enter());
        assertFalse(g.drain(0, TimeUnit.SECONDS));
    }

    /**
     * Writers keep sending FILE_SYNC WRITEs while the server stops: every WRITE that was answered OK is in the
     * upper layer afterwards, and the stop completes.
     */
    @Test void acknowledgedWritesSurviveAStopUnderLoad() throws Exception {
        int writers = 4, chunk = 32 * 1024;
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
             ExecutorService pool = Executors.newFixedThreadPool(writers)) {
            AtomicLong acked = new AtomicLong();
            CountDownLatch enough = new CountDownLatch(1);
            List<Future<byte[]>> done = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                int id = w;
                done.add(pool.submit(() -> {
                    byte[] model = new byte[0];
                    Random rnd = new Random(id);
                    try (NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
                        nfs_fh3 f = n.create(n.root("/"), "w" + id);
                        for (int i = 0; i < 100_000; i++) {
                            byte[] data = new byte[chunk];
                            rnd.nextBytes(data);
                            try {
                                n.write(f, (long) i * chunk, data, stable_how.FILE_SYNC);
                            } catch (Exception | AssertionError stopped) {
                                return model;                 // the server went away: stop writing
                            }
                            model = Arrays.copyOf(model, (i + 1) * chunk);
                            System.arraycopy(data, 0, model, i * chunk, chunk);
                            if (acked.incrementAndGet() >= 64) enough.countDown();
                        }
                        return model;
                    } catch (Exception | AssertionError setup) {
                        return model;
                    }
                }));
            }
            assertTrue(enough.await(120, TimeUnit.SECONDS), "writers got going");
            t.server.close();
            for (int w = 0; w < writers; w++) {
                byte[] model = done.get(w).get(120, TimeUnit.SECONDS);
                byte[] disk = Files.readAllBytes(t.upper.resolve("w" + w));
                assertTrue(disk.length >= model.length, "writer " + w + ": " + disk.length + " < " + model.length);
                assertArrayEquals(model, Arrays.copyOf(disk, model.length), "writer " + w);
            }
        }
    }
}
