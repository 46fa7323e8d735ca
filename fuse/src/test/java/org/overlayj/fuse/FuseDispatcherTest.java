package org.overlayj.fuse;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Errno;
import org.overlayj.sys.Linux;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The codec with no kernel: requests built by hand, replies read field by field (linux/fuse.h layouts). */
class FuseDispatcherTest {
    private final MemFs fs = new MemFs();
    private FuseDispatcher d = new FuseDispatcher(fs);
    private long unique = 100;

    private ByteBuffer request(int opcode, long nodeid, byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(40 + body.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(40 + body.length).putInt(opcode).putLong(++unique).putLong(nodeid).putInt(1000).putInt(1000)
                .putInt(4242).putShort((short) 0).putShort((short) 0).put(body);
        return b.flip();
    }

    private static byte[] body(Object... parts) {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        for (Object p : parts) {
            switch (p) {
                case Integer i -> b.putInt(i);
                case Long l -> b.putLong(l);
                case String s -> b.put(Linux.bytesOf(s)).put((byte) 0);
                case byte[] a -> b.put(a);
                default -> throw new IllegalArgumentException();
            }
        }
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return out;
    }

    private ByteBuffer call(int opcode, long nodeid, Object... parts) {
        ByteBuffer r = d.dispatch(request(opcode, nodeid, body(parts)));
        if (r != null) {
            r.order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(r.remaining(), r.getInt(0), "out header len");
            assertEquals(unique, r.getLong(8), "out header unique");
        }
        return r;
    }

    private static int error(ByteBuffer r) { return -r.getInt(4); }

    private void init() {
        // major, minor, max_readahead, flags (with INIT_EXT), flags2, 11 unused
        ByteBuffer r = call(FuseOpcode.INIT, 0, 7, 41, 1 << 17, (int) (0xffffffffL), 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        assertEquals(16 + 64, r.remaining());
        assertEquals(0, error(r));
    }

    @Test void initNegotiatesOurFeaturesAndLimits() {
        ByteBuffer r = call(FuseOpcode.INIT, 0, 7, 41, 1 << 17, (int) (0xffffffffL), 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        r.position(16);
        assertEquals(7, r.getInt());
        assertEquals(40, r.getInt(), "minor: ours, the smaller");
        assertEquals(1 << 17, r.getInt(), "max_readahead: the kernel's");
        long flags = r.getInt() & 0xffffffffL;
        assertEquals(FuseInit.WANTED, flags);
        assertTrue((flags & FuseInit.WRITEBACK_CACHE) == 0, "no writeback cache: data is written through");
        r.getShort();
        r.getShort();
        assertEquals(1 << 20, r.getInt(), "max_write");
        assertEquals(1, r.getInt(), "time_gran");
        assertEquals(256, r.getShort(), "max_pages");
        assertEquals(40, fs.negotiated.minor());
    }

    /** flags2 of the reply (fuse_init_out at 16: major, minor, readahead, flags, 2+2, max_write, gran, 2+2, flags2). */
    private static long flags2(ByteBuffer r) { return r.getInt(16 + 32) & 0xffffffffL; }

    @Test void ioUringIsTakenOnlyWhenOfferedAndTheServerIsReady() {
        int offered = (int) (FuseInit.OVER_IO_URING >>> 32);
        int[] asked = {0};
        d.onUringOffer(() -> ++asked[0] > 0);
        ByteBuffer r = call(FuseOpcode.INIT, 0, 7, 41, 1 << 17, (int) (0xffffffffL), offered,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        assertEquals(1, asked[0]);
        assertEquals(offered, flags2(r), "taken");
        assertTrue(fs.negotiated.has(FuseInit.OVER_IO_URING));

        d = new FuseDispatcher(fs);
        d.onUringOffer(() -> false);                    // rings could not be made: declined
        r = call(FuseOpcode.INIT, 0, 7, 41, 1 << 17, (int) (0xffffffffL), offered, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0);
        assertEquals(0, flags2(r) & offered);

        d = new FuseDispatcher(fs);
        asked[0] = 0;
        d.onUringOffer(() -> ++asked[0] > 0);          // not offered (enable_uring off): not asked
        r = call(FuseOpcode.INIT, 0, 7, 41, 1 << 17, (int) (0xffffffffL), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0);
        assertEquals(0, asked[0]);
        assertEquals(0, flags2(r) & offered);
    }

    @Test void oldKernelIsRefused() {
        ByteBuffer r = call(FuseOpcode.INIT, 0, 7, 26, 1 << 17, 0);
        assertEquals(FuseDispatcher.EPROTO, error(r));
    }

    @Test void lookupReplyIsEntryOut() {
        init();
        call(FuseOpcode.MKDIR, 1, 0755, 0, "d");
        ByteBuffer r = call(FuseOpcode.LOOKUP, 1, "d");
        assertEquals(16 + 128, r.remaining());
        assertEquals(0, error(r));
        assertEquals(2, r.getLong(16), "nodeid");
        assertEquals(1, r.getLong(24), "generation");
        assertEquals(1, r.getLong(32), "entry_valid seconds");
        assertEquals(2, r.getLong(56), "attr.ino");
        assertEquals(0040755, r.getInt(56 + 60), "attr.mode");
        assertEquals(1000, r.getInt(56 + 68), "attr.uid from the request header");
    }

    @Test void errorsAreNegativeErrno() {
        init();
        ByteBuffer r = call(FuseOpcode.LOOKUP, 1, "missing");
        assertEquals(16, r.remaining());
        assertEquals(Errno.ENOENT, error(r));
        assertEquals(Errno.ENOSYS, error(call(FuseOpcode.BMAP, 1, 0L, 0, 0)));
        assertEquals(Errno.ENOSYS, error(call(FuseOpcode.COPY_FILE_RANGE, 1, 0L, 0L, 0L, 0L, 0L, 0L, 0L)));
    }

    @Test void forgetAndInterruptHaveNoReply() {
        init();
        call(FuseOpcode.MKDIR, 1, 0755, 0, "d");
        assertNull(call(FuseOpcode.FORGET, 2, 1L));
        assertEquals(0, fs.totalLookups());
        call(FuseOpcode.LOOKUP, 1, "d");
        call(FuseOpcode.LOOKUP, 1, "d");
        assertNull(call(FuseOpcode.BATCH_FORGET, 0, 1, 0, 2L, 2L));
        assertEquals(0, fs.totalLookups());
        assertNull(call(FuseOpcode.INTERRUPT, 0, 5L));
    }

    @Test void xattrSizeProbeAndErange() {
        init();
        call(FuseOpcode.MKNOD, 1, 0100644, 0, 0, 0, "f");
        // setxattr_in with the SETXATTR_EXT layout (negotiated above): size, flags, setxattr_flags, padding
        assertEquals(0, error(call(FuseOpcode.SETXATTR, 2, 3, 0, 0, 0, "user.k", new byte[]{1, 2, 3})));
        ByteBuffer probe = call(FuseOpcode.GETXATTR, 2, 0, 0, "user.k");
        assertEquals(16 + 8, probe.remaining());
        assertEquals(3, probe.getInt(16));
        assertEquals(Errno.ERANGE, error(call(FuseOpcode.GETXATTR, 2, 2, 0, "user.k")));
        ByteBuffer v = call(FuseOpcode.GETXATTR, 2, 10, 0, "user.k");
        assertEquals(16 + 3, v.remaining());
        ByteBuffer list = call(FuseOpcode.LISTXATTR, 2, 100, 0);
        assertEquals(16 + 7, list.remaining(), "\"user.k\\0\"");
    }

    @Test void readdirPacksAlignedRecordsWithinSize() {
        init();
        for (String n : new String[]{"a", "bbbbbbbbb", "c"}) call(FuseOpcode.MKNOD, 1, 0100644, 0, 0, 0, n);
        ByteBuffer r = call(FuseOpcode.READDIR, 1, 0L, 0L, 4096, 0, 0L, 0, 0);
        // ".", "..", "a", "c": 32 bytes each; "bbbbbbbbb": 24 + 9 → 40
        assertEquals(16 + 32 * 4 + 40, r.remaining());
        assertEquals(1, r.getLong(16 + 8), "off of the first record resumes after it");
        ByteBuffer small = call(FuseOpcode.READDIR, 1, 0L, 2L, 40, 0, 0L, 0, 0);
        assertEquals(16 + 32, small.remaining(), "only whole records that fit");
        // READDIRPLUS: "." and ".." carry nodeid 0 and take no lookup reference
        ByteBuffer plus = call(FuseOpcode.READDIRPLUS, 1, 0L, 0L, 4096, 0, 0L, 0, 0);
        assertEquals(16 + 160 * 4 + 168, plus.remaining());
        assertEquals(0, plus.getLong(16), "\".\" has nodeid 0");
        assertEquals(3, fs.totalLookups() - 3, "one reference per named entry (3 from mknod)");
    }

    @Test void devEncodingRoundTrips() {
        for (long dev : new long[]{Linux.makedev(0, 0), Linux.makedev(8, 1), Linux.makedev(259, 70000),
                Linux.makedev(4095, 0xfffff)}) {
            assertEquals(dev, FuseCodec.decodeDev(FuseCodec.encodeDev(dev)));
        }
        assertEquals((8 << 8) | 1, FuseCodec.encodeDev(Linux.makedev(8, 1)));
    }
}
