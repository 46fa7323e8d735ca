package org.overlayj.fuse;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Notification messages as linux/fuse.h lays them out: an out header with unique 0 and the notify code as error. */
class FuseNotifyCodecTest {
    @Test
    void invalInodeIsHeaderAndThreeWords() {
        ByteBuffer b = ByteBuffer.wrap(FuseCodec.invalInode(42, -1, 0)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(16 + 24, b.remaining());
        assertEquals(40, b.getInt());           // len
        assertEquals(2, b.getInt());            // FUSE_NOTIFY_INVAL_INODE
        assertEquals(0, b.getLong());           // unique
        assertEquals(42, b.getLong());          // ino
        assertEquals(-1, b.getLong());          // off: attributes only
        assertEquals(0, b.getLong());           // len
    }

    @Test
    void invalEntryCarriesTheNameWithItsNul() {
        String name = "caf\u00c3\u00a9";            // a byte string: UTF-8 "café" as one char per byte
        ByteBuffer b = ByteBuffer.wrap(FuseCodec.invalEntry(7, name)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(16 + 16 + name.length() + 1, b.remaining());
        assertEquals(b.remaining(), b.getInt());
        assertEquals(3, b.getInt());            // FUSE_NOTIFY_INVAL_ENTRY
        assertEquals(0, b.getLong());
        assertEquals(7, b.getLong());           // parent
        assertEquals(name.length(), b.getInt()); // namelen, without the NUL
        assertEquals(0, b.getInt());            // flags
        for (int i = 0; i < name.length(); i++) assertEquals((byte) name.charAt(i), b.get());
        assertEquals(0, b.get());
    }
}
