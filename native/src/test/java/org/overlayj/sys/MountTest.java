package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** statfs against python's os.statvfs and stat -f; mount(2)/umount2(2) of a tmpfs (needs root). */
class MountTest {
    private static final long TMPFS_MAGIC = 0x01021994L, EXT4_MAGIC = 0xEF53L;
    private TempTree t;
    private String mnt;
    private boolean mounted;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
        mnt = t.path("mnt");
        Linux.mkdir(mnt, 0755);
    }

    @AfterEach void tearDown() throws Exception {
        try {
            if (mounted) Linux.umount(mnt, Linux.MNT_DETACH);
        } finally {
            t.close();
        }
    }

    private static boolean isMountPoint(String p) throws Exception {
        return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().anyMatch(l -> l.split(" ")[4].equals(p));
    }

    @Test void statfsMatchesStatvfs() throws Exception {
        StatFs fs = Linux.statfs(t.root);
        assertEquals(EXT4_MAGIC, fs.type());
        String py = TempTree.py("s = os.statvfs(P)\nprint(s.f_bsize, s.f_frsize, s.f_blocks, s.f_files, s.f_namemax)",
                t.root);
        assertEquals(fs.bsize() + " " + fs.frsize() + " " + fs.blocks() + " " + fs.files() + " " + fs.namelen(), py);
        // the fsid, as stat -f prints it: coreutils puts the first of the two 32-bit words high
        String fsid = TempTree.check("stat", "-f", "-c", "%i", t.root);
        long want = Long.parseUnsignedLong(fsid, 16);
        assertEquals(want, (Integer.toUnsignedLong(fs.fsid0()) << 32) | Integer.toUnsignedLong(fs.fsid1()));
        assertFalse(fs.readOnly());
        assertTrue(fs.bfree() >= fs.bavail());
        int fd = Linux.open(t.root, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            StatFs f2 = Linux.fstatfs(fd);
            assertEquals(fs.type(), f2.type());
            assertEquals(fs.blocks(), f2.blocks());
            assertEquals(fs.fsid0(), f2.fsid0());
        } finally {
            Linux.close(fd);
        }
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Linux.statfs(t.path("x"))).errno());
    }

    @Test void tmpfsMountsAndUnmounts() throws Exception {
        Linux.mount("overlayj-tmpfs", mnt, "tmpfs", Linux.MS_NOSUID | Linux.MS_NODEV, "size=4m,mode=0710");
        mounted = true;
        assertTrue(isMountPoint(mnt));
        StatFs fs = Linux.statfs(mnt);
        assertEquals(TMPFS_MAGIC, fs.type());
        assertEquals(4L << 20, fs.blocks() * fs.bsize());
        assertEquals(0710, Linux.lstat(mnt).perm());
        assertEquals("tmpfs", TempTree.check("stat", "-f", "-c", "%T", mnt));
        Linux.mknod(mnt + "/f", Stat.S_IFREG | 0644, 0);
        assertEquals(Errno.EBUSY, assertThrows(ErrnoException.class, () -> {
            int fd = Linux.open(mnt + "/f", Linux.O_RDONLY, 0);
            try {
                Linux.umount(mnt, 0);
            } finally {
                Linux.close(fd);
            }
        }).errno());
        // remount read-only: null source and type are allowed there
        Linux.mount(null, mnt, null, 32 /* MS_REMOUNT */ | Linux.MS_RDONLY, null);
        assertTrue(Linux.statfs(mnt).readOnly());
        assertEquals(Errno.EROFS, assertThrows(ErrnoException.class,
                () -> Linux.mknod(mnt + "/g", Stat.S_IFREG | 0644, 0)).errno());
        Linux.umount(mnt, 0);
        mounted = false;
        assertFalse(isMountPoint(mnt));
        assertEquals(EXT4_MAGIC, Linux.statfs(mnt).type());
        assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class, () -> Linux.umount(mnt, 0)).errno());
        assertEquals(Errno.ENODEV, assertThrows(ErrnoException.class,
                () -> Linux.mount("x", mnt, "no-such-fs-type", 0, null)).errno());
    }
}
