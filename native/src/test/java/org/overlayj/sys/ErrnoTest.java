package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** errno capture (per call, per thread), Errno names and the ErrnoException message shape. */
class ErrnoTest {
    private TempTree t;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    @Test void namesAndMessages() throws Exception {
        assertEquals("ENOENT", Errno.name(Errno.ENOENT));
        assertEquals("EOPNOTSUPP", Errno.name(Errno.ENOTSUP));
        assertEquals("errno 999", Errno.name(999));
        ErrnoException e = assertThrows(ErrnoException.class, () -> Linux.lstat(t.path("none")));
        assertEquals(Errno.ENOENT, e.errno());
        assertEquals("ENOENT: statx(" + t.path("none") + ")", e.getMessage());
        assertEquals("statx(" + t.path("none") + ")", e.detail());
        assertEquals("x", new ErrnoException(Errno.EIO, "x").detail());
    }

    /**
     * Threads racing different failures each see their own errno: the capture slot is per thread, and a
     * success in between never leaves a stale errno behind. Runs on platform and virtual threads.
     */
    @Test void errnoIsCapturedPerCallAndPerThread() throws Exception {
        Linux.mknod(t.path("f"), Stat.S_IFREG | 0644, 0);
        Linux.mkdir(t.path("d"), 0755);
        Linux.mknod(t.path("d/x"), Stat.S_IFREG | 0644, 0);
        for (ExecutorService ex : List.of(Executors.newFixedThreadPool(4), Executors.newVirtualThreadPerTaskExecutor())) {
            try (ex) {
                List<Future<?>> fs = new ArrayList<>();
                for (int k = 0; k < 8; k++) {
                    int kind = k % 4;
                    fs.add(ex.submit(() -> {
                        for (int i = 0; i < 2000; i++) {
                            switch (kind) {
                                case 0 -> assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class,
                                        () -> Linux.lstat(t.path("none"))).errno());
                                case 1 -> assertEquals(Errno.ENOTDIR, assertThrows(ErrnoException.class,
                                        () -> Linux.lstat(t.path("f/sub"))).errno());
                                case 2 -> assertEquals(Errno.ENOTEMPTY, assertThrows(ErrnoException.class,
                                        () -> Linux.rmdir(t.path("d"))).errno());
                                default -> {
                                    assertNotNull(Linux.lstatOrNull(t.path("f")));
                                    assertNull(Linux.lgetxattrOrNull(t.path("f"), "user.none"));
                                    assertEquals(Errno.ENODATA, assertThrows(ErrnoException.class,
                                            () -> Linux.lgetxattr(t.path("f"), "user.none")).errno());
                                }
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : fs) f.get();
            }
        }
    }
}
