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
            nfs_fh3 ro = nobody.create(dir, "object", 0444);
            assertEquals(0444, nobody.getattr(ro).mode & 07777);
            assertEquals(NOBODY, nobody.getattr(ro).uid);
            assertEquals(nfsstat3.NFS3_OK, nobody.writeStatus(ro, "blob 5\0hello", stable_how.FILE_SYNC));
            assertEquals(nfsstat3.NFS3_OK, setattr(nobody, truncate(ro, 4)), "owner's truncate of its 0444 file");
            assertEquals(4, nobody.getattr(ro).size);
            assertEquals("blob", new String(nobody.readAll(ro), StandardCharsets.UTF_8));

            // pjdfstest ftruncate/00 #24: mode 0, the owner still writes, reads and truncates
            nfs_fh3 zero = nobody.create(dir, "zero", 0);
            assertEquals(nfsstat3.NFS3_OK, nobody.writeStatus(zero, "0123456789", stable_how.FILE_SYNC));
            assertEquals(nfsstat3.NFS3_OK, nobody.readStatus(zero));
            assertEquals(nfsstat3.NFS3_OK, setattr(nobody, truncate(zero, 3)));
            assertEquals(3, nobody.getattr(zero).size);

            // nobody else: the mode bits decide
            assertEquals(nfsstat3.NFS3ERR_ACCES, other.writeStatus(ro, "x", stable_how.FILE_SYNC));
            assertEquals(nfsstat3.NFS3ERR_ACCES, setattr(other, truncate(ro, 0)));
            assertEquals(nfsstat3.NFS3ERR_ACCES, other.writeStatus(zero, "x", stable_how.FILE_SYNC));
            assertEquals(nfsstat3.NFS3ERR_ACCES, setattr(other, truncate(zero, 0)));
            assertEquals(nfsstat3.NFS3ERR_ACCES, other.readStatus(zero));
            assertEquals(nfsstat3.NFS3_OK, other.readStatus(ro), "0444 is readable by all");
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
            nfs_fh3 bin = nobody.create(dir, "bin", 0711);
            assertEquals(nfsstat3.NFS3_OK, nobody.writeStatus(bin, "#!/bin/true\n", stable_how.FILE_SYNC));
            assertEquals(nfsstat3.NFS3_OK, other.readStatus(bin));
            assertEquals(nfsstat3.NFS3ERR_ACCES, other.writeStatus(bin, "x", stable_how.FILE_SYNC));
        }
    }
}
