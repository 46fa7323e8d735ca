package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FICLONE on a reflink-capable XFS made on a loop device. Needs root, loop devices and mkfs.xfs: without them it
 * fails, it does not skip.
 */
class FicloneXfsTest {
    private static final long XFS_MAGIC = 0x58465342L;
    private TempTree t;
    private String loop;
    private String mnt;
    private boolean mounted;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
        String img = t.path("xfs.img");
        mnt = t.path("mnt");
        Linux.mkdir(mnt, 0755);
        Linux.mknod(img, Stat.S_IFREG | 0600, 0);
        Linux.truncate(img, 300L << 20);                   // sparse; mkfs.xfs wants at least 300 MiB
        TempTree.check("mkfs.xfs", "-q", "-m", "reflink=1", img);
        loop = TempTree.check("losetup", "--find", "--show", img);
        Linux.mount(loop, mnt, "xfs", 0, null);
        mounted = true;
    }

    @AfterEach void tearDown() throws Exception {
        try {
            try {
                if (mounted) Linux.umount(mnt, 0);
            } finally {
                if (loop != null) TempTree.check("losetup", "-d", loop);
            }
        } finally {
            t.close();
        }
    }

    @Test void cloneSharesExtentsAndCopiesOnWrite() throws Exception {
        assertEquals(XFS_MAGIC, Linux.statfs(mnt).type());
        String src = mnt + "/src", dst = mnt + "/dst";
        byte[] data = new byte[1 << 20];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 7 + i / 4096);
        int in = Linux.open(src, Linux.O_CREAT | Linux.O_RDWR, 0644);
        int out = Linux.open(dst, Linux.O_CREAT | Linux.O_RDWR, 0644);
        try {
            assertEquals(data.length, Linux.pwrite(in, data, 0, data.length, 0));
            Linux.fsync(in);
            Linux.ficlone(out, in);
            assertEquals(data.length, Linux.fstat(out).size());
            Linux.fsync(out);
            // both files now point at the same, shared extents
            String frag = TempTree.check("filefrag", "-v", dst);
            assertTrue(frag.contains("shared"), frag);
            assertTrue(TempTree.check("filefrag", "-v", src).contains("shared"));
            String fiemap = TempTree.check("xfs_io", "-r", "-c", "fiemap -v", dst);
            assertTrue(fiemap.contains("0x2000") || fiemap.contains("0x2001"), fiemap); // FIEMAP_EXTENT_SHARED
            byte[] back = new byte[data.length];
            assertEquals(data.length, Linux.pread(out, back, 0, back.length, 0));
            assertArrayEquals(data, back);

            // writing the clone copies that block: the source keeps its bytes
            Linux.pwrite(out, new byte[] {1, 2, 3}, 0, 3, 4096);
            Linux.fsync(out);
            assertArrayEquals(data, Files.readAllBytes(Path.of(src)));
            byte[] changed = Files.readAllBytes(Path.of(dst));
            assertArrayEquals(new byte[] {1, 2, 3}, Arrays.copyOfRange(changed, 4096, 4099));
            assertArrayEquals(Arrays.copyOfRange(data, 8192, data.length), Arrays.copyOfRange(changed, 8192,
                    data.length));

            // a source on another filesystem cannot be cloned
            Linux.mknod(t.path("ext4file"), Stat.S_IFREG | 0644, 0);
            int other = Linux.open(t.path("ext4file"), Linux.O_RDONLY, 0);
            try {
                assertEquals(Errno.EXDEV, org.junit.jupiter.api.Assertions.assertThrows(ErrnoException.class,
                        () -> Linux.ficlone(out, other)).errno());
            } finally {
                Linux.close(other);
            }
        } finally {
            Linux.close(in);
            Linux.close(out);
        }
        assertFalse(Linux.lstat(src).ino() == Linux.lstat(dst).ino());
    }
}
