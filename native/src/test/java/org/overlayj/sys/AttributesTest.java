package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** statx fields against python's os.lstat, times with nanoseconds, modes, owners, chattr flags, credentials. */
class AttributesTest {
    private TempTree t;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    private static final String PY_STAT = """
            s = os.lstat(P)
            print(s.st_mode, s.st_ino, s.st_nlink, s.st_uid, s.st_gid, s.st_size, s.st_blocks, s.st_blksize,
                  s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns, os.major(s.st_rdev), os.minor(s.st_rdev),
                  os.major(s.st_dev), os.minor(s.st_dev))
            """;

    private static String ours(Stat s) {
        return String.join(" ", String.valueOf(s.mode()), String.valueOf(s.ino()), String.valueOf(s.nlink()),
                String.valueOf(s.uid()), String.valueOf(s.gid()), String.valueOf(s.size()),
                String.valueOf(s.blocks()), String.valueOf(s.blksize()),
                String.valueOf(s.atimeSec() * 1_000_000_000L + s.atimeNsec()),
                String.valueOf(s.mtimeSec() * 1_000_000_000L + s.mtimeNsec()),
                String.valueOf(s.ctimeSec() * 1_000_000_000L + s.ctimeNsec()),
                String.valueOf(s.rdevMajor()), String.valueOf(s.rdevMinor()),
                String.valueOf(s.devMajor()), String.valueOf(s.devMinor()));
    }

    @Test void statxFieldsMatchPython() throws Exception {
        String f = t.path("f");
        java.nio.file.Files.write(java.nio.file.Path.of(f), new byte[12345]);
        Linux.lchown(f, 1234, 5678);
        Linux.link(f, t.path("f2"));
        Linux.utimens(f, 1_600_000_000L, 123_456_789, 1_500_000_000L, 987_654_321, false);
        Linux.symlink("f", t.path("l"));
        Linux.mknod(t.path("c"), Stat.S_IFCHR | 0600, Linux.makedev(4095, 0x12345));
        Linux.mkdir(t.path("d"), 0700);
        for (String n : new String[] {"f", "l", "c", "d"}) {
            assertEquals(TempTree.py(PY_STAT, t.path(n)).replaceAll("\\s+", " "), ours(Linux.lstat(t.path(n))), n);
        }
        Stat l = Linux.lstat(t.path("l")), s = Linux.stat(t.path("l"));
        assertTrue(l.isLink());
        assertTrue(s.isReg());
        assertEquals(Linux.lstat(f).ino(), s.ino());
        assertEquals(2, s.nlink());
        assertEquals(1234, s.uid());
        assertEquals(0100644, s.mode());
        assertEquals(0644, s.perm());
        assertEquals(Stat.S_IFREG, s.type());
        // the mount id statx reports is the one /proc/self/mountinfo lists for /tmp's filesystem
        String mnt = TempTree.check("stat", "-c", "%m", t.root); // mount point
        String mountinfo = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/mountinfo")).stream()
                .filter(x -> x.split(" ")[4].equals(mnt)).reduce((a, b) -> b).orElseThrow();
        assertEquals(Long.parseLong(mountinfo.split(" ")[0]), s.mntId());
        int fd = Linux.open(t.path("d"), Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            assertEquals(Linux.lstat(t.path("d")), Linux.fstat(fd));
        } finally {
            Linux.close(fd);
        }
    }

    @Test void utimensKeepsNanosecondsAndHonoursNowAndOmit() throws Exception {
        String f = t.path("f");
        Linux.mknod(f, Stat.S_IFREG | 0644, 0);
        Linux.utimens(f, 1_000_000_001L, 1, 2_000_000_002L, 999_999_999, false);
        Stat s = Linux.lstat(f);
        assertEquals(1_000_000_001L, s.atimeSec());
        assertEquals(1, s.atimeNsec());
        assertEquals(2_000_000_002L, s.mtimeSec());
        assertEquals(999_999_999, s.mtimeNsec());
        assertEquals("2000000002999999999", TempTree.py("print(os.lstat(P).st_mtime_ns)", f));

        Linux.utimens(f, 5, 0, 0, Linux.UTIME_OMIT, false);     // atime only
        s = Linux.lstat(f);
        assertEquals(5, s.atimeSec());
        assertEquals(2_000_000_002L, s.mtimeSec());
        long before = System.currentTimeMillis() / 1000 - 5;
        Linux.utimens(f, 0, Linux.UTIME_OMIT, 0, Linux.UTIME_NOW, false);
        s = Linux.lstat(f);
        assertEquals(5, s.atimeSec());
        assertTrue(s.mtimeSec() >= before);
        // pre-epoch times are representable
        Linux.utimens(f, -100, 500, -1, 0, false);
        assertEquals(-100, Linux.lstat(f).atimeSec());
        assertEquals(-1, Linux.lstat(f).mtimeSec());
        assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class,
                () -> Linux.utimens(f, 0, 1_000_000_000L, 0, 0, false)).errno());

        // noFollow sets the symlink's own times; following sets the target's
        Linux.symlink("f", t.path("l"));
        Linux.utimens(t.path("l"), 7, 7, 8, 8, true);
        assertEquals(8, Linux.lstat(t.path("l")).mtimeSec());
        assertEquals(-1, Linux.lstat(f).mtimeSec());
        Linux.utimens(t.path("l"), 9, 9, 10, 10, false);
        assertEquals(10, Linux.lstat(f).mtimeSec());
        assertEquals(8, Linux.lstat(t.path("l")).mtimeSec());

        int fd = Linux.open(f, Linux.O_RDONLY, 0);
        try {
            Linux.futimens(fd, 11, 111, 12, 222);
            Stat fs = Linux.fstat(fd);
            assertEquals(11, fs.atimeSec());
            assertEquals(111, fs.atimeNsec());
            assertEquals(12, fs.mtimeSec());
            assertEquals(222, fs.mtimeNsec());
        } finally {
            Linux.close(fd);
        }
    }

    @Test void modesAndOwners() throws Exception {
        String f = t.path("f");
        Linux.mknod(f, Stat.S_IFREG | 0600, 0);
        Linux.chmod(f, 04751);
        assertEquals("4751", TempTree.check("stat", "-c", "%a", f));
        Linux.symlink("f", t.path("l"));
        Linux.chmod(t.path("l"), 0640);                         // follows the link
        assertEquals(0640, Linux.lstat(f).perm());
        assertEquals(0777, Linux.lstat(t.path("l")).perm());

        Linux.lchown(t.path("l"), 42, 43);                      // the link itself
        assertEquals("42:43", TempTree.check("stat", "-c", "%u:%g", t.path("l")));
        assertEquals("0:0", TempTree.check("stat", "-c", "%u:%g", f));
        Linux.lchown(f, 100, -1);
        assertEquals("100:0", TempTree.check("stat", "-c", "%u:%g", f));
        Linux.lchown(f, -1, 200);
        assertEquals("100:200", TempTree.check("stat", "-c", "%u:%g", f));

        int fd = Linux.open(f, Linux.O_RDONLY, 0);
        try {
            Linux.fchmod(fd, 0604);
            Linux.fchown(fd, 7, 8);
            assertEquals("604 7:8", TempTree.check("stat", "-c", "%a %u:%g", f));
        } finally {
            Linux.close(fd);
        }
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Linux.chmod(t.path("x"), 0)).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Linux.lchown(t.path("x"), 0, 0)).errno());
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.fchmod(fd, 0)).errno());
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.fchown(fd, 0, 0)).errno());
    }

    @Test void chattrFlags() throws Exception {
        String f = t.path("f");
        Linux.mknod(f, Stat.S_IFREG | 0644, 0);
        int fd = Linux.open(f, Linux.O_RDONLY, 0);
        try {
            int flags = Linux.getFlags(fd);
            int nodump = 0x40; // FS_NODUMP_FL, chattr +d
            Linux.setFlags(fd, flags | nodump);
            assertEquals(flags | nodump, Linux.getFlags(fd));
            assertTrue(TempTree.check("lsattr", "-d", f).split(" ")[0].contains("d"));
            Linux.setFlags(fd, flags);
            assertEquals(flags, Linux.getFlags(fd));
            assertTrue(!TempTree.check("lsattr", "-d", f).split(" ")[0].contains("d"));
        } finally {
            Linux.close(fd);
        }
    }

    @Test void devNumbersFollowGlibc() throws Exception {
        int[][] cases = {{0, 0}, {1, 3}, {8, 17}, {4095, 255}, {4096, 256}, {0x7ff12345, 0x7e6789ab}};
        for (int[] c : cases) {
            long dev = Linux.makedev(c[0], c[1]);
            String py = TempTree.check("python3", "-c", "import os; print(os.makedev(" + c[0] + ", " + c[1] + "))");
            assertEquals(Long.parseUnsignedLong(py), dev, c[0] + ":" + c[1]);
            assertEquals(c[0], Linux.major(dev));
            assertEquals(c[1], Linux.minor(dev));
        }
        // the full 32-bit unsigned range survives
        long dev = Linux.makedev(0xfffff123, 0xfe6789ab);
        assertEquals(0xfffff123, Linux.major(dev));
        assertEquals(0xfe6789ab, Linux.minor(dev));
        assertEquals(Linux.makedev(0, 0xfe000000), Linux.makedev(0, 0xfe000000) & 0x00000fffffffff00L);
    }

    @Test void credentials() throws Exception {
        assertEquals(0, Linux.geteuid());  // these tests run as root
        assertEquals(0, Linux.getegid());
        int old = Linux.umask(027);
        try {
            assertEquals(027, Linux.umask(027));
            Linux.mkdir(t.path("d"), 0777);
            assertEquals(0750, Linux.lstat(t.path("d")).perm());
        } finally {
            Linux.umask(old);
        }
        // setfsuid/setfsgid act on the calling thread only
        Linux.chmod(t.root, 0755);                               // temp dirs start 0700: let uid 1001 in
        Linux.mkdir(t.path("open"), 0777);
        Linux.chmod(t.path("open"), 0777);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread th = Thread.ofPlatform().start(() -> {
            try {
                int prevU = Linux.setfsuid(1001);
                int prevG = Linux.setfsgid(1002);
                try {
                    assertEquals(0, prevU);
                    assertEquals(0, prevG);
                    Linux.mkdir(t.path("open/byuser"), 0755);
                    // a 0700 root directory is closed to uid 1001 (fsuid drops CAP_DAC_OVERRIDE)
                    assertEquals(Errno.EACCES, assertThrows(ErrnoException.class,
                            () -> Linux.mkdir(t.path("d/x"), 0755)).errno());
                } finally {
                    assertEquals(1001, Linux.setfsuid(prevU));
                    assertEquals(1002, Linux.setfsgid(prevG));
                }
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        th.join();
        if (failure.get() != null) throw new AssertionError(failure.get());
        Stat s = Linux.lstat(t.path("open/byuser"));
        assertEquals(1001, s.uid());
        assertEquals(1002, s.gid());
        Linux.mkdir(t.path("open/byroot"), 0755);
        assertEquals(0, Linux.lstat(t.path("open/byroot")).uid());
    }

    /**
     * Not an assertion: prints how fast the hot path-based calls are, since the engine calls lstat and lgetxattr
     * on nearly every lookup. Raise the count with -Doverlayj.native.perfLoops=N.
     */
    @Test void hotCallRates() throws Exception {
        int loops = Integer.getInteger("overlayj.native.perfLoops", 100_000);
        String f = t.path("f");
        Linux.mknod(f, Stat.S_IFREG | 0644, 0);
        for (int warm = 0; warm < 20_000; warm++) {
            Linux.lstat(f);
            Linux.lgetxattrOrNull(f, "trusted.overlay.opaque");
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < loops; i++) Linux.lstat(f);
        long t1 = System.nanoTime();
        for (int i = 0; i < loops; i++) Linux.lstatOrNull(t.path("absent"));
        long t2 = System.nanoTime();
        for (int i = 0; i < loops; i++) Linux.lgetxattrOrNull(f, "trusted.overlay.opaque");
        long t3 = System.nanoTime();
        int n = loops / 100;
        for (int i = 0; i < n; i++) {
            Linux.mkdir(t.path("d"), 0755);
            Linux.rename(t.path("d"), t.path("e"), Linux.RENAME_NOREPLACE);
            Linux.rmdir(t.path("e"));
        }
        long t4 = System.nanoTime();
        System.out.printf("[native perf] %d loops: lstat %.0f/s, lstatOrNull(absent) %.0f/s, "
                        + "lgetxattrOrNull(absent) %.0f/s, mkdir+rename+rmdir %.0f/s%n", loops,
                rate(loops, t1 - t0), rate(loops, t2 - t1), rate(loops, t3 - t2), rate(n, t4 - t3));
    }

    private static double rate(int n, long nanos) {
        return n / (nanos / 1e9);
    }
}
