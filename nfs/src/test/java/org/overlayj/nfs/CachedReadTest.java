package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;
import org.overlayj.sys.Linux;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Where a large READ is served (Nfs3Program#dispatchOncRpcCall): on its connection's thread when its pages are all
 * in the page cache, by a worker when they are not (the splice would wait on the disk, and a client's next calls
 * behind it). Through the real server on loopback, one call at a time; the bytes are the file's either way.
 */
class CachedReadTest {
    private static final String EXPORTS = "/ 127.0.0.1(rw,no_root_squash,insecure)\n";
    private static final int MIB = 1 << 20;

    private static byte[] lowerFile(TestOverlay t, String name, int size, boolean evict) throws Exception {
        byte[] data = new byte[size];
        new Random(size).nextBytes(data);
        Path p = t.lowerFile(name, data, evict);
        int fd = Linux.open(p.toString(), Linux.O_RDONLY, 0);
        try {
            if (evict) assertEquals(0, Linux.cachedPages(fd, 0, 0), name + " stays cached: the test root must be on a disk fs");
            else assertEquals((size + 4095) / 4096, Linux.cachedPages(fd, 0, 0), "a written file's pages are cached");
        } finally {
            Linux.close(fd);
        }
        return data;
    }


    @Test void aCachedFileIsReadOnTheConnectionsThread() throws Exception {
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            byte[] data = lowerFile(t, "warm", 4 * MIB, false);
            nfs_fh3 f = n.lookup(n.root("/"), "warm");
            for (int i = 0; i < 4; i++) {
                READ3resok r = n.read(f, (long) i * MIB, MIB);
                assertArrayEquals(Arrays.copyOfRange(data, i * MIB, (i + 1) * MIB), r.data, "READ " + i);
                assertEquals(i == 3, r.eof);
            }
            NfsStats s = t.server.stats();
            assertEquals(4, s.readsHere(), "every READ served on the connection's thread: " + s);
            assertEquals(0, s.readsToWorkers(), s.toString());
            // a large READ that fails before its pages are looked at is answered here, and counted all the same
            READ3args dir = new READ3args();
            dir.file = n.root("/");
            dir.count = MIB;
            assertEquals(nfsstat3.NFS3ERR_ISDIR, n.c.nfs(Nfs3.NFSPROC3_READ_3, dir, new READ3res()).status);
            assertEquals(5, s.nfsCalls("READ"), s.toString());
        }
    }

    @Test void anUncachedReadGoesToAWorkerAndComesBackWhole() throws Exception {
        try (TestOverlay t = new TestOverlay(EXPORTS); NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
            byte[] data = lowerFile(t, "cold", 2 * MIB, true);
            nfs_fh3 f = n.lookup(n.root("/"), "cold");
            READ3resok r = n.read(f, MIB, MIB);           // the last READ of the file: no stream reads ahead of it
            assertArrayEquals(Arrays.copyOfRange(data, MIB, 2 * MIB), r.data);
            assertTrue(r.eof);
            NfsStats s = t.server.stats();
            assertEquals(1, s.readsToWorkers(), "the uncached READ went to a worker: " + s);
            assertEquals(0, s.readsHere(), s.toString());
            assertEquals(1, s.nfsCalls("READ"), "counted once, by the worker that served it");
            // the worker's splice read the pages in: the same READ again is served on the connection's thread
            r = n.read(f, MIB, MIB);
            assertArrayEquals(Arrays.copyOfRange(data, MIB, 2 * MIB), r.data);
            assertEquals(1, s.readsHere(), s.toString());
            assertEquals(2, s.nfsCalls("READ"));
        }
    }
}
