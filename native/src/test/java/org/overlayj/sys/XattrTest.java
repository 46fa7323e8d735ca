package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** l/f get/set/list/removexattr on ext4, including trusted.* (we are root) and values beyond the first buffer. */
class XattrTest {
    private TempTree t;
    private String f;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
        f = t.path("f");
        Linux.mknod(f, Stat.S_IFREG | 0644, 0);
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    private static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (i * 31 + 7);
        return b;
    }

    /** The value as getfattr (attr package) reads it. */
    private static byte[] getfattr(String path, String name) throws Exception {
        String out = TempTree.check("getfattr", "-h", "--absolute-names", "-e", "hex", "-n", name, path);
        String line = out.lines().filter(l -> l.startsWith(name + "=")).findFirst().orElseThrow();
        String hex = line.substring(name.length() + 1);
        return hex.startsWith("0x") ? HexFormat.of().parseHex(hex.substring(2)) : new byte[0];
    }

    @Test void trustedXattrRoundTripsAndMatchesGetfattr() throws Exception {
        Linux.lsetxattr(f, "trusted.overlay.opaque", new byte[] {'y'}, 0);
        assertArrayEquals(new byte[] {'y'}, Linux.lgetxattr(f, "trusted.overlay.opaque"));
        assertArrayEquals(new byte[] {'y'}, getfattr(f, "trusted.overlay.opaque"));
        TempTree.check("setfattr", "-h", "-n", "trusted.overlay.redirect", "-v", "0x2f612f62", f);
        assertArrayEquals("/a/b".getBytes(), Linux.lgetxattr(f, "trusted.overlay.redirect"));
        assertEquals(List.of("trusted.overlay.opaque", "trusted.overlay.redirect"),
                Linux.llistxattr(f).stream().sorted().toList());
    }

    /**
     * listxattrat (Linux 6.13, relative to a directory fd; the lookups of a READDIRPLUS batch use it) lists what
     * llistxattr lists, an empty list included, and does not follow a final symlink; a missing name is ENOENT. On a
     * kernel without it the answer is null (the caller asks by path): this machine's kernel has it.
     */
    @Test void listxattratListsWhatLlistxattrLists() throws Exception {
        Linux.lsetxattr(f, "trusted.overlay.whiteout", new byte[] {'y'}, 0);
        Linux.lsetxattr(f, "user.k", pattern(2000), 0);
        Linux.mknod(t.path("plain"), Stat.S_IFREG | 0644, 0);
        Linux.symlink("f", t.path("link"));
        int dir = Linux.open(t.root, Linux.O_PATH | Linux.O_DIRECTORY, 0);
        try {
            for (String n : List.of("f", "plain", "link")) {
                assertEquals(Linux.llistxattr(t.path(n)).stream().sorted().toList(),
                        Linux.llistxattratOrNull(dir, n).stream().sorted().toList(), n);
            }
            assertEquals(List.of(), Linux.llistxattratOrNull(dir, "link"), "the link's own, none");
            assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class,
                    () -> Linux.llistxattratOrNull(dir, "missing")).errno());
        } finally {
            Linux.close(dir);
        }
    }

    @Test void valuesOfEverySizeReadBack() throws Exception {
        // one file per size: all values of a file share one 4 KiB ext4 block
        for (int n : new int[] {0, 1, 255, 256, 257, 1000, 4000}) {
            String g = t.path("v" + n);
            Linux.mknod(g, Stat.S_IFREG | 0644, 0);
            byte[] v = pattern(n);
            Linux.lsetxattr(g, "user.v", v, 0);
            assertArrayEquals(v, Linux.lgetxattr(g, "user.v"), "size " + n);
            assertArrayEquals(v, Linux.lgetxattrOrNull(g, "user.v"), "size " + n);
            assertArrayEquals(v, getfattr(g, "user.v"), "size " + n);
            int fd = Linux.open(g, Linux.O_RDONLY, 0);
            try {
                assertArrayEquals(v, Linux.fgetxattr(fd, "user.v"), "size " + n);
            } finally {
                Linux.close(fd);
            }
        }
    }

    @Test void limitedReadGivesErangeForLongerValues() throws Exception {
        Linux.lsetxattr(f, "trusted.overlay.opaque", "yy".getBytes(), 0);
        assertEquals(Errno.ERANGE, assertThrows(ErrnoException.class,
                () -> Linux.lgetxattrLimited(f, "trusted.overlay.opaque", 1)).errno());
        assertArrayEquals("yy".getBytes(), Linux.lgetxattrLimited(f, "trusted.overlay.opaque", 2));
        assertArrayEquals("yy".getBytes(), Linux.lgetxattrLimited(f, "trusted.overlay.opaque", 300));
        // max 0: the kernel would report the length; we report ERANGE for a non-empty value
        assertEquals(Errno.ERANGE, assertThrows(ErrnoException.class,
                () -> Linux.lgetxattrLimited(f, "trusted.overlay.opaque", 0)).errno());
        Linux.lsetxattr(f, "user.empty", new byte[0], 0);
        assertArrayEquals(new byte[0], Linux.lgetxattrLimited(f, "user.empty", 0));
        assertEquals(Errno.ENODATA, assertThrows(ErrnoException.class,
                () -> Linux.lgetxattrLimited(f, "user.none", 1)).errno());
    }

    @Test void absentAttributesAndFlags() throws Exception {
        assertEquals(Errno.ENODATA, assertThrows(ErrnoException.class,
                () -> Linux.lgetxattr(f, "trusted.overlay.none")).errno());
        assertNull(Linux.lgetxattrOrNull(f, "trusted.overlay.none"));
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class,
                () -> Linux.lgetxattrOrNull(t.path("missing"), "user.x")).errno());
        assertEquals(List.of(), Linux.llistxattr(f));

        assertEquals(Errno.ENODATA, assertThrows(ErrnoException.class,
                () -> Linux.lsetxattr(f, "user.a", "1".getBytes(), Linux.XATTR_REPLACE)).errno());
        Linux.lsetxattr(f, "user.a", "1".getBytes(), Linux.XATTR_CREATE);
        assertEquals(Errno.EEXIST, assertThrows(ErrnoException.class,
                () -> Linux.lsetxattr(f, "user.a", "2".getBytes(), Linux.XATTR_CREATE)).errno());
        Linux.lsetxattr(f, "user.a", "3".getBytes(), Linux.XATTR_REPLACE);
        assertArrayEquals("3".getBytes(), Linux.lgetxattr(f, "user.a"));

        Linux.lremovexattr(f, "user.a");
        assertNull(Linux.lgetxattrOrNull(f, "user.a"));
        assertEquals(Errno.ENODATA, assertThrows(ErrnoException.class,
                () -> Linux.lremovexattr(f, "user.a")).errno());
        assertEquals(Errno.EOPNOTSUPP, assertThrows(ErrnoException.class,
                () -> Linux.lsetxattr(f, "bogus.a", "1".getBytes(), 0)).errno());
    }

    @Test void lFunctionsActOnTheSymlinkItself() throws Exception {
        Linux.symlink("f", t.path("l"));
        Linux.lsetxattr(t.path("l"), "trusted.overlay.origin", pattern(20), 0);
        assertArrayEquals(pattern(20), Linux.lgetxattr(t.path("l"), "trusted.overlay.origin"));
        assertNull(Linux.lgetxattrOrNull(f, "trusted.overlay.origin"));
        assertEquals(List.of("trusted.overlay.origin"), Linux.llistxattr(t.path("l")));
        // user.* is not allowed on symlinks
        assertEquals(Errno.EPERM, assertThrows(ErrnoException.class,
                () -> Linux.lsetxattr(t.path("l"), "user.x", "1".getBytes(), 0)).errno());
        Linux.lremovexattr(t.path("l"), "trusted.overlay.origin");
        assertEquals(List.of(), Linux.llistxattr(t.path("l")));
    }

    @Test void manyNamesListCompletely() throws Exception {
        // more names than the first 1 KiB list buffer holds
        List<String> want = new java.util.ArrayList<>();
        for (int i = 0; i < 60; i++) {
            String n = "user.a-rather-long-attribute-name-number-" + i;
            Linux.lsetxattr(f, n, new byte[] {1}, 0);
            want.add(n);
        }
        assertEquals(want.stream().sorted().toList(), Linux.llistxattr(f).stream().sorted().toList());
        String getfattr = TempTree.check("getfattr", "--absolute-names", "-d", "-m", "-", f);
        assertEquals(60, getfattr.lines().filter(l -> l.startsWith("user.a-rather")).count());
    }

    @Test void fdVariants() throws Exception {
        int fd = Linux.open(f, Linux.O_RDWR, 0);
        try {
            byte[] big = pattern(3000);
            Linux.fsetxattr(fd, "trusted.overlay.metacopy", big, 0);
            assertArrayEquals(big, Linux.fgetxattr(fd, "trusted.overlay.metacopy"));
            assertArrayEquals(big, Linux.lgetxattr(f, "trusted.overlay.metacopy"));
            Linux.fsetxattr(fd, "user.small", "s".getBytes(), Linux.XATTR_CREATE);
            assertEquals(List.of("trusted.overlay.metacopy", "user.small"),
                    Linux.flistxattr(fd).stream().sorted().toList());
            assertEquals(Errno.EEXIST, assertThrows(ErrnoException.class,
                    () -> Linux.fsetxattr(fd, "user.small", "s".getBytes(), Linux.XATTR_CREATE)).errno());
            Linux.fremovexattr(fd, "user.small");
            assertEquals(Errno.ENODATA, assertThrows(ErrnoException.class,
                    () -> Linux.fgetxattr(fd, "user.small")).errno());
            assertEquals(Errno.ENODATA, assertThrows(ErrnoException.class,
                    () -> Linux.fremovexattr(fd, "user.small")).errno());
            assertEquals(List.of("trusted.overlay.metacopy"), Linux.flistxattr(fd));
        } finally {
            Linux.close(fd);
        }
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> Linux.flistxattr(fd)).errno());
    }

    @Test void nonUtf8ValuesAndNamesRoundTrip() throws Exception {
        String name = "trusted.\u00ff\u00fe";
        byte[] v = new byte[256];
        for (int i = 0; i < 256; i++) v[i] = (byte) i;
        Linux.lsetxattr(f, name, v, 0);
        assertArrayEquals(v, Linux.lgetxattr(f, name));
        assertTrue(Linux.llistxattr(f).contains(name));
        assertTrue(Arrays.equals(v, Linux.lgetxattrOrNull(f, name)));
    }
}
