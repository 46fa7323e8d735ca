package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/**
 * knfsd's owner override over the raw protocol: the owner of a file may WRITE, READ and truncate (SETATTR size) it
 * whatever its mode bits, because the client checked them when its process opened the file (pjdfstest
 * ftruncate/00, git writing its 0444 objects); any other uid is refused as the mode says, and a file one may only
 * execute may be read (a client pages a binary in with READs).
 */
class OwnerOverrideTest {
    private static final int NOBODY = 65534, OTHER = 1000;

    private static SETATTR3args truncate(nfs_fh3 f, long size) {
        SETATTR3args a = new SETATTR3args();
        a.object = f;
        a.new_attributes = NfsCalls.sattr(null);
        a.new_attributes.size.set_it = true;
        a.new_attributes.size.size = size;
        a.guard = new sattrguard3();
        return a;
    }

    private static int setattr(NfsCalls c, SETATTR3args a) throws Exception {
        return c.c.nfs(Nfs3.NFSPROC3_SETATTR_3, a, new SETATTR3res()).status;
    }

    private static int write(NfsCalls c, nfs_fh3 f, String data) throws Exception {
        WRITE3args a = new WRITE3args();
        a.file = f;
        a.offset = 0;
        a.data = data.getBytes(StandardCharsets.UTF_8);
        a.count = a.data.length;
        a.stable = stable_how.FILE_SYNC;
        return c.c.nfs(Nfs3.NFSPROC3_WRITE_3, a, new WRITE3res()).status;
    }

    private static int read(NfsCalls c, nfs_fh3 f) throws Exception {
        READ3args a = new READ3args();
        a.file = f;
        a.count = 4096;
        return c.c.nfs(Nfs3.NFSPROC3_READ_3, a, new READ3res()).status;
    }

    private static nfs_fh3 create(NfsCalls c, nfs_fh3 dir, String name, int mode) throws Exception {
        CREATE3args a = new CREATE3args();
        a.where = NfsCalls.where(dir, name);
        a.how = new createhow3();
        a.how.mode = createmode3.GUARDED;
        a.how.obj_attributes = NfsCalls.sattr(mode);
        CREATE3res r = c.c.nfs(Nfs3.NFSPROC3_CREATE_3, a, new CREATE3res());
        assertEquals(nfsstat3.NFS3_OK, r.status, "CREATE " + name);
        return r.resok.obj.handle;
    }

    @Test
    void theOwnerWritesAndTruncatesItsReadOnlyFileOthersDoNot() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
             NfsCalls root = new NfsCalls(t.port(), 0, 0);
             NfsCalls nobody = new NfsCalls(t.port(), NOBODY, NOBODY);
             NfsCalls other = new NfsCalls(t.port(), OTHER, OTHER)) {
            nfs_fh3 pub = root.mkdir(root.root("/"), "pub");
            SETATTR3args open = new SETATTR3args();
            open.object = pub;
            open.new_attributes = NfsCalls.sattr(0777);
            open.guard = new sattrguard3();
            assertEquals(nfsstat3.NFS3_OK, setattr(root, open));
            nfs_fh3 dir = nobody.lookup(nobody.root("/"), "pub");

            // open(O_CREAT|O_EXCL, 0444) then write(2), as git does: CREATE 0444, then WRITEs by the same owner
            nfs_fh3 ro = create(nobody, dir, "object", 0444);
            assertEquals(0444, nobody.getattr(ro).mode & 07777);
            assertEquals(NOBODY, nobody.getattr(ro).uid);
            assertEquals(nfsstat3.NFS3_OK, write(nobody, ro, "blob 5\0hello"));
            assertEquals(nfsstat3.NFS3_OK, setattr(nobody, truncate(ro, 4)), "owner's truncate of its 0444 file");
            assertEquals(4, nobody.getattr(ro).size);
            assertEquals("blob", new String(nobody.readAll(ro), StandardCharsets.UTF_8));

            // pjdfstest ftruncate/00 #24: mode 0, the owner still writes, reads and truncates
            nfs_fh3 zero = create(nobody, dir, "zero", 0);
            assertEquals(nfsstat3.NFS3_OK, write(nobody, zero, "0123456789"));
            assertEquals(nfsstat3.NFS3_OK, read(nobody, zero));
            assertEquals(nfsstat3.NFS3_OK, setattr(nobody, truncate(zero, 3)));
            assertEquals(3, nobody.getattr(zero).size);

            // nobody else: the mode bits decide
            assertEquals(nfsstat3.NFS3ERR_ACCES, write(other, ro, "x"));
            assertEquals(nfsstat3.NFS3ERR_ACCES, setattr(other, truncate(ro, 0)));
            assertEquals(nfsstat3.NFS3ERR_ACCES, write(other, zero, "x"));
            assertEquals(nfsstat3.NFS3ERR_ACCES, setattr(other, truncate(zero, 0)));
            assertEquals(nfsstat3.NFS3ERR_ACCES, read(other, zero));
            assertEquals(nfsstat3.NFS3_OK, read(other, ro), "0444 is readable by all");
            assertEquals(4, nobody.getattr(ro).size, "refused calls changed nothing");
            assertEquals(3, nobody.getattr(zero).size);

            // ACCESS, what the client asks at open(2), keeps to the mode: no override there
            ACCESS3args acc = new ACCESS3args();
            acc.object = ro;
            acc.access = Nfs3.ACCESS3_READ | Nfs3.ACCESS3_MODIFY | Nfs3.ACCESS3_EXTEND;
            ACCESS3res ar = nobody.c.nfs(Nfs3.NFSPROC3_ACCESS_3, acc, new ACCESS3res());
            assertEquals(nfsstat3.NFS3_OK, ar.status);
            assertEquals(Nfs3.ACCESS3_READ, ar.resok.access);

            // an executable another uid may only run: its READs are served (knfsd's read-if-exec)
            nfs_fh3 bin = create(nobody, dir, "bin", 0711);
            assertEquals(nfsstat3.NFS3_OK, write(nobody, bin, "#!/bin/true\n"));
            assertEquals(nfsstat3.NFS3_OK, read(other, bin));
            assertEquals(nfsstat3.NFS3ERR_ACCES, write(other, bin, "x"));
        }
    }
}
