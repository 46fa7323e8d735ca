package org.overlayj.nfs;

import org.dcache.oncrpc4j.xdr.Xdr;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/** The generated classes against oncrpc4j's XDR streams: encode, decode, compare, and a few exact byte layouts. */
class XdrRoundTripTest {

    private static byte[] encode(XdrAble a) throws Exception {
        Xdr x = new Xdr(1024);
        x.beginEncoding();
        a.xdrEncode(x);
        x.endEncoding();
        return x.getBytes();
    }

    private static <T extends XdrAble> T decode(byte[] b, Supplier<T> make) throws Exception {
        Xdr x = new Xdr(b);
        x.beginDecoding();
        T t = make.get();
        t.xdrDecode(x);
        x.endDecoding();
        return t;
    }

    @Test
    void lookupArgsRoundTrip() throws Exception {
        LOOKUP3args a = new LOOKUP3args();
        a.what = new diropargs3();
        a.what.dir = new nfs_fh3();
        a.what.dir.data = new byte[]{1, 2, 3, 4, 5};
        a.what.name = "caf\u00e9".getBytes(StandardCharsets.UTF_8);
        byte[] wire = encode(a);
        // fh: length 5 + 3 pad; name: length 5 + 3 pad
        assertEquals(4 + 8 + 4 + 8, wire.length);
        LOOKUP3args b = decode(wire, LOOKUP3args::new);
        assertArrayEquals(a.what.dir.data, b.what.dir.data);
        assertArrayEquals(a.what.name, b.what.name);
    }

    @Test
    void fattrLayoutIs84Bytes() throws Exception {
        fattr3 f = new fattr3();
        f.type = ftype3.NF3REG;
        f.mode = 0644;
        f.nlink = 1;
        f.size = 1L << 40;
        f.used = 4096;
        f.rdev = new specdata3();
        f.fsid = 42;
        f.fileid = 0x8000000000000004L;
        f.atime = NfsAttrs.time(1, 2);
        f.mtime = NfsAttrs.time(3, 4);
        f.ctime = NfsAttrs.time(5, 6);
        byte[] wire = encode(f);
        assertEquals(84, wire.length, "RFC 1813 fattr3 is 84 bytes");
        fattr3 g = decode(wire, fattr3::new);
        assertEquals(f.size, g.size);
        assertEquals(f.fileid, g.fileid);
        assertEquals(5, g.ctime.seconds);
    }

    @Test
    void readdirReplyListRoundTrips() throws Exception {
        READDIR3res r = new READDIR3res();
        r.status = nfsstat3.NFS3_OK;
        r.resok = new READDIR3resok();
        r.resok.dir_attributes = NfsAttrs.post(null, 0);
        r.resok.cookieverf = new byte[]{0, 0, 0, 0, 0, 0, 0, 9};
        r.resok.reply = new dirlist3();
        entry3 head = null;
        for (int i = 2000; i >= 1; i--) {
            entry3 e = new entry3();
            e.fileid = i;
            e.name = ("n" + i).getBytes(StandardCharsets.US_ASCII);
            e.cookie = i;
            e.nextentry = head;
            head = e;
        }
        r.resok.reply.entries = head;
        r.resok.reply.eof = true;
        READDIR3res s = decode(encode(r), READDIR3res::new);
        int n = 0;
        for (entry3 e = s.resok.reply.entries; e != null; e = e.nextentry) n++;
        assertEquals(2000, n, "long lists decode iteratively");
        assertTrue(s.resok.reply.eof);
        assertEquals(9, s.resok.cookieverf[7]);
    }

    @Test
    void errorArmCarriesOnlyItsData() throws Exception {
        GETATTR3res r = new GETATTR3res();
        r.status = nfsstat3.NFS3ERR_STALE;
        assertArrayEquals(new byte[]{0, 0, 0, 70}, encode(r));
        CREATE3res c = new CREATE3res();
        c.status = nfsstat3.NFS3ERR_EXIST;
        c.resfail = new CREATE3resfail();
        c.resfail.dir_wcc = NfsAttrs.wcc(null, null, 0);
        assertEquals(4 + 4 + 4, encode(c).length);
    }

    @Test
    void sattrAndCreateHowRoundTrip() throws Exception {
        CREATE3args a = new CREATE3args();
        a.where = new diropargs3();
        a.where.dir = new nfs_fh3();
        a.where.dir.data = new byte[8];
        a.where.name = "f".getBytes(StandardCharsets.US_ASCII);
        a.how = new createhow3();
        a.how.mode = createmode3.EXCLUSIVE;
        a.how.verf = new byte[]{1, 2, 3, 4, 5, 6, 7, 8};
        CREATE3args b = decode(encode(a), CREATE3args::new);
        assertEquals(createmode3.EXCLUSIVE, b.how.mode);
        assertArrayEquals(a.how.verf, b.how.verf);
    }

    @Test
    void mountReplyRoundTrip() throws Exception {
        mountres3 m = new mountres3();
        m.fhs_status = mountstat3.MNT3_OK;
        m.mountinfo = new mountres3_ok();
        m.mountinfo.fhandle = new fhandle3(FileHandles.encode(3, new byte[]{9, 9, 9}));
        m.mountinfo.auth_flavors = new int[]{1};
        mountres3 n = decode(encode(m), mountres3::new);
        FileHandles.Decoded d = FileHandles.decode(n.mountinfo.fhandle.value);
        assertNotNull(d);
        assertEquals(3, d.exportId());
        assertArrayEquals(new byte[]{9, 9, 9}, d.engineHandle());
    }

    @Test
    void fileHandleCodecRefusesMalformed() {
        assertNull(FileHandles.decode(new byte[0]));
        assertNull(FileHandles.decode(new byte[]{FileHandles.MAGIC, 0}));
        assertNull(FileHandles.decode(new byte[]{0x11, 0, 1}));
        assertNull(FileHandles.decode(new byte[65]));
        assertThrows(IllegalArgumentException.class, () -> FileHandles.encode(0, new byte[63]));
        assertEquals(64, FileHandles.encode(255, new byte[62]).length);
    }
}
