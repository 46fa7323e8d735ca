package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * POSIX ACLs through the NFS door (issue 21 item 3): the ACCESS reply and the calls themselves follow the access ACL
 * of the object, as the engine's checks do (core AclTest compares those with the kernel overlay's access(2)). A
 * mode-0 directory an ACL opens to uid 1000 is listed and searched; a mode-0644 file an ACL closes to it is not read.
 */
class AclNfsTest {
    @Test void accessAndCallsFollowTheAcl() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,insecure)\n")) {
            // made in the upper layer (while mounted, names the engine has not looked up yet)
            Files.createDirectories(t.upper.resolve("d0"));
            Files.writeString(t.upper.resolve("d0/x"), "x");
            Files.writeString(t.upper.resolve("f"), "secret");
            Layers.sh("cd " + t.upper + " && chmod 0 d0 && setfacl -m u:1000:rx d0 && chmod 644 f && setfacl -m u:1000:--- f");
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(1000, 1000));
                 RpcTestClient other = new RpcTestClient(t.port(), RpcTestClient.unix(1001, 1001))) {
                nfs_fh3 root = c.rootHandle("/");
                nfs_fh3 d0 = lookup(c, root, "d0"), f = lookup(c, root, "f");
                int all = Nfs3.ACCESS3_READ | Nfs3.ACCESS3_LOOKUP | Nfs3.ACCESS3_EXECUTE | Nfs3.ACCESS3_MODIFY;
                assertEquals(Nfs3.ACCESS3_READ | Nfs3.ACCESS3_LOOKUP, access(c, d0, all), "uid 1000 on d0");
                assertEquals(0, access(c, f, Nfs3.ACCESS3_READ), "uid 1000 on f");
                assertEquals(Nfs3.ACCESS3_READ, access(other, lookup(other, root, "f"), Nfs3.ACCESS3_READ), "uid 1001 on f");
                assertEquals(nfsstat3.NFS3_OK, lookupStatus(c, d0, "x"), "search d0");
                assertEquals(nfsstat3.NFS3ERR_ACCES, lookupStatus(other, lookup(other, root, "d0"), "x"), "uid 1001 search d0");
                READ3args ra = new READ3args();
                ra.file = f;
                ra.count = 10;
                assertEquals(nfsstat3.NFS3ERR_ACCES, c.nfs(Nfs3.NFSPROC3_READ_3, ra, new READ3res()).status);
            }
        }
    }

    private static nfs_fh3 lookup(RpcTestClient c, nfs_fh3 dir, String name) throws Exception {
        LOOKUP3args la = new LOOKUP3args();
        la.what = NfsCalls.where(dir, name);
        LOOKUP3res r = c.nfs(Nfs3.NFSPROC3_LOOKUP_3, la, new LOOKUP3res());
        assertEquals(nfsstat3.NFS3_OK, r.status, "LOOKUP " + name);
        return r.resok.object;
    }

    private static int lookupStatus(RpcTestClient c, nfs_fh3 dir, String name) throws Exception {
        LOOKUP3args la = new LOOKUP3args();
        la.what = NfsCalls.where(dir, name);
        return c.nfs(Nfs3.NFSPROC3_LOOKUP_3, la, new LOOKUP3res()).status;
    }

    private static int access(RpcTestClient c, nfs_fh3 o, int want) throws Exception {
        ACCESS3args aa = new ACCESS3args();
        aa.object = o;
        aa.access = want;
        ACCESS3res r = c.nfs(Nfs3.NFSPROC3_ACCESS_3, aa, new ACCESS3res());
        assertEquals(nfsstat3.NFS3_OK, r.status);
        return r.resok.access;
    }

    /** Shell steps for the layers. */
    static final class Layers {
        static void sh(String cmd) throws Exception {
            Process p = new ProcessBuilder("bash", "-c", cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) throw new AssertionError(cmd + ": " + out);
        }
    }
}
