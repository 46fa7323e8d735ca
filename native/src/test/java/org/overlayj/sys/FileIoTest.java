package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * open flags, pread/pwrite, read/write/writev, copy_file_range, FICLONE on ext4, lseek holes, truncation, sync,
 * F_GETFL/F_SETFL with O_DIRECT, cachestat.
 */
class FileIoTest {
    private TempTree t;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (i * 13 + seed);
        return b;
    }

    @Test void openFlagsAndTheirErrors() throws Exception {
        String f = t.path("f");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_EXCL | Linux.O_WRONLY, 0640);
        Linux.close(fd);
        assertEquals(0640, Linux.lstat(f).perm()); // umask 022 keeps 0640
        assertEquals(Errno.EEXIST, assertThrows(ErrnoException.class,
                () -> Linux.open(f, Linux.O_CREAT | Linux.O_EXCL | Linux.O_WRONLY, 0600)).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class,
                () -> Linux.open(t.path("none"), Linux.O_RDONLY, 0)).errno());
        Linux.symlink("f", t.path("l"));
        assertEquals(Errno.ELOOP, assertThrows(ErrnoException.class,
                () -> Linux.open(t.path("l"), Linux.O_RDONLY | Linux.O_NOFOLLOW, 0)).errno());
        assertEquals(Errno.ENOTDIR, assertThrows(ErrnoException.class,
                () -> Linux.open(f, Linux.O_RDONLY | Linux.O_DIRECTORY, 0)).errno());
        assertEquals(Errno.EISDIR, assertThrows(ErrnoException.class,
                () -> Linux.open(t.root, Linux.O_WRONLY, 0)).errno());
        // O_PATH|O_NOFOLLOW names the symlink itself
        int p = Linux.open(t.path("l"), Linux.O_PATH | Linux.O_NOFOLLOW, 0);
        try {
            assertTrue(Linux.fstat(p).isLink());
            assertEquals(t.path("l"), Linux.fdPath(p));
        } finally {
            Linux.close(p);
        }
        // every fd is close-on-exec
        int q = Linux.open(f, Linux.O_RDONLY, 0);
        try {
            String flags = Files.readAllLines(Path.of("/proc/self/fdinfo/" + q)).stream()
                    .filter(l -> l.startsWith("flags:")).findFirst().orElseThrow();
            int oct = Integer.parseInt(flags.substring(6).strip(), 8);
            assertEquals(Linux.O_CLOEXEC, oct & Linux.O_CLOEXEC);
        } finally {
            Linux.close(q);
        }
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.close(q)).errno());
        Linux.closeQuietly(q);
        Linux.closeQuietly(-1);
    }

    @Test void preadPwriteOnHeapArraysAtOffsets() throws Exception {
        String f = t.path("f");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR, 0644);
        try {
            byte[] src = pattern(10000, 1);
            // write bytes [100, 100+5000) of src at file offset 3
            assertEquals(5000, Linux.pwrite(fd, src, 100, 5000, 3));
            byte[] disk = Files.readAllBytes(Path.of(f));
            assertEquals(5003, disk.length);
            assertArrayEquals(new byte[3], Arrays.copyOfRange(disk, 0, 3));
            assertArrayEquals(Arrays.copyOfRange(src, 100, 5100), Arrays.copyOfRange(disk, 3, 5003));

            byte[] dst = new byte[6000];
            Arrays.fill(dst, (byte) 0x55);
            assertEquals(1000, Linux.pread(fd, dst, 50, 1000, 1003));
            assertArrayEquals(Arrays.copyOfRange(src, 1100, 2100), Arrays.copyOfRange(dst, 50, 1050));
            assertEquals(0x55, dst[49]);
            assertEquals(0x55, dst[1050]);
            // short read at EOF, 0 past it
            assertEquals(3, Linux.pread(fd, dst, 0, 100, 5000));
            assertEquals(0, Linux.pread(fd, dst, 0, 100, 9000));
            assertThrows(IndexOutOfBoundsException.class, () -> Linux.pread(fd, dst, 5990, 20, 0));

            // segment variants: heap and native
            byte[] h = new byte[10];
            assertEquals(10, Linux.pread(fd, MemorySegment.ofArray(h), 3));
            assertArrayEquals(Arrays.copyOfRange(src, 100, 110), h);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment n = a.allocate(4);
                n.copyFrom(MemorySegment.ofArray(new byte[] {9, 8, 7, 6}));
                assertEquals(4, Linux.pwrite(fd, n, 5003));
                assertEquals(4, Linux.pwrite(fd, MemorySegment.ofArray(new byte[] {1, 2, 3, 4}), 5007));
                MemorySegment r = a.allocate(8);
                assertEquals(8, Linux.pread(fd, r, 5003));
                assertArrayEquals(new byte[] {9, 8, 7, 6, 1, 2, 3, 4}, r.toArray(JAVA_BYTE));
            }
        } finally {
            Linux.close(fd);
        }
        int ro = Linux.open(f, Linux.O_RDONLY, 0);
        try {
            assertEquals(Errno.EBADF, assertThrows(ErrnoException.class,
                    () -> Linux.pwrite(ro, new byte[1], 0, 1, 0)).errno());
        } finally {
            Linux.close(ro);
        }
    }

    @Test void readWriteAndWritevOnNativeSegments() throws Exception {
        String f = t.path("f");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR | Linux.O_TRUNC, 0644);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment one = a.allocate(5), two = a.allocate(3), three = a.allocate(4);
            one.copyFrom(MemorySegment.ofArray("hello".getBytes()));
            two.copyFrom(MemorySegment.ofArray(", w".getBytes()));
            three.copyFrom(MemorySegment.ofArray("orld".getBytes()));
            assertEquals(12, Linux.writev(fd, one, two, three));
            assertEquals(1, Linux.write(fd, a.allocate(1).fill((byte) '!')));
            assertEquals("hello, world!", Files.readString(Path.of(f)));
            assertThrows(IllegalArgumentException.class, () -> Linux.writev(fd, MemorySegment.ofArray(new byte[1])));

            assertEquals(0, Linux.lseek(fd, 0, Linux.SEEK_SET));
            MemorySegment buf = a.allocate(100);
            assertEquals(13, Linux.read(fd, buf));
            assertEquals("hello, world!", new String(buf.asSlice(0, 13).toArray(JAVA_BYTE)));
            assertEquals(0, Linux.read(fd, buf));
            assertEquals(13, Linux.lseek(fd, 0, Linux.SEEK_CUR));
            assertEquals(13, Linux.lseek(fd, 0, Linux.SEEK_END));
        } finally {
            Linux.close(fd);
        }
    }

    @Test void copyFileRangeCopiesAtExplicitOffsets() throws Exception {
        byte[] src = pattern(200_000, 3);
        Files.write(Path.of(t.path("src")), src);
        int in = Linux.open(t.path("src"), Linux.O_RDONLY, 0);
        int out = Linux.open(t.path("dst"), Linux.O_CREAT | Linux.O_WRONLY, 0644);
        try {
            long done = 0;
            while (done < 150_000) {
                long n = Linux.copyFileRange(in, 50_000 + done, out, 10 + done, 150_000 - done);
                assertTrue(n > 0);
                done += n;
            }
            assertEquals(0, Linux.copyFileRange(in, 200_000, out, 0, 100)); // EOF
            // the fds' own offsets are untouched
            assertEquals(0, Linux.lseek(in, 0, Linux.SEEK_CUR));
            assertEquals(0, Linux.lseek(out, 0, Linux.SEEK_CUR));
        } finally {
            Linux.close(in);
            Linux.close(out);
        }
        byte[] dst = Files.readAllBytes(Path.of(t.path("dst")));
        assertEquals(150_010, dst.length);
        assertArrayEquals(Arrays.copyOfRange(src, 50_000, 200_000), Arrays.copyOfRange(dst, 10, 150_010));
    }

    @Test void ficloneOnExt4Fails() throws Exception {
        Files.write(Path.of(t.path("src")), pattern(8192, 5));
        int in = Linux.open(t.path("src"), Linux.O_RDONLY, 0);
        int out = Linux.open(t.path("dst"), Linux.O_CREAT | Linux.O_WRONLY, 0644);
        try {
            StatFs fs = Linux.statfs(t.root);
            assertEquals(0xEF53L, fs.type(), "this test expects /tmp on ext4");
            // ext4 has no reflink: the VFS answers EOPNOTSUPP because ext4 lacks remap_file_range
            assertEquals(Errno.EOPNOTSUPP, assertThrows(ErrnoException.class, () -> Linux.ficlone(out, in)).errno());
        } finally {
            Linux.close(in);
            Linux.close(out);
        }
    }

    /**
     * The FUSE passthrough ioctls reach the FUSE device (a wrong number would give ENOTTY): on a /dev/fuse fd that
     * serves no mount yet the device refuses both with EPERM. Registering for real is PassthroughTest (fuse module).
     */
    @Test void fuseBackingIoctlsReachTheDevice() throws Exception {
        Files.write(Path.of(t.path("backing")), pattern(100, 3));
        int dev = Linux.open("/dev/fuse", Linux.O_RDWR, 0);
        int fd = Linux.open(t.path("backing"), Linux.O_RDONLY, 0);
        try {
            assertEquals(Errno.EPERM, assertThrows(ErrnoException.class, () -> Linux.fuseBackingOpen(dev, fd)).errno());
            assertEquals(Errno.EPERM, assertThrows(ErrnoException.class, () -> Linux.fuseBackingClose(dev, 1)).errno());
        } finally {
            Linux.close(fd);
            Linux.close(dev);
        }
    }

    @Test void seekDataAndHoleOnASparseFile() throws Exception {
        String f = t.path("sparse");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR, 0644);
        try {
            byte[] block = pattern(4096, 9);
            Linux.pwrite(fd, block, 0, 4096, 1 << 20);          // data at 1 MiB
            Linux.ftruncate(fd, 4 << 20);                       // hole up to 4 MiB
            assertEquals(1 << 20, Linux.lseek(fd, 0, Linux.SEEK_DATA));
            assertEquals(0, Linux.lseek(fd, 0, Linux.SEEK_HOLE));
            assertEquals((1 << 20) + 4096, Linux.lseek(fd, 1 << 20, Linux.SEEK_HOLE));
            assertEquals(Errno.ENXIO, assertThrows(ErrnoException.class,
                    () -> Linux.lseek(fd, (1 << 20) + 4096, Linux.SEEK_DATA)).errno());
            assertEquals(Errno.ENXIO, assertThrows(ErrnoException.class,
                    () -> Linux.lseek(fd, 5 << 20, Linux.SEEK_HOLE)).errno());
            Stat s = Linux.fstat(fd);
            assertEquals(4 << 20, s.size());
            assertEquals(8, s.blocks()); // one 4 KiB block in 512-byte units
            assertEquals(String.valueOf(s.blocks()), TempTree.check("stat", "-c", "%b", f));
        } finally {
            Linux.close(fd);
        }
    }

    @Test void truncateFallocateAndSync() throws Exception {
        String f = t.path("f");
        Files.write(Path.of(f), pattern(10_000, 1));
        Linux.truncate(f, 100);
        assertEquals(100, Files.size(Path.of(f)));
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Linux.truncate(t.path("x"), 0)).errno());
        assertEquals(Errno.EISDIR, assertThrows(ErrnoException.class, () -> Linux.truncate(t.root, 0)).errno());
        int fd = Linux.open(f, Linux.O_RDWR, 0);
        try {
            Linux.ftruncate(fd, 50);
            assertEquals(50, Linux.fstat(fd).size());
            assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class, () -> Linux.ftruncate(fd, -1)).errno());
            Linux.fallocate(fd, 0, 0, 1 << 20);
            Stat s = Linux.fstat(fd);
            assertEquals(1 << 20, s.size());
            assertTrue(s.blocks() >= (1 << 20) / 512);
            // FALLOC_FL_KEEP_SIZE (1) allocates without growing
            Linux.fallocate(fd, 1, 1 << 20, 1 << 20);
            assertEquals(1 << 20, Linux.fstat(fd).size());
            assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class, () -> Linux.fallocate(fd, 0, 0, 0)).errno());
            Linux.fsync(fd);
            Linux.fdatasync(fd);
            Linux.syncfs(fd);
        } finally {
            Linux.close(fd);
        }
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.fsync(fd)).errno());
    }

    @Test void fdPathFollowsRenamesAndUnlinks() throws Exception {
        String f = t.path("f\u00e9");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR, 0644);
        try {
            assertEquals(f, Linux.fdPath(fd));
            Linux.rename(f, t.path("g"), 0);
            assertEquals(t.path("g"), Linux.fdPath(fd));
            Linux.unlink(t.path("g"));
            assertEquals(t.path("g") + " (deleted)", Linux.fdPath(fd));
        } finally {
            Linux.close(fd);
        }
    }

    @Test void flockConflictsAcrossOpenFileDescriptions() throws Exception {
        String f = t.path("lock");
        int a = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR, 0644);
        int b = Linux.open(f, Linux.O_RDWR, 0);
        int d = Linux.open(t.root, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        int d2 = Linux.open(t.root, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            Linux.flock(a, Linux.LOCK_EX | Linux.LOCK_NB);
            assertEquals(Errno.EAGAIN, assertThrows(ErrnoException.class,
                    () -> Linux.flock(b, Linux.LOCK_EX | Linux.LOCK_NB)).errno());
            assertEquals(Errno.EAGAIN, assertThrows(ErrnoException.class,
                    () -> Linux.flock(b, Linux.LOCK_SH | Linux.LOCK_NB)).errno());
            Linux.flock(a, Linux.LOCK_UN);
            Linux.flock(b, Linux.LOCK_SH | Linux.LOCK_NB);
            Linux.flock(a, Linux.LOCK_SH | Linux.LOCK_NB);
            // directories lock too (the engine locks workdirs)
            Linux.flock(d, Linux.LOCK_EX | Linux.LOCK_NB);
            assertEquals(Errno.EAGAIN, assertThrows(ErrnoException.class,
                    () -> Linux.flock(d2, Linux.LOCK_EX | Linux.LOCK_NB)).errno());
            assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class, () -> Linux.flock(a, 0)).errno());
        } finally {
            Linux.close(a);
            Linux.close(b);
            Linux.close(d);
            Linux.close(d2);
        }
    }

    @Test void oDirectIsSetAndClearedByFSetfl() throws Exception {
        String f = t.path("direct");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR, 0644);
        int proc = Linux.open("/proc/self/status", Linux.O_RDONLY, 0);
        try (Arena a = Arena.ofConfined()) {
            int flags = Linux.fileFlags(fd);
            assertEquals(Linux.O_RDWR, flags & Linux.O_ACCMODE);
            assertEquals(0, flags & Linux.O_DIRECT);
            Linux.setFileFlags(fd, flags | Linux.O_DIRECT);
            assertEquals(Linux.O_DIRECT, Linux.fileFlags(fd) & Linux.O_DIRECT);
            // direct I/O takes aligned buffers, offsets and lengths only
            MemorySegment block = a.allocate(4096, 4096).fill((byte) 7);
            assertEquals(4096, Linux.pwrite(fd, block, 0));
            assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class,
                    () -> Linux.pwrite(fd, block.asSlice(0, 100), 0)).errno());
            Linux.setFileFlags(fd, flags);
            assertEquals(0, Linux.fileFlags(fd) & Linux.O_DIRECT);
            assertEquals(100, Linux.pwrite(fd, block.asSlice(0, 100), 1));
            // procfs has no direct I/O: F_SETFL refuses the flag
            int pflags = Linux.fileFlags(proc);
            assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class,
                    () -> Linux.setFileFlags(proc, pflags | Linux.O_DIRECT)).errno());
            assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.fileFlags(-1)).errno());
        } finally {
            Linux.close(fd);
            Linux.close(proc);
        }
    }

    @Test void cachestatCountsTheCachedPagesOfARange() throws Exception {
        String f = t.path("cached");
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR, 0644);
        try {
            byte[] b = pattern(64 * 4096, 3);
            Linux.pwrite(fd, b, 0, b.length, 0);
            assertEquals(64, Linux.cachedPages(fd, 0, 0), "a buffered write leaves its pages cached");
            assertEquals(16, Linux.cachedPages(fd, 4096, 16 * 4096));
            Linux.fsync(fd);
            TempTree.check("dd", "if=" + f, "iflag=nocache", "count=0", "status=none");   // POSIX_FADV_DONTNEED
            assertEquals(0, Linux.cachedPages(fd, 0, 0), "dropped");
            Linux.pread(fd, new byte[8192], 0, 8192, 0);
            assertTrue(Linux.cachedPages(fd, 0, 0) >= 2, "read back in");
            assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.cachedPages(-1, 0, 0)).errno());
        } finally {
            Linux.close(fd);
        }
    }
}
