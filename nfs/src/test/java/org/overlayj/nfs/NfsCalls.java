package org.overlayj.nfs;

import org.overlayj.nfs.xdr.*;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * NFSv3 calls by name over one {@link RpcTestClient} connection, each checking for NFS3_OK (an {@link NfsError}
 * otherwise): what the restart and load tests drive the server with.
 */
final class NfsCalls implements AutoCloseable {
    /** A reply with a status other than NFS3_OK. */
    static final class NfsError extends AssertionError {
        final int status;

        NfsError(String what, int status) {
            super(what + ": nfsstat3 " + status);
            this.status = status;
        }
    }

    final RpcTestClient c;

    NfsCalls(int port, int uid, int gid) throws Exception {
        c = new RpcTestClient(port, RpcTestClient.unix(uid, gid));
    }

    private static void ok(String what, int status) {
        if (status != nfsstat3.NFS3_OK) throw new NfsError(what, status);
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    static diropargs3 where(nfs_fh3 dir, String name) {
        diropargs3 d = new diropargs3();
        d.dir = dir;
        d.name = b(name);
        return d;
    }

    static sattr3 sattr(Integer mode) {
        sattr3 s = new sattr3();
        s.mode = new set_mode3();
        s.mode.set_it = mode != null;
        if (mode != null) s.mode.mode = mode;
        s.uid = new set_uid3();
        s.gid = new set_gid3();
        s.size = new set_size3();
        s.atime = new set_atime();
        s.atime.set_it = time_how.DONT_CHANGE;
        s.mtime = new set_mtime();
        s.mtime.set_it = time_how.DONT_CHANGE;
        return s;
    }

    nfs_fh3 root(String path) throws Exception { return c.rootHandle(path); }

    nfs_fh3 lookup(nfs_fh3 dir, String name) throws Exception {
        LOOKUP3args a = new LOOKUP3args();
        a.what = where(dir, name);
        LOOKUP3res r = c.nfs(Nfs3.NFSPROC3_LOOKUP_3, a, new LOOKUP3res());
        ok("LOOKUP " + name, r.status);
        return r.resok.object;
    }

    /** GETATTR's status, for the tests that expect an error. */
    int getattrStatus(nfs_fh3 f) throws Exception {
        GETATTR3args a = new GETATTR3args();
        a.object = f;
        return c.nfs(Nfs3.NFSPROC3_GETATTR_3, a, new GETATTR3res()).status;
    }

    fattr3 getattr(nfs_fh3 f) throws Exception {
        GETATTR3args a = new GETATTR3args();
        a.object = f;
        GETATTR3res r = c.nfs(Nfs3.NFSPROC3_GETATTR_3, a, new GETATTR3res());
        ok("GETATTR", r.status);
        return r.resok.obj_attributes;
    }

    nfs_fh3 create(nfs_fh3 dir, String name) throws Exception {
        CREATE3args a = new CREATE3args();
        a.where = where(dir, name);
        a.how = new createhow3();
        a.how.mode = createmode3.GUARDED;
        a.how.obj_attributes = sattr(0644);
        CREATE3res r = c.nfs(Nfs3.NFSPROC3_CREATE_3, a, new CREATE3res());
        ok("CREATE " + name, r.status);
        return r.resok.obj.handle;
    }

    nfs_fh3 mkdir(nfs_fh3 dir, String name) throws Exception {
        MKDIR3args a = new MKDIR3args();
        a.where = where(dir, name);
        a.attributes = sattr(0755);
        CREATE3res r = c.nfs(Nfs3.NFSPROC3_MKDIR_3, a, new CREATE3res());
        ok("MKDIR " + name, r.status);
        return r.resok.obj.handle;
    }

    WRITE3resok write(nfs_fh3 f, long off, byte[] data, int stable) throws Exception {
        WRITE3args a = new WRITE3args();
        a.file = f;
        a.offset = off;
        a.count = data.length;
        a.stable = stable;
        a.data = data;
        WRITE3res r = c.nfs(Nfs3.NFSPROC3_WRITE_3, a, new WRITE3res());
        ok("WRITE", r.status);
        if (r.resok.count != data.length) throw new AssertionError("short WRITE " + r.resok.count);
        return r.resok;
    }

    /** The whole file, in READs of at most 64 KiB. */
    /** A WRITE of {@code data} at offset 0: its status, for tests of what a caller may not do. */
    int writeStatus(nfs_fh3 f, String data, int stable) throws Exception {
        WRITE3args a = new WRITE3args();
        a.file = f;
        a.offset = 0;
        a.data = b(data);
        a.count = a.data.length;
        a.stable = stable;
        return c.nfs(Nfs3.NFSPROC3_WRITE_3, a, new WRITE3res()).status;
    }

    /** A READ of up to 4 KiB at offset 0: its status. */
    int readStatus(nfs_fh3 f) throws Exception {
        READ3args a = new READ3args();
        a.file = f;
        a.count = 4096;
        return c.nfs(Nfs3.NFSPROC3_READ_3, a, new READ3res()).status;
    }

    /** A GUARDED CREATE with {@code mode}, which must succeed. */
    nfs_fh3 create(nfs_fh3 dir, String name, int mode) throws Exception {
        CREATE3args a = new CREATE3args();
        a.where = where(dir, name);
        a.how = new createhow3();
        a.how.mode = createmode3.GUARDED;
        a.how.obj_attributes = sattr(mode);
        CREATE3res r = c.nfs(Nfs3.NFSPROC3_CREATE_3, a, new CREATE3res());
        ok("CREATE " + name, r.status);
        return r.resok.obj.handle;
    }

    /** One READ: its status NFS3_OK, and as many bytes of data as its count says. */
    READ3resok read(nfs_fh3 f, long off, int count) throws Exception {
        READ3args a = new READ3args();
        a.file = f;
        a.offset = off;
        a.count = count;
        READ3res r = c.nfs(Nfs3.NFSPROC3_READ_3, a, new READ3res());
        ok("READ", r.status);
        if (r.resok.count != r.resok.data.length)
            throw new AssertionError("READ count " + r.resok.count + ", data " + r.resok.data.length + " bytes");
        return r.resok;
    }

    byte[] readAll(nfs_fh3 f) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (long off = 0; ; ) {
            READ3resok r = read(f, off, 65536);
            out.write(r.data, 0, r.count);
            off += r.count;
            if (r.eof || r.count == 0) return out.toByteArray();
        }
    }

    void remove(nfs_fh3 dir, String name) throws Exception {
        REMOVE3args a = new REMOVE3args();
        a.object = where(dir, name);
        ok("REMOVE " + name, c.nfs(Nfs3.NFSPROC3_REMOVE_3, a, new REMOVE3res()).status);
    }

    void rename(nfs_fh3 from, String a, nfs_fh3 to, String b) throws Exception {
        RENAME3args r = new RENAME3args();
        r.from = where(from, a);
        r.to = where(to, b);
        ok("RENAME " + a + " " + b, c.nfs(Nfs3.NFSPROC3_RENAME_3, r, new RENAME3res()).status);
    }

    /** Every entry but "." and "..", with its handle and attributes, over as many READDIRPLUS calls as it takes. */
    Map<String, entryplus3> readdirplus(nfs_fh3 dir) throws Exception {
        Map<String, entryplus3> out = new LinkedHashMap<>();
        long cookie = 0;
        byte[] verf = new byte[8];
        while (true) {
            READDIRPLUS3args a = new READDIRPLUS3args();
            a.dir = dir;
            a.cookie = cookie;
            a.cookieverf = verf;
            a.dircount = 4096;
            a.maxcount = 16384;
            READDIRPLUS3res r = c.nfs(Nfs3.NFSPROC3_READDIRPLUS_3, a, new READDIRPLUS3res());
            ok("READDIRPLUS", r.status);
            verf = r.resok.cookieverf;
            for (entryplus3 e = r.resok.reply.entries; e != null; e = e.nextentry) {
                String name = new String(e.name, StandardCharsets.UTF_8);
                if (!name.equals(".") && !name.equals("..") && out.put(name, e) != null)
                    throw new AssertionError("READDIRPLUS repeated " + name);
                cookie = e.cookie;
            }
            if (r.resok.reply.eof) return out;
        }
    }

    @Override public void close() throws java.io.IOException { c.close(); }
}
