package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.xdr.Xdr;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** A call's Xdr with its reply's room reserved encodes the same bytes, into the one buffer it reserved. */
class ReplyXdrTest {
    @Test void aReservedReplyEncodesTheSameBytesWithoutGrowing() throws Exception {
        byte[] call = new byte[100];
        for (int i = 0; i < call.length; i++) call[i] = (byte) i;
        ReplyXdr x = new ReplyXdr(call.clone());
        x.beginDecoding();
        assertEquals(0x00010203, x.xdrDecodeInt());         // the call's arguments, read first
        x.reserve(9000);
        int reserved = x.capacity();
        assertTrue(reserved >= 9000);
        Xdr plain = new Xdr(call.clone());
        for (Xdr out : new Xdr[]{x, plain}) {
            out.beginEncoding();
            for (int i = 0; i < 2000; i++) out.xdrEncodeInt(i * 31);      // 8,000 bytes
            out.xdrEncodeDynamicOpaque(new byte[]{1, 2, 3});
            out.endEncoding();
        }
        assertArrayEquals(plain.getBytes(), x.getBytes());
        assertEquals(reserved, x.capacity(), "no growth past what was reserved");
        x.reserve(100);
        assertEquals(reserved, x.capacity(), "a smaller reservation changes nothing");
    }
}
