package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** name_to_handle_at / open_by_handle_at on ext4 (needs root: CAP_DAC_READ_SEARCH). */
class FileHandleTest {
    private TempTree t;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    @Test void ext4HandleIsInodeAndGeneration() throws Exception {
        String f = t.path("f");
        Linux.mknod(f, Stat.S_IFREG | 0644, 0);
        FileHandle h = Linux.nameToHandle(f, 0);
        assertEquals(1, h.type());                      // FILEID_INO32_GEN
        assertEquals(8, h.length());
        ByteBuffer b = ByteBuffer.wrap(h.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(Linux.lstat(f).ino(), Integer.toUnsignedLong(b.getInt(0)));
        // the second word is the inode generation, which lsattr -v prints
        String gen = TempTree.check("lsattr", "-v", f).strip().split("\\s+")[0];
        assertEquals(Long.parseLong(gen), Integer.toUnsignedLong(b.getInt(4)));
        assertEquals(h, Linux.nameToHandle(f, 0));
        assertEquals(h.hashCode(), Linux.nameToHandle(f, 0).hashCode());
        assertTrue(h.toString().contains("type=1"));
        // the record keeps its bytes to itself
        h.bytes()[0] ^= 1;
        assertEquals(Linux.nameToHandle(f, 0), h);
        // AT_HANDLE_FID asks for an identifier only: ext4 gives the same bytes
        assertEquals(h, Linux.nameToHandle(f, Linux.AT_HANDLE_FID));
    }

    @Test void handleOfASymlinkIsTheLinkItself() throws Exception {
        Linux.mknod(t.path("f"), Stat.S_IFREG | 0644, 0);
        Linux.symlink("f", t.path("l"));
        FileHandle l = Linux.nameToHandle(t.path("l"), 0);
        assertNotEquals(Linux.nameToHandle(t.path("f"), 0), l);
        int mnt = Linux.open(t.root, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            int fd = Linux.openByHandle(mnt, l, Linux.O_PATH);
            try {
                assertTrue(Linux.fstat(fd).isLink());
            } finally {
                Linux.close(fd);
            }
        } finally {
            Linux.close(mnt);
        }
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class,
                () -> Linux.nameToHandle(t.path("none"), 0)).errno());
    }

    @Test void openByHandleRoundTripAndEstaleAfterUnlink() throws Exception {
        String f = t.path("f");
        java.nio.file.Files.writeString(java.nio.file.Path.of(f), "handle data");
        Linux.mkdir(t.path("d"), 0755);
        FileHandle h = Linux.nameToHandle(f, 0);
        FileHandle hd = Linux.nameToHandle(t.path("d"), 0);
        int mnt = Linux.open(t.root, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            int fd = Linux.openByHandle(mnt, h, Linux.O_RDONLY);
            try {
                assertEquals(Linux.lstat(f).ino(), Linux.fstat(fd).ino());
                byte[] buf = new byte[64];
                int n = Linux.pread(fd, buf, 0, buf.length, 0);
                assertEquals("handle data", new String(buf, 0, n));
                // open_by_handle_at always closes on exec too
                assertEquals(f, Linux.fdPath(fd));
            } finally {
                Linux.close(fd);
            }
            int dfd = Linux.openByHandle(mnt, hd, Linux.O_RDONLY | Linux.O_DIRECTORY);
            try {
                assertTrue(Linux.fstat(dfd).isDir());
                assertEquals(t.path("d"), Linux.fdPath(dfd));
            } finally {
                Linux.close(dfd);
            }

            Linux.unlink(f);
            Linux.rmdir(t.path("d"));
            // ext4 evicts an unlinked inode at its last reference; the handle then finds nlink 0: ESTALE
            assertEquals(Errno.ESTALE, assertThrows(ErrnoException.class,
                    () -> Linux.openByHandle(mnt, h, Linux.O_RDONLY)).errno());
            assertEquals(Errno.ESTALE, assertThrows(ErrnoException.class,
                    () -> Linux.openByHandle(mnt, hd, Linux.O_RDONLY)).errno());
        } finally {
            Linux.close(mnt);
        }
    }
}
