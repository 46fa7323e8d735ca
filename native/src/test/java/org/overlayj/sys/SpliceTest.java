package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** pipe2, F_SETPIPE_SZ and splice: file to pipe at an offset (file position untouched), pipe to pipe, EOF. */
class SpliceTest {
    private TempTree t;
    private final java.util.List<Integer> fds = new java.util.ArrayList<>();

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
    }

    @AfterEach void tearDown() throws Exception {
        for (int fd : fds) Linux.closeQuietly(fd);
        t.close();
    }

    private int[] pipe(int size) throws ErrnoException {
        int[] p = Linux.pipe(Linux.O_CLOEXEC);
        fds.add(p[0]);
        fds.add(p[1]);
        assertTrue(Linux.setPipeSize(p[0], size) >= size);
        return p;
    }

    private static byte[] drain(int fd, int n) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(n);
            long got = 0;
            while (got < n) got += Linux.read(fd, m.asSlice(got));
            return m.toArray(JAVA_BYTE);
        }
    }

    @Test void fileThroughTwoPipes() throws Exception {
        byte[] data = new byte[3 * 65536 + 123];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 31 + 7);
        String f = t.path("f");
        int w = Linux.open(f, Linux.O_CREAT | Linux.O_WRONLY, 0644);
        Linux.pwrite(w, data, 0, data.length, 0);
        Linux.close(w);
        int fd = Linux.open(f, Linux.O_RDONLY, 0);
        fds.add(fd);
        int[] a = pipe(1 << 20), b = pipe(1 << 20);

        // from an unaligned offset to past the end: a short count, the file position stays 0
        long off = 4097;
        long n = 0;
        while (true) {
            long k = Linux.splice(fd, off + n, a[1], data.length, 0);
            if (k == 0) break;
            n += k;
        }
        assertEquals(data.length - off, n);
        assertEquals(0, Linux.lseek(fd, 0, Linux.SEEK_CUR));
        assertEquals(0, Linux.splice(fd, data.length, a[1], 10, 0), "at end of file");

        // a header written into b, then a's data behind it: one message, header first
        byte[] header = {1, 2, 3, 4};
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment h = ar.allocate(header.length);
            MemorySegment.copy(header, 0, h, JAVA_BYTE, 0, header.length);
            Linux.write(b[1], h);
        }
        assertEquals(n, Linux.splice(a[0], b[1], n, 0));
        byte[] got = drain(b[0], (int) (header.length + n));
        assertArrayEquals(header, Arrays.copyOf(got, header.length));
        assertArrayEquals(Arrays.copyOfRange(data, (int) off, data.length),
                Arrays.copyOfRange(got, header.length, got.length));
    }

    @Test void errors() throws Exception {
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.splice(-1, 0, -1, 1, 0)).errno());
        int[] p = Linux.pipe(Linux.O_CLOEXEC);
        fds.add(p[0]);
        fds.add(p[1]);
        // splice needs a pipe at one end at least
        String f = t.path("g");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR, 0644);
        fds.add(fd);
        assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class, () -> Linux.splice(fd, 0, fd, 1, 0)).errno());
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.setPipeSize(-1, 4096)).errno());
    }
}
