package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** mknod, whiteouts, mkdir, symlink/readlink, link, linkFd, unlink, rmdir, renameat2 and their errnos. */
class NamespaceTest {
    private TempTree t;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    private static int errno(Executable e) {
        return assertThrows(ErrnoException.class, e::run).errno();
    }

    interface Executable {
        void run() throws Exception;
    }

    private void touch(String p) throws ErrnoException {
        Linux.mknod(p, Stat.S_IFREG | 0644, 0);
    }

    @Test void mknodMakesRegularFilesFifosAndDevices() throws Exception {
        touch(t.path("reg"));
        Linux.mknod(t.path("fifo"), Stat.S_IFIFO | 0600, 0);
        Linux.mknod(t.path("chr"), Stat.S_IFCHR | 0600, Linux.makedev(1, 3));
        assertEquals("regular empty file 644", TempTree.check("stat", "-c", "%F %a", t.path("reg")));
        assertEquals("fifo 600", TempTree.check("stat", "-c", "%F %a", t.path("fifo")));
        // stat prints device numbers in hex
        assertEquals("character special file 1 3", TempTree.check("stat", "-c", "%F %t %T", t.path("chr")));
        Stat c = Linux.lstat(t.path("chr"));
        assertEquals(1, c.rdevMajor());
        assertEquals(3, c.rdevMinor());
        assertEquals(Linux.makedev(1, 3), c.rdev());
        assertEquals(Errno.EEXIST, errno(() -> touch(t.path("reg"))));
        assertEquals(Errno.ENOENT, errno(() -> touch(t.path("missing/reg"))));
    }

    @Test void whiteoutIsA00CharDevice() throws Exception {
        Linux.mkwhiteout(t.path("wh"));
        Stat s = Linux.lstat(t.path("wh"));
        assertTrue(s.isChr());
        assertTrue(s.isWhiteout());
        assertEquals("character special file 0 0", TempTree.check("stat", "-c", "%F %t %T", t.path("wh")));
        Linux.mknod(t.path("null"), Stat.S_IFCHR | 0666, Linux.makedev(1, 3));
        assertTrue(!Linux.lstat(t.path("null")).isWhiteout());
        touch(t.path("reg"));
        assertTrue(!Linux.lstat(t.path("reg")).isWhiteout());
    }

    @Test void mkdirRmdirAndTheirErrors() throws Exception {
        Linux.mkdir(t.path("d"), 0750);
        Stat s = Linux.lstat(t.path("d"));
        assertTrue(s.isDir());
        assertEquals("directory", TempTree.check("stat", "-c", "%F", t.path("d")));
        assertEquals(Errno.EEXIST, errno(() -> Linux.mkdir(t.path("d"), 0755)));
        touch(t.path("d/f"));
        assertEquals(Errno.ENOTEMPTY, errno(() -> Linux.rmdir(t.path("d"))));
        assertEquals(Errno.ENOTDIR, errno(() -> Linux.rmdir(t.path("d/f"))));
        assertEquals(Errno.EISDIR, errno(() -> Linux.unlink(t.path("d"))));
        Linux.unlink(t.path("d/f"));
        Linux.rmdir(t.path("d"));
        assertNull(Linux.lstatOrNull(t.path("d")));
        assertEquals(Errno.ENOENT, errno(() -> Linux.rmdir(t.path("d"))));
        assertEquals(Errno.ENOENT, errno(() -> Linux.unlink(t.path("d"))));
    }

    @Test void symlinkAndReadlinkKeepArbitraryBytes() throws Exception {
        String target = "../some where/\u00ff\u0080\u00e9-not-utf8";
        Linux.symlink(target, t.path("l"));
        assertEquals(target, Linux.readlink(t.path("l")));
        assertTrue(Linux.lstat(t.path("l")).isLink());
        assertEquals(target.length(), Linux.lstat(t.path("l")).size());
        String viaPython = TempTree.py("print(os.readlink(P).hex())", t.path("l"));
        assertArrayEquals(Linux.bytesOf(target), java.util.HexFormat.of().parseHex(viaPython));
        assertEquals(Errno.EEXIST, errno(() -> Linux.symlink("x", t.path("l"))));
        touch(t.path("f"));
        assertEquals(Errno.EINVAL, errno(() -> Linux.readlink(t.path("f"))));
        // The longest target Linux stores (4095 bytes) reads back whole.
        String longTarget = "a/".repeat(2047) + "b";
        Linux.symlink(longTarget, t.path("long"));
        assertEquals(longTarget, Linux.readlink(t.path("long")));
    }

    @Test void hardLinkSharesTheInode() throws Exception {
        touch(t.path("a"));
        Linux.link(t.path("a"), t.path("b"));
        Stat a = Linux.lstat(t.path("a")), b = Linux.lstat(t.path("b"));
        assertEquals(a.ino(), b.ino());
        assertEquals(2, a.nlink());
        assertEquals(Errno.EEXIST, errno(() -> Linux.link(t.path("a"), t.path("b"))));
        assertEquals(Errno.ENOENT, errno(() -> Linux.link(t.path("nope"), t.path("c"))));
        // linkat without AT_SYMLINK_FOLLOW links the symlink itself
        Linux.symlink("a", t.path("sl"));
        Linux.link(t.path("sl"), t.path("sl2"));
        assertTrue(Linux.lstat(t.path("sl2")).isLink());
    }

    @Test void tmpfileIsNamedByLinkFd() throws Exception {
        Linux.mkdir(t.path("work"), 0700);
        int fd = Linux.openTmpfile(t.path("work"), 0640);
        try {
            byte[] data = "tmpfile body".getBytes();
            Linux.pwrite(fd, data, 0, data.length, 0);
            assertEquals(0, Linux.fstat(fd).nlink());
            assertEquals(List.of(".", ".."), Linux.readdir(t.path("work")).stream().map(DirEnt::name).sorted().toList());
            Linux.linkFd(fd, t.path("named"));
            assertEquals(1, Linux.fstat(fd).nlink());
            assertEquals(Linux.fstat(fd).ino(), Linux.lstat(t.path("named")).ino());
            assertEquals(0640, Linux.lstat(t.path("named")).perm());
            assertEquals("tmpfile body", TempTree.check("cat", t.path("named")));
            assertEquals(Errno.EEXIST, errno(() -> Linux.linkFd(fd, t.path("named"))));
        } finally {
            Linux.close(fd);
        }
        // O_EXCL forbids ever naming the file
        int ex = Linux.open(t.path("work"), Linux.O_TMPFILE | Linux.O_RDWR | Linux.O_EXCL, 0600);
        try {
            assertEquals(Errno.ENOENT, errno(() -> Linux.linkFd(ex, t.path("never"))));
        } finally {
            Linux.close(ex);
        }
    }

    @Test void renameFlags() throws Exception {
        touch(t.path("a"));
        touch(t.path("b"));
        long inoA = Linux.lstat(t.path("a")).ino(), inoB = Linux.lstat(t.path("b")).ino();

        assertEquals(Errno.EEXIST, errno(() -> Linux.rename(t.path("a"), t.path("b"), Linux.RENAME_NOREPLACE)));

        Linux.rename(t.path("a"), t.path("b"), Linux.RENAME_EXCHANGE);
        assertEquals(inoB, Linux.lstat(t.path("a")).ino());
        assertEquals(inoA, Linux.lstat(t.path("b")).ino());
        assertEquals(Errno.ENOENT, errno(() -> Linux.rename(t.path("a"), t.path("c"), Linux.RENAME_EXCHANGE)));

        Linux.rename(t.path("a"), t.path("c"), Linux.RENAME_NOREPLACE);
        assertNull(Linux.lstatOrNull(t.path("a")));
        assertEquals(inoB, Linux.lstat(t.path("c")).ino());

        // RENAME_WHITEOUT leaves a 0/0 char device where the source was
        Linux.rename(t.path("c"), t.path("d"), Linux.RENAME_WHITEOUT);
        assertTrue(Linux.lstat(t.path("c")).isWhiteout());
        assertEquals("character special file 0 0", TempTree.check("stat", "-c", "%F %t %T", t.path("c")));
        assertEquals(inoB, Linux.lstat(t.path("d")).ino());

        // plain rename replaces; a non-empty directory target refuses
        Linux.rename(t.path("d"), t.path("b"), 0);
        assertEquals(inoB, Linux.lstat(t.path("b")).ino());
        Linux.mkdir(t.path("dir"), 0755);
        Linux.mkdir(t.path("full"), 0755);
        touch(t.path("full/x"));
        assertEquals(Errno.ENOTEMPTY, errno(() -> Linux.rename(t.path("dir"), t.path("full"), 0)));
        assertEquals(Errno.EINVAL, errno(() -> Linux.rename(t.path("b"), t.path("e"),
                Linux.RENAME_EXCHANGE | Linux.RENAME_NOREPLACE)));
    }

    @Test void nonUtf8NamesRoundTrip() throws Exception {
        // bytes 0x80..0xff that are not valid UTF-8 on their own, plus a newline and a backslash
        String name = "n\u00ff\u00fe\u0080\u00c3(\n\\";
        touch(t.path(name));
        Linux.mkdir(t.path("dir\u00e9\u00ff"), 0755);
        int fd = Linux.open(t.path("dir\u00e9\u00ff/f\u0081"), Linux.O_CREAT | Linux.O_WRONLY | Linux.O_EXCL, 0600);
        Linux.close(fd);
        List<String> names = Linux.readdir(t.root).stream().map(DirEnt::name).filter(n -> !n.startsWith("."))
                .sorted().toList();
        assertEquals(List.of("dir\u00e9\u00ff", name).stream().sorted().toList(), names);
        assertEquals(List.of("f\u0081"), Linux.readdir(t.path("dir\u00e9\u00ff")).stream().map(DirEnt::name)
                .filter(n -> !n.startsWith(".")).toList());
        // python sees exactly those bytes
        String hex = TempTree.py("print(' '.join(sorted(n.hex() for n in os.listdir(P))))", t.root);
        assertEquals(names.stream().map(n -> java.util.HexFormat.of().formatHex(Linux.bytesOf(n))).sorted()
                .reduce((x, y) -> x + " " + y).orElseThrow(), hex);
        assertTrue(Linux.lstat(t.path(name)).isReg());
        Linux.unlink(t.path(name));
        assertNull(Linux.lstatOrNull(t.path(name)));
    }

    @Test void namesThatAreNotByteStringsAreRefused() {
        assertEquals(Errno.EINVAL, errno(() -> Linux.lstat(t.path("a\0b"))));
        assertEquals(Errno.EINVAL, errno(() -> Linux.mkdir(t.path("\u20ac"), 0755)));
        assertNull(assertThrows(ErrnoException.class, () -> Linux.lstat(t.path("\u0100"))).getCause());
    }

    @Test void lstatOrNullDistinguishesAbsence() throws Exception {
        assertNull(Linux.lstatOrNull(t.path("none")));
        touch(t.path("f"));
        assertNull(Linux.lstatOrNull(t.path("f/under")));     // ENOTDIR
        assertEquals(Errno.ENOENT, errno(() -> Linux.lstat(t.path("none"))));
        assertEquals(Errno.ENOTDIR, errno(() -> Linux.lstat(t.path("f/under"))));
        assertEquals(Errno.ENAMETOOLONG, errno(() -> Linux.lstatOrNull(t.path("x".repeat(300)))));
    }
}
