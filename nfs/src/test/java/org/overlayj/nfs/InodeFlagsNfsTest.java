package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Immutable and append-only objects through the NFS door (issue 21 item 11): NFSv3 carries no inode flags, but the
 * engine's protection holds for its calls, with the statuses knfsd gives (EPERM from the VFS is NFS3ERR_PERM; knfsd
 * opens for writing with no O_APPEND, so an append-only file takes no WRITE either): no WRITE, SETATTR, REMOVE or
 * RENAME of a lower file flagged in its layer, no CREATE in an immutable directory, ACCESS without MODIFY and
 * EXTEND on an immutable file; READ and LOOKUP as usual, and nothing copied up by the refused calls.
 */
class InodeFlagsNfsTest {
    @Test void protectedLowerObjectsRefuseChanges() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,insecure,no_root_squash)\n")) {
            try {
                // made in the lower layer before anything looks them up
                Files.writeString(t.lower.resolve("fi"), "immutable");
                Files.writeString(t.lower.resolve("fa"), "append-only");
                Files.createDirectories(t.lower.resolve("di"));
                AclNfsTest.Layers.sh("cd " + t.lower + " && chattr +i fi di && chattr +a fa");
                try (NfsCalls n = new NfsCalls(t.port(), 0, 0)) {
                    nfs_fh3 root = n.root("/");
                    nfs_fh3 fi = n.lookup(root, "fi"), fa = n.lookup(root, "fa"), di = n.lookup(root, "di");
                    assertEquals("immutable", new String(n.readAll(fi)));
                    assertEquals(nfsstat3.NFS3ERR_PERM, status(() -> n.write(fi, 0, NfsCalls.b("x"), stable_how.FILE_SYNC)));
                    assertEquals(nfsstat3.NFS3ERR_PERM, status(() -> n.write(fa, 11, NfsCalls.b("x"), stable_how.FILE_SYNC)));
                    assertEquals(nfsstat3.NFS3ERR_PERM, setattr(n, fi, NfsCalls.sattr(0600)));
                    assertEquals(nfsstat3.NFS3ERR_PERM, setattr(n, fa, NfsCalls.sattr(0600)));
                    assertEquals(nfsstat3.NFS3ERR_PERM, status(() -> n.remove(root, "fi")));
                    assertEquals(nfsstat3.NFS3ERR_PERM, status(() -> n.rename(root, "fa", root, "fa2")));
                    assertEquals(nfsstat3.NFS3ERR_PERM, status(() -> n.create(di, "new")));
                    int want = Nfs3.ACCESS3_READ | Nfs3.ACCESS3_MODIFY | Nfs3.ACCESS3_EXTEND;
                    assertEquals(Nfs3.ACCESS3_READ, access(n, fi, want), "ACCESS of an immutable file");
                    assertEquals(want, access(n, fa, want), "ACCESS of an append-only file (knfsd: writes refused at open)");
                    n.lookup(root, "fi");
                }
                try (var s = Files.list(t.upper)) {
                    assertEquals(0, s.filter(p -> !p.getFileName().toString().equals("index")).count(),
                            "nothing copied up");
                }
            } finally {
                AclNfsTest.Layers.sh("chattr -R -ia " + t.root);
            }
        }
    }

    private interface Call {
        void run() throws Exception;
    }

    private static int status(Call c) throws Exception {
        try {
            c.run();
            return nfsstat3.NFS3_OK;
        } catch (NfsCalls.NfsError e) {
            return e.status;
        }
    }

    private static int setattr(NfsCalls n, nfs_fh3 f, sattr3 s) throws Exception {
        SETATTR3args a = new SETATTR3args();
        a.object = f;
        a.new_attributes = s;
        a.guard = new sattrguard3();
        return n.c.nfs(Nfs3.NFSPROC3_SETATTR_3, a, new SETATTR3res()).status;
    }

    private static int access(NfsCalls n, nfs_fh3 o, int want) throws Exception {
        ACCESS3args aa = new ACCESS3args();
        aa.object = o;
        aa.access = want;
        ACCESS3res r = n.c.nfs(Nfs3.NFSPROC3_ACCESS_3, aa, new ACCESS3res());
        assertEquals(nfsstat3.NFS3_OK, r.status);
        return r.resok.access;
    }
}
