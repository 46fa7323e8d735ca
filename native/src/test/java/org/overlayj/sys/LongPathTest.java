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

/**
 * Every path-taking call works on paths of PATH_MAX bytes or more (20 nested 250-byte names: about 5 KB), as the
 * kernel does when the same tree is walked one directory at a time; python3, walking with chdir, is the witness.
 */
class LongPathTest {
    private static final String NAME = "d".repeat(250);
    private static final int DEPTH = 20;
    private TempTree t;
    private String deep;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
        String p = t.root;
        for (int i = 0; i < DEPTH; i++) {
            p += "/" + NAME;
            Linux.mkdir(p, 0755);
        }
        deep = p;
        assertTrue(deep.length() > Linux.PATH_MAX + 500, "deep enough: " + deep.length());
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    private static int errno(NamespaceTest.Executable e) {
        return assertThrows(ErrnoException.class, e::run).errno();
    }

    /** Runs python code in the deepest directory (reached by chdir, one level at a time) and returns its output. */
    private String pyDeep(String code) throws Exception {
        return TempTree.py("os.chdir(P)\nfor i in range(" + DEPTH + "): os.chdir(b'" + NAME + "')\n" + code, t.root);
    }

    @Test void namespaceCallsWorkAtAnyDepth() throws Exception {
        Linux.mknod(deep + "/f", Stat.S_IFREG | 0640, 0);
        Linux.mknod(deep + "/fifo", Stat.S_IFIFO | 0600, 0);
        Linux.mkwhiteout(deep + "/wh");
        Linux.symlink("f", deep + "/sl");
        Linux.link(deep + "/f", deep + "/hard");
        Linux.mkdir(deep + "/sub", 0700);
        assertEquals("f", Linux.readlink(deep + "/sl"));
        assertEquals(List.of(".", "..", "f", "fifo", "hard", "sl", "sub", "wh"),
                Linux.readdir(deep).stream().map(DirEnt::name).sorted().toList());
        assertEquals("f 33184 2|fifo 4480 1|hard 33184 2|sl f|sub 16832 2|wh 8192 0", pyDeep("""
                out = []
                for n in sorted(os.listdir('.')):
                    st = os.lstat(n)
                    out.append(n + ' ' + (os.readlink(n) if os.path.islink(n) else '%d %d' % (st.st_mode, st.st_nlink if n != 'wh' else st.st_rdev)))
                print('|'.join(out))
                """));
        // one side long, then both
        Linux.rename(deep + "/hard", t.path("shallow"), 0);
        Linux.rename(t.path("shallow"), deep + "/hard2", 0);
        Linux.rename(deep + "/hard2", deep + "/sub/hard3", Linux.RENAME_NOREPLACE);
        assertEquals(Errno.EEXIST, errno(() -> Linux.rename(deep + "/sub/hard3", deep + "/f",
                Linux.RENAME_NOREPLACE)));
        Linux.rename(deep + "/f", deep + "/sub/hard3", Linux.RENAME_EXCHANGE);
        Linux.unlink(deep + "/sub/hard3");
        Linux.unlink(deep + "/wh");
        Linux.rmdir(deep + "/sub");
        assertEquals("f|fifo|sl", pyDeep("print('|'.join(sorted(os.listdir('.'))))"));
        assertEquals(Errno.ENOENT, errno(() -> Linux.unlink(deep + "/nothing")));
        assertEquals(Errno.EEXIST, errno(() -> Linux.mkdir(deep, 0755)));
    }

    @Test void filesAttributesAndXattrsWorkAtAnyDepth() throws Exception {
        String f = deep + "/f";
        int fd = Linux.open(f, Linux.O_CREAT | Linux.O_RDWR | Linux.O_EXCL, 0644);
        try {
            byte[] data = "hello, deep".getBytes();
            Linux.pwrite(fd, data, 0, data.length, 0);
        } finally {
            Linux.close(fd);
        }
        Linux.truncate(f, 5);
        Linux.chmod(f, 0600);
        Linux.lchown(f, 123, 456);
        Linux.utimens(f, 1000, 5, 2000, 7, true);
        Stat st = Linux.lstat(f);
        assertEquals(5, st.size());
        assertEquals(0600, st.mode() & 07777);
        assertEquals(123, st.uid());
        assertEquals(456, st.gid());
        assertEquals(2000, st.mtimeSec());
        assertEquals(st.ino(), Linux.stat(f).ino());
        assertEquals("b'hello' 600 123 456 2000 7", pyDeep("""
                st = os.lstat('f')
                print(open('f', 'rb').read(), '%o' % (st.st_mode & 0o7777), st.st_uid, st.st_gid,
                      st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9)
                """));

        Linux.lsetxattr(f, "user.k", "v".getBytes(), 0);
        Linux.lsetxattr(f, "trusted.overlay.origin", new byte[300], 0);
        assertArrayEquals("v".getBytes(), Linux.lgetxattr(f, "user.k"));
        assertArrayEquals("v".getBytes(), Linux.lgetxattrOrNull(f, "user.k"));
        assertArrayEquals("v".getBytes(), Linux.lgetxattrLimited(f, "user.k", 1));
        assertArrayEquals(new byte[300], Linux.lgetxattr(f, "trusted.overlay.origin"));
        assertNull(Linux.lgetxattrOrNull(f, "user.none"));
        assertEquals(List.of("trusted.overlay.origin", "user.k"), Linux.llistxattr(f).stream().sorted().toList());
        Linux.lremovexattr(f, "user.k");
        assertEquals("['trusted.overlay.origin']", pyDeep("print(sorted(os.listxattr('f')))"));
        // A symlink's own xattrs, not its target's: the /proc link names the symlink, as lsetxattr would
        Linux.symlink("f", deep + "/sl");
        Linux.lsetxattr(deep + "/sl", "trusted.overlay.opaque", "y".getBytes(), 0);
        assertEquals("b'y' []", pyDeep("print(os.getxattr('sl', 'trusted.overlay.opaque', follow_symlinks=False),"
                + " [n for n in os.listxattr('f') if n.endswith('opaque')])"));
        Linux.utimens(deep + "/sl", 10, 0, 20, 0, true);
        assertEquals(20, Linux.lstat(deep + "/sl").mtimeSec());
        assertEquals(2000, Linux.stat(deep + "/sl").mtimeSec());

        FileHandle h = Linux.nameToHandle(f, 0);
        int root = Linux.open(t.root, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            int byHandle = Linux.openByHandle(root, h, Linux.O_PATH);
            try {
                assertEquals(st.ino(), Linux.fstat(byHandle).ino());
            } finally {
                Linux.close(byHandle);
            }
        } finally {
            Linux.close(root);
        }
        assertEquals(Linux.statfs(t.root).type(), Linux.statfs(f).type());
    }

    @Test void tmpfileLinksAndRelativeCallsWorkAtAnyDepth() throws Exception {
        int tmp = Linux.openTmpfile(deep, 0644);
        try {
            Linux.linkFd(tmp, deep + "/named");
        } finally {
            Linux.close(tmp);
        }
        assertTrue(Linux.lstat(deep + "/named").isReg());
        int root = Linux.open(t.root, Linux.O_PATH | Linux.O_DIRECTORY, 0);
        try {
            String rel = deep.substring(t.root.length() + 1);
            assertTrue(rel.length() >= Linux.PATH_MAX);
            Linux.mkdirat(root, rel + "/x", 0755);
            Linux.renameat(root, rel + "/x", root, rel + "/y", 0);
            assertTrue(Linux.lstatat(root, rel + "/y").isDir());
            Linux.unlinkat(root, rel + "/y", Linux.AT_REMOVEDIR);
            Linux.symlinkat("named", root, rel + "/s");
            assertEquals("named", Linux.readlinkat(root, rel + "/s"));
            Linux.linkat(root, rel + "/s", root, rel + "/s2", Linux.AT_SYMLINK_FOLLOW);
            assertTrue(Linux.lstat(deep + "/s2").isReg());
            int fd = Linux.openat(root, rel, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
            try {
                assertEquals(deep, Linux.fdPath(fd)); // the kernel's /proc link is ENAMETOOLONG: found through ".."
            } finally {
                Linux.close(fd);
            }
            // a non-directory has no "..": its name is the kernel's alone
            int file = Linux.open(deep + "/named", Linux.O_PATH, 0);
            try {
                assertEquals(Errno.ENAMETOOLONG, errno(() -> Linux.fdPath(file)));
                assertEquals("/", Linux.fdPathOrRoot(file));
            } finally {
                Linux.close(file);
            }
        } finally {
            Linux.close(root);
        }
        assertEquals("named|s|s2", pyDeep("print('|'.join(sorted(os.listdir('.'))))"));
    }

    @Test void symlinksAndDotDotInsideALongPathMeanWhatTheKernelMakesOfThem() throws Exception {
        // a symlink in the middle of the path is followed, as the kernel follows it in any path
        Linux.symlink(NAME + "/" + NAME, t.path("two"));
        String viaLink = t.path("two") + "/" + deep.substring(t.root.length() + 1 + 2 * (NAME.length() + 1));
        assertTrue(viaLink.length() >= Linux.PATH_MAX);
        Linux.mknod(viaLink + "/viaLink", Stat.S_IFREG | 0644, 0);
        assertTrue(Linux.lstat(deep + "/viaLink").isReg());
        String viaDots = deep + "/../" + NAME + "/./viaLink";
        assertEquals(Linux.lstat(deep + "/viaLink").ino(), Linux.lstat(viaDots).ino());
        // a trailing slash still asks for a directory
        assertEquals(Errno.ENOTDIR, errno(() -> Linux.lstat(deep + "/viaLink/")));
        assertTrue(Linux.lstat(deep + "/").isDir());
    }

    @Test void absenceAndOverlongNamesGiveTheKernelsErrnos() throws Exception {
        assertNull(Linux.lstatOrNull(deep + "/missing"));
        // a missing directory early in the path: the walk itself meets the ENOENT
        assertNull(Linux.lstatOrNull(t.path("missing/") + deep.substring(t.root.length() + 1)));
        Linux.mknod(deep + "/file", Stat.S_IFREG | 0644, 0);
        assertNull(Linux.lstatOrNull(deep + "/file/x"));
        assertEquals(Errno.ENOENT, errno(() -> Linux.lstat(t.path("missing/") + deep.substring(t.root.length()))));
        // a name longer than NAME_MAX is ENAMETOOLONG at any depth, as in the kernel
        assertEquals(Errno.ENAMETOOLONG, errno(() -> Linux.mkdir(deep + "/" + "n".repeat(256), 0755)));
        assertEquals(Errno.ENAMETOOLONG, errno(() -> Linux.mkdir(t.path("n".repeat(5000)), 0755)));
        // a symlink target is not a path walked here: PATH_MAX bytes or more stays ENAMETOOLONG
        assertEquals(Errno.ENAMETOOLONG, errno(() -> Linux.symlink("t".repeat(4096), deep + "/s")));
    }
}
