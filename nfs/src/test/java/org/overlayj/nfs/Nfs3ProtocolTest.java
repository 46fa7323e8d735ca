package org.overlayj.nfs;

import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Every NFSv3 and MOUNT procedure against a running server, success and error paths (RFC 1813). */
class Nfs3ProtocolTest {
    private TestOverlay t;
    private RpcTestClient c;
    private nfs_fh3 root;

    @BeforeEach
    void start() throws Exception {
        t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
        c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0));
        root = c.rootHandle("/");
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (c != null) c.close();
        } finally {
            if (t != null) t.close();
        }
    }

    private static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    private static diropargs3 where(nfs_fh3 dir, String name) {
        diropargs3 d = new diropargs3();
        d.dir = dir;
        d.name = b(name);
        return d;
    }

    private static sattr3 sattr(Integer mode) {
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

    private LOOKUP3res lookup(nfs_fh3 dir, String name) throws Exception {
        LOOKUP3args a = new LOOKUP3args();
        a.what = where(dir, name);
        return c.nfs(Nfs3.NFSPROC3_LOOKUP_3, a, new LOOKUP3res());
    }

    private nfs_fh3 fh(nfs_fh3 dir, String name) throws Exception {
        LOOKUP3res r = lookup(dir, name);
        assertEquals(nfsstat3.NFS3_OK, r.status, "lookup " + name);
        return r.resok.object;
    }

    private GETATTR3res getattr(nfs_fh3 f) throws Exception {
        GETATTR3args a = new GETATTR3args();
        a.object = f;
        return c.nfs(Nfs3.NFSPROC3_GETATTR_3, a, new GETATTR3res());
    }

    private CREATE3res create(nfs_fh3 dir, String name, int how) throws Exception {
        CREATE3args a = new CREATE3args();
        a.where = where(dir, name);
        a.how = new createhow3();
        a.how.mode = how;
        if (how == createmode3.EXCLUSIVE) a.how.verf = new byte[]{1, 2, 3, 4, 5, 6, 7, 8};
        else a.how.obj_attributes = sattr(0640);
        return c.nfs(Nfs3.NFSPROC3_CREATE_3, a, new CREATE3res());
    }

    private WRITE3res write(nfs_fh3 f, long off, byte[] data, int stable) throws Exception {
        WRITE3args a = new WRITE3args();
        a.file = f;
        a.offset = off;
        a.count = data.length;
        a.stable = stable;
        a.data = data;
        return c.nfs(Nfs3.NFSPROC3_WRITE_3, a, new WRITE3res());
    }

    private READ3res read(nfs_fh3 f, long off, int count) throws Exception {
        READ3args a = new READ3args();
        a.file = f;
        a.offset = off;
        a.count = count;
        return c.nfs(Nfs3.NFSPROC3_READ_3, a, new READ3res());
    }

    @Test
    void nullAndMountProcedures() throws Exception {
        c.nfsNull();
        c.mount(Mount3.MOUNTPROC3_NULL_3, XdrVoid.XDR_VOID, XdrVoid.XDR_VOID);
        assertEquals(mountstat3.MNT3ERR_NOENT, c.mnt("/not/exported").fhs_status);
        mountopt dump = c.mount(Mount3.MOUNTPROC3_DUMP_3, XdrVoid.XDR_VOID, new mountopt());
        assertNotNull(dump.list);
        assertEquals("/", new String(dump.list.ml_directory.value, StandardCharsets.UTF_8));
        exportsopt ex = c.mount(Mount3.MOUNTPROC3_EXPORT_3, XdrVoid.XDR_VOID, new exportsopt());
        assertEquals("/", new String(ex.list.ex_dir.value, StandardCharsets.UTF_8));
        assertEquals("127.0.0.1/32", new String(ex.list.ex_groups.gr_name.value, StandardCharsets.UTF_8));
        c.mount(Mount3.MOUNTPROC3_UMNT_3, new dirpath(b("/")), XdrVoid.XDR_VOID);
        c.mount(Mount3.MOUNTPROC3_UMNTALL_3, XdrVoid.XDR_VOID, XdrVoid.XDR_VOID);
        assertNull(c.mount(Mount3.MOUNTPROC3_DUMP_3, XdrVoid.XDR_VOID, new mountopt()).list);
        // a directory below the export's root is mounted (as libnfs mounts a file's directory), a file is not
        mountres3 sub = c.mnt("/dir/sub");
        assertEquals(mountstat3.MNT3_OK, sub.fhs_status);
        assertArrayEquals(fh(fh(root, "dir"), "sub").data, sub.mountinfo.fhandle.value);
        assertEquals(mountstat3.MNT3ERR_NOTDIR, c.mnt("/dir/a").fhs_status);
        assertEquals(mountstat3.MNT3ERR_NOENT, c.mnt("/dir/none").fhs_status);
    }

    @Test
    void lookupGetattrAccessReadOfLowerFile() throws Exception {
        GETATTR3res ra = getattr(root);
        assertEquals(nfsstat3.NFS3_OK, ra.status);
        assertEquals(ftype3.NF3DIR, ra.resok.obj_attributes.type);

        nfs_fh3 hello = fh(root, "hello.txt");
        GETATTR3res ga = getattr(hello);
        assertEquals(ftype3.NF3REG, ga.resok.obj_attributes.type);
        assertEquals(27, ga.resok.obj_attributes.size);

        READ3res r = read(hello, 0, 4096);
        assertEquals(nfsstat3.NFS3_OK, r.status);
        assertEquals("hello from the lower layer\n", new String(r.resok.data, StandardCharsets.UTF_8));
        assertTrue(r.resok.eof);
        READ3res part = read(hello, 6, 4);
        assertEquals("from", new String(part.resok.data, StandardCharsets.UTF_8));
        assertFalse(part.resok.eof);

        assertEquals(nfsstat3.NFS3ERR_NOENT, lookup(root, "missing").status);
        assertTrue(lookup(root, "missing").resfail.dir_attributes.attributes_follow);
        assertEquals(nfsstat3.NFS3ERR_NOTDIR, lookup(hello, "x").status);
        assertEquals(nfsstat3.NFS3ERR_ISDIR, read(root, 0, 10).status);

        ACCESS3args aa = new ACCESS3args();
        aa.object = hello;
        aa.access = Nfs3.ACCESS3_READ | Nfs3.ACCESS3_MODIFY | Nfs3.ACCESS3_EXECUTE;
        ACCESS3res ar = c.nfs(Nfs3.NFSPROC3_ACCESS_3, aa, new ACCESS3res());
        assertEquals(nfsstat3.NFS3_OK, ar.status);
        assertEquals(Nfs3.ACCESS3_READ | Nfs3.ACCESS3_MODIFY, ar.resok.access & (Nfs3.ACCESS3_READ | Nfs3.ACCESS3_MODIFY));
    }

    @Test
    void writeCopiesUpAndCommitKeepsTheVerifier() throws Exception {
        nfs_fh3 hello = fh(root, "hello.txt");
        WRITE3res w = write(hello, 0, b("HELLO"), stable_how.UNSTABLE);
        assertEquals(nfsstat3.NFS3_OK, w.status);
        assertEquals(5, w.resok.count);
        assertTrue(w.resok.file_wcc.before.attributes_follow);
        assertTrue(w.resok.file_wcc.after.attributes_follow);
        COMMIT3args ca = new COMMIT3args();
        ca.file = hello;
        COMMIT3res cr = c.nfs(Nfs3.NFSPROC3_COMMIT_3, ca, new COMMIT3res());
        assertEquals(nfsstat3.NFS3_OK, cr.status);
        assertArrayEquals(w.resok.verf, cr.resok.verf);
        WRITE3res w2 = write(hello, 27, b("tail"), stable_how.FILE_SYNC);
        assertEquals(stable_how.FILE_SYNC, w2.resok.committed);
        assertEquals("HELLO from the lower layer\ntail", Files.readString(t.upper.resolve("hello.txt")));
        assertEquals("hello from the lower layer\n", Files.readString(t.lower.resolve("hello.txt")));
        // the handle still names the file after its copy-up
        assertEquals(31, getattr(hello).resok.obj_attributes.size);
        assertEquals(nfsstat3.NFS3ERR_ISDIR, write(root, 0, b("x"), stable_how.UNSTABLE).status);
        // the counters tell how writes asked to be kept (a refused write is not counted) and where time went
        assertEquals(1, t.server.stats().writes("UNSTABLE"));
        assertEquals(0, t.server.stats().writes("DATA_SYNC"));
        assertEquals(1, t.server.stats().writes("FILE_SYNC"));
        assertEquals(3, t.server.stats().nfsCalls("WRITE"));
        assertTrue(t.server.stats().snapshot().containsKey("nfs.COMMIT.ms"));
        assertTrue(t.server.stats().nfsMillis("COMMIT") >= 0);
    }

    @Test
    void createModesSetattrAndRemove() throws Exception {
        CREATE3res cr = create(root, "new.txt", createmode3.GUARDED);
        assertEquals(nfsstat3.NFS3_OK, cr.status);
        assertTrue(cr.resok.obj.handle_follows);
        assertEquals(0640, cr.resok.obj_attributes.attributes.mode);
        assertTrue(cr.resok.dir_wcc.before.attributes_follow);
        assertEquals(nfsstat3.NFS3ERR_EXIST, create(root, "new.txt", createmode3.GUARDED).status);
        assertEquals(nfsstat3.NFS3_OK, create(root, "new.txt", createmode3.UNCHECKED).status);

        CREATE3res ex1 = create(root, "excl", createmode3.EXCLUSIVE);
        assertEquals(nfsstat3.NFS3_OK, ex1.status);
        CREATE3res ex2 = create(root, "excl", createmode3.EXCLUSIVE);
        assertEquals(nfsstat3.NFS3_OK, ex2.status, "a retried exclusive create with the same verifier succeeds");
        assertArrayEquals(ex1.resok.obj.handle.data, ex2.resok.obj.handle.data);
        CREATE3args other = new CREATE3args();
        other.where = where(root, "excl");
        other.how = new createhow3();
        other.how.mode = createmode3.EXCLUSIVE;
        other.how.verf = new byte[8];
        assertEquals(nfsstat3.NFS3ERR_EXIST, c.nfs(Nfs3.NFSPROC3_CREATE_3, other, new CREATE3res()).status);

        SETATTR3args sa = new SETATTR3args();
        sa.object = cr.resok.obj.handle;
        sa.new_attributes = sattr(0600);
        sa.new_attributes.size.set_it = true;
        sa.new_attributes.size.size = 10;
        sa.guard = new sattrguard3();
        SETATTR3res sr = c.nfs(Nfs3.NFSPROC3_SETATTR_3, sa, new SETATTR3res());
        assertEquals(nfsstat3.NFS3_OK, sr.status);
        assertEquals(0600, sr.resok.obj_wcc.after.attributes.mode);
        assertEquals(10, sr.resok.obj_wcc.after.attributes.size);
        sa.guard.check = true;
        sa.guard.obj_ctime = NfsAttrs.time(1, 1);
        assertEquals(nfsstat3.NFS3ERR_NOT_SYNC, c.nfs(Nfs3.NFSPROC3_SETATTR_3, sa, new SETATTR3res()).status);

        REMOVE3args ra = new REMOVE3args();
        ra.object = where(root, "new.txt");
        assertEquals(nfsstat3.NFS3_OK, c.nfs(Nfs3.NFSPROC3_REMOVE_3, ra, new REMOVE3res()).status);
        assertEquals(nfsstat3.NFS3ERR_NOENT, c.nfs(Nfs3.NFSPROC3_REMOVE_3, ra, new REMOVE3res()).status);
        ra.object = where(root, "hello.txt");
        assertEquals(nfsstat3.NFS3_OK, c.nfs(Nfs3.NFSPROC3_REMOVE_3, ra, new REMOVE3res()).status);
        assertEquals(nfsstat3.NFS3ERR_NOENT, lookup(root, "hello.txt").status, "lower file whited out");
        assertTrue(Files.exists(t.lower.resolve("hello.txt")));
    }

    @Test
    void directoriesLinksSymlinksNodesRename() throws Exception {
        MKDIR3args ma = new MKDIR3args();
        ma.where = where(root, "d");
        ma.attributes = sattr(0750);
        CREATE3res mr = c.nfs(Nfs3.NFSPROC3_MKDIR_3, ma, new CREATE3res());
        assertEquals(nfsstat3.NFS3_OK, mr.status);
        assertEquals(ftype3.NF3DIR, mr.resok.obj_attributes.attributes.type);
        assertEquals(nfsstat3.NFS3ERR_EXIST, c.nfs(Nfs3.NFSPROC3_MKDIR_3, ma, new CREATE3res()).status);
        nfs_fh3 d = mr.resok.obj.handle;

        SYMLINK3args sa = new SYMLINK3args();
        sa.where = where(d, "ln");
        sa.symlink = new symlinkdata3();
        sa.symlink.symlink_attributes = sattr(null);
        sa.symlink.symlink_data = b("../hello.txt");
        CREATE3res sr = c.nfs(Nfs3.NFSPROC3_SYMLINK_3, sa, new CREATE3res());
        assertEquals(nfsstat3.NFS3_OK, sr.status);
        READLINK3args rl = new READLINK3args();
        rl.symlink = sr.resok.obj.handle;
        READLINK3res rr = c.nfs(Nfs3.NFSPROC3_READLINK_3, rl, new READLINK3res());
        assertEquals("../hello.txt", new String(rr.resok.data, StandardCharsets.UTF_8));
        rl.symlink = d;
        assertEquals(nfsstat3.NFS3ERR_INVAL, c.nfs(Nfs3.NFSPROC3_READLINK_3, rl, new READLINK3res()).status);

        MKNOD3args na = new MKNOD3args();
        na.where = where(d, "fifo");
        na.what = new mknoddata3();
        na.what.type = ftype3.NF3FIFO;
        na.what.pipe_attributes = sattr(0600);
        CREATE3res nr = c.nfs(Nfs3.NFSPROC3_MKNOD_3, na, new CREATE3res());
        assertEquals(nfsstat3.NFS3_OK, nr.status);
        assertEquals(ftype3.NF3FIFO, nr.resok.obj_attributes.attributes.type);
        na.where = where(d, "reg");
        na.what.type = ftype3.NF3REG;
        assertEquals(nfsstat3.NFS3ERR_BADTYPE, c.nfs(Nfs3.NFSPROC3_MKNOD_3, na, new CREATE3res()).status);

        LINK3args la = new LINK3args();
        la.file = fh(root, "hello.txt");
        la.link = where(d, "hard");
        LINK3res lr = c.nfs(Nfs3.NFSPROC3_LINK_3, la, new LINK3res());
        assertEquals(nfsstat3.NFS3_OK, lr.status);
        assertEquals(2, lr.resok.file_attributes.attributes.nlink);
        la.file = d;
        la.link = where(root, "dirlink");
        assertEquals(nfsstat3.NFS3ERR_ISDIR, c.nfs(Nfs3.NFSPROC3_LINK_3, la, new LINK3res()).status);

        RENAME3args rn = new RENAME3args();
        rn.from = where(d, "hard");
        rn.to = where(root, "moved");
        RENAME3res rnr = c.nfs(Nfs3.NFSPROC3_RENAME_3, rn, new RENAME3res());
        assertEquals(nfsstat3.NFS3_OK, rnr.status);
        assertTrue(rnr.resok.fromdir_wcc.after.attributes_follow);
        assertEquals(nfsstat3.NFS3ERR_NOENT, c.nfs(Nfs3.NFSPROC3_RENAME_3, rn, new RENAME3res()).status);

        REMOVE3args rm = new REMOVE3args();
        rm.object = where(root, "d");
        assertEquals(nfsstat3.NFS3ERR_NOTEMPTY, c.nfs(Nfs3.NFSPROC3_RMDIR_3, rm, new REMOVE3res()).status);
        rm.object = where(root, ".");
        assertEquals(nfsstat3.NFS3ERR_INVAL, c.nfs(Nfs3.NFSPROC3_RMDIR_3, rm, new REMOVE3res()).status);
        for (String n : new String[]{"ln", "fifo"}) {
            rm.object = where(d, n);
            assertEquals(nfsstat3.NFS3_OK, c.nfs(Nfs3.NFSPROC3_REMOVE_3, rm, new REMOVE3res()).status);
        }
        rm.object = where(root, "d");
        assertEquals(nfsstat3.NFS3_OK, c.nfs(Nfs3.NFSPROC3_RMDIR_3, rm, new REMOVE3res()).status);
        assertEquals(nfsstat3.NFS3ERR_STALE, getattr(d).status, "a removed directory's handle is stale");
    }

    private List<String> readdirAll(nfs_fh3 dir, int count) throws Exception {
        List<String> names = new ArrayList<>();
        long cookie = 0;
        byte[] verf = new byte[8];
        for (int calls = 0; calls < 1000; calls++) {
            READDIR3args a = new READDIR3args();
            a.dir = dir;
            a.cookie = cookie;
            a.cookieverf = verf;
            a.count = count;
            READDIR3res r = c.nfs(Nfs3.NFSPROC3_READDIR_3, a, new READDIR3res());
            assertEquals(nfsstat3.NFS3_OK, r.status);
            verf = r.resok.cookieverf;
            for (entry3 e = r.resok.reply.entries; e != null; e = e.nextentry) {
                names.add(new String(e.name, StandardCharsets.UTF_8));
                cookie = e.cookie;
            }
            if (r.resok.reply.eof) return names;
        }
        throw new AssertionError("no eof");
    }

    @Test
    void readdirCookiesAcrossCallsAndVerifier() throws Exception {
        nfs_fh3 dir = fh(root, "dir");
        List<String> names = readdirAll(dir, 1024);
        assertEquals(300 + 2 + 2, names.size(), names.toString());
        assertTrue(names.containsAll(List.of(".", "..", "a", "sub", "f0", "f299")));
        assertEquals(names.size(), names.stream().distinct().count());
        assertEquals(names, readdirAll(dir, 64 * 1024));

        READDIR3args a = new READDIR3args();
        a.dir = dir;
        a.cookieverf = new byte[8];
        a.count = 10;
        assertEquals(nfsstat3.NFS3ERR_TOOSMALL, c.nfs(Nfs3.NFSPROC3_READDIR_3, a, new READDIR3res()).status);

        // A changed directory invalidates the old verifier for cookies past 0.
        a.count = 1024;
        READDIR3res first = c.nfs(Nfs3.NFSPROC3_READDIR_3, a, new READDIR3res());
        assertEquals(nfsstat3.NFS3_OK, create(dir, "newone", createmode3.GUARDED).status);
        a.cookie = first.resok.reply.entries.nextentry.cookie;
        a.cookieverf = first.resok.cookieverf;
        assertEquals(nfsstat3.NFS3ERR_BAD_COOKIE, c.nfs(Nfs3.NFSPROC3_READDIR_3, a, new READDIR3res()).status);

        READDIRPLUS3args p = new READDIRPLUS3args();
        p.dir = dir;
        p.cookieverf = new byte[8];
        p.dircount = 4096;
        p.maxcount = 32768;
        List<String> plus = new ArrayList<>();
        for (int calls = 0; ; calls++) {
            READDIRPLUS3res r = c.nfs(Nfs3.NFSPROC3_READDIRPLUS_3, p, new READDIRPLUS3res());
            assertEquals(nfsstat3.NFS3_OK, r.status);
            for (entryplus3 e = r.resok.reply.entries; e != null; e = e.nextentry) {
                String n = new String(e.name, StandardCharsets.UTF_8);
                plus.add(n);
                if (!n.equals("..")) {
                    assertTrue(e.name_handle.handle_follows, n);
                    assertEquals(e.fileid, e.name_attributes.attributes.fileid, n);
                }
                p.cookie = e.cookie;
            }
            p.cookieverf = r.resok.cookieverf;
            if (r.resok.reply.eof) break;
            assertTrue(calls < 1000);
        }
        assertEquals(305, plus.size());
    }

    /**
     * READDIRPLUS sizes its entries before their lookups with the handle length of the last reply (a guess; the
     * longest there is at first) and, after its first pass, with this reply's own: every reply stays within maxcount
     * and dircount, every name comes once with its handle and attributes, and no reply ends while the next entry
     * would have fitted (within one handle's length, where handles of two lengths mix: lower files and files made
     * here). Over many sizes, in a directory of 302 lower entries and 40 made through the door.
     */
    @Test
    void readdirplusRepliesFitTheirCountsAndHoldEveryEntryOnce() throws Exception {
        nfs_fh3 dir = fh(root, "dir");
        for (int i = 0; i < 40; i++) assertEquals(nfsstat3.NFS3_OK, create(dir, "new" + i, createmode3.GUARDED).status);
        int[][] counts = {{700, 1 << 20}, {1024, 1 << 20}, {1500, 1 << 20}, {4096, 1 << 20}, {8192, 1 << 20},
                {65536, 1 << 20}, {8192, 600}, {32768, 4096}, {1024, 1 << 20}};
        for (int[] count : counts) {
            READDIRPLUS3args p = new READDIRPLUS3args();
            p.dir = dir;
            p.cookieverf = new byte[8];
            p.maxcount = count[0];
            p.dircount = count[1];
            List<String> names = new ArrayList<>();
            int lastSize = -1, lastDirSize = -1;
            for (int calls = 0; ; calls++) {
                READDIRPLUS3res r = c.nfs(Nfs3.NFSPROC3_READDIRPLUS_3, p, new READDIRPLUS3res());
                assertEquals(nfsstat3.NFS3_OK, r.status);
                org.dcache.oncrpc4j.xdr.Xdr x = new org.dcache.oncrpc4j.xdr.Xdr(1024);
                x.beginEncoding();
                r.xdrEncode(x);
                x.endEncoding();
                int size = x.getBytes().length, dirSize = 0;
                String at = Arrays.toString(count) + " call " + calls;
                assertTrue(size <= count[0], at + ": " + size + " bytes");
                entryplus3 first = r.resok.reply.entries;
                assertNotNull(first, at);
                if (lastSize >= 0) {
                    // the entry that opens this reply did not fit in the last one
                    int need = entrySize(first), slack = 64;
                    assertTrue(lastSize + need > count[0] - slack || lastDirSize + 8 + xdr(first.name.length) + 8
                            > count[1], at + ": the last reply ended at " + lastSize + " with room for " + need);
                }
                for (entryplus3 e = first; e != null; e = e.nextentry) {
                    String n = new String(e.name, StandardCharsets.UTF_8);
                    names.add(n);
                    dirSize += 8 + xdr(e.name.length) + 8;
                    if (!n.equals("..")) {
                        assertTrue(e.name_handle.handle_follows, n);
                        assertEquals(e.fileid, e.name_attributes.attributes.fileid, n);
                    }
                    p.cookie = e.cookie;
                }
                assertTrue(dirSize <= count[1] || first.nextentry == null, at + ": " + dirSize + " of dircount");
                p.cookieverf = r.resok.cookieverf;
                if (r.resok.reply.eof) break;
                lastSize = size;
                lastDirSize = dirSize;
                assertTrue(calls < 2000);
            }
            assertEquals(2 + 302 + 40, names.size(), Arrays.toString(count));
            assertEquals(names.size(), names.stream().distinct().count(), Arrays.toString(count));
        }
    }

    private static int xdr(int n) { return 4 + ((n + 3) & ~3); }

    /** XDR size of one entry: its follows flag, fileid, name, cookie, attributes and handle. */
    private static int entrySize(entryplus3 e) {
        return 4 + 8 + xdr(e.name.length) + 8 + (e.name_attributes.attributes_follow ? 88 : 4)
                + (e.name_handle.handle_follows ? 4 + xdr(e.name_handle.handle.data.length) : 4);
    }

    @Test
    void fsstatFsinfoPathconf() throws Exception {
        FSSTAT3args fa = new FSSTAT3args();
        fa.fsroot = root;
        FSSTAT3res fs = c.nfs(Nfs3.NFSPROC3_FSSTAT_3, fa, new FSSTAT3res());
        assertEquals(nfsstat3.NFS3_OK, fs.status);
        var real = org.overlayj.sys.Linux.statfs(t.upper.toString());
        assertEquals(real.blocks() * (real.frsize() > 0 ? real.frsize() : real.bsize()), fs.resok.tbytes);
        assertTrue(fs.resok.abytes <= fs.resok.fbytes);

        FSINFO3args ia = new FSINFO3args();
        ia.fsroot = root;
        FSINFO3res fi = c.nfs(Nfs3.NFSPROC3_FSINFO_3, ia, new FSINFO3res());
        assertEquals(Nfs3Program.MAX_IO, fi.resok.rtmax);
        assertEquals(Nfs3Program.MAX_IO, fi.resok.wtmax);
        assertNotEquals(0, fi.resok.properties & Nfs3.FSF3_SYMLINK);

        PATHCONF3args pa = new PATHCONF3args();
        pa.object = root;
        PATHCONF3res pc = c.nfs(Nfs3.NFSPROC3_PATHCONF_3, pa, new PATHCONF3res());
        assertEquals(255, pc.resok.name_max);
        assertTrue(pc.resok.no_trunc);
        assertFalse(pc.resok.case_insensitive);
    }

    @Test
    void largeReadAndWriteAtTheAdvertisedMaximum() throws Exception {
        assertTrue(XdrBounds.MAX_ITEM >= Nfs3Program.MAX_IO, "a WRITE of wtmax bytes must decode");
        CREATE3res cr = create(root, "big", createmode3.UNCHECKED);
        byte[] data = new byte[Nfs3Program.MAX_IO];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 7);
        assertEquals(nfsstat3.NFS3_OK, write(cr.resok.obj.handle, 0, data, stable_how.DATA_SYNC).status);
        READ3res r = read(cr.resok.obj.handle, 0, Nfs3Program.MAX_IO);
        assertEquals(nfsstat3.NFS3_OK, r.status);
        assertArrayEquals(data, r.resok.data);
        assertArrayEquals(data, Files.readAllBytes(t.upper.resolve("big")));
    }

    @Test
    void badAndStaleHandles() throws Exception {
        nfs_fh3 bad = new nfs_fh3();
        bad.data = new byte[]{1, 2, 3};
        assertEquals(nfsstat3.NFS3ERR_BADHANDLE, getattr(bad).status);
        nfs_fh3 otherExport = new nfs_fh3();
        otherExport.data = FileHandles.encode(7, new byte[]{1, 2, 3, 4});
        assertEquals(nfsstat3.NFS3ERR_STALE, getattr(otherExport).status);
        nfs_fh3 forged = new nfs_fh3();
        forged.data = Arrays.copyOf(root.data, root.data.length);
        forged.data[forged.data.length - 1] ^= 0x5a;
        assertEquals(nfsstat3.NFS3ERR_STALE, getattr(forged).status);
        assertTrue(t.server.stats().errors() >= 3);
        assertTrue(t.server.stats().nfsCalls("GETATTR") >= 3);
    }
}
