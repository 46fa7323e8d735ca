package org.overlayj.nfs;

import org.dcache.oncrpc4j.rpc.OncRpcClient;
import org.dcache.oncrpc4j.rpc.OncRpcRejectedException;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;
import org.overlayj.sys.Linux;

import java.net.BindException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Export rules as a client meets them: who may mount, ro, squash, secure ports, AUTH_NONE. */
class ExportSecurityTest {

    private static nfs_fh3 asFh(mountres3 r) {
        nfs_fh3 f = new nfs_fh3();
        f.data = r.mountinfo.fhandle.value;
        return f;
    }

    private static CREATE3args createArgs(nfs_fh3 dir, String name) {
        CREATE3args a = new CREATE3args();
        a.where = new diropargs3();
        a.where.dir = dir;
        a.where.name = name.getBytes(StandardCharsets.UTF_8);
        a.how = new createhow3();
        a.how.mode = createmode3.GUARDED;
        a.how.obj_attributes = new sattr3();
        a.how.obj_attributes.mode = new set_mode3();
        a.how.obj_attributes.uid = new set_uid3();
        a.how.obj_attributes.gid = new set_gid3();
        a.how.obj_attributes.size = new set_size3();
        a.how.obj_attributes.atime = new set_atime();
        a.how.obj_attributes.mtime = new set_mtime();
        return a;
    }

    @Test
    void clientNotListedIsRefusedAtMount() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 10.0.0.0/8(rw,insecure)\n");
             RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(1000, 1000))) {
            assertEquals(mountstat3.MNT3ERR_ACCES, c.mnt("/").fhs_status);
            // A handle it got some other way (valid for this export) is refused on every NFS call that takes one.
            nfs_fh3 root = new nfs_fh3();
            root.data = FileHandles.encode(0, t.overlay.encodeHandle(t.overlay.root()));
            GETATTR3args ga = new GETATTR3args();
            ga.object = root;
            assertEquals(nfsstat3.NFS3ERR_ACCES, c.nfs(Nfs3.NFSPROC3_GETATTR_3, ga, new GETATTR3res()).status);
            LOOKUP3args la = new LOOKUP3args();
            la.what = NfsCalls.where(root, "hello.txt");
            assertEquals(nfsstat3.NFS3ERR_ACCES, c.nfs(Nfs3.NFSPROC3_LOOKUP_3, la, new LOOKUP3res()).status);
            assertEquals(nfsstat3.NFS3ERR_ACCES, c.nfs(Nfs3.NFSPROC3_CREATE_3, createArgs(root, "x"), new CREATE3res()).status);
            READDIRPLUS3args rd = new READDIRPLUS3args();
            rd.dir = root;
            rd.cookieverf = new byte[8];
            rd.dircount = 4096;
            rd.maxcount = 8192;
            assertEquals(nfsstat3.NFS3ERR_ACCES, c.nfs(Nfs3.NFSPROC3_READDIRPLUS_3, rd, new READDIRPLUS3res()).status);
            assertFalse(Files.exists(t.upper.resolve("x")), "nothing was created");
        }
    }

    @Test
    void readOnlyExportGivesRofs() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(ro,no_root_squash,insecure)\n");
             RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
            nfs_fh3 root = c.rootHandle("/");
            CREATE3res r = c.nfs(Nfs3.NFSPROC3_CREATE_3, createArgs(root, "x"), new CREATE3res());
            assertEquals(nfsstat3.NFS3ERR_ROFS, r.status);
            ACCESS3args aa = new ACCESS3args();
            aa.object = root;
            aa.access = Nfs3.ACCESS3_MODIFY | Nfs3.ACCESS3_READ;
            assertEquals(Nfs3.ACCESS3_READ, c.nfs(Nfs3.NFSPROC3_ACCESS_3, aa, new ACCESS3res()).resok.access);
            assertFalse(Files.exists(t.upper.resolve("x")));
        }
    }

    @Test
    void rootSquashMapsUidZero() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,root_squash,anonuid=4242,anongid=4343,insecure)\n")) {
            Linux.chmod(t.upper.toString(), 01777);
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                nfs_fh3 root = c.rootHandle("/");
                CREATE3res r = c.nfs(Nfs3.NFSPROC3_CREATE_3, createArgs(root, "squashed"), new CREATE3res());
                assertEquals(nfsstat3.NFS3_OK, r.status);
                assertEquals(4242, r.resok.obj_attributes.attributes.uid);
                var st = Linux.lstat(t.upper.resolve("squashed").toString());
                assertEquals(4242, st.uid());
                assertEquals(4343, st.gid());
                // root's privilege is gone: a root-only file cannot be read
                Files.writeString(t.upper.resolve("secret"), "s");
                Linux.chmod(t.upper.resolve("secret").toString(), 0600);
                LOOKUP3args la = new LOOKUP3args();
                la.what = new diropargs3();
                la.what.dir = root;
                la.what.name = "secret".getBytes(StandardCharsets.UTF_8);
                nfs_fh3 secret = c.nfs(Nfs3.NFSPROC3_LOOKUP_3, la, new LOOKUP3res()).resok.object;
                READ3args ra = new READ3args();
                ra.file = secret;
                ra.count = 10;
                assertEquals(nfsstat3.NFS3ERR_ACCES, c.nfs(Nfs3.NFSPROC3_READ_3, ra, new READ3res()).status);
            }
        }
    }

    @Test
    void secureExportRefusesUnprivilegedPortsAndAcceptsPrivilegedOnes() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,secure)\n")) {
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                assertEquals(mountstat3.MNT3ERR_PERM, c.mnt("/").fhs_status);
            }
            // From a reserved port (we are root) the same client mounts.
            OncRpcClient priv = null;
            for (int p = 700; p < 1000 && priv == null; p += 7) {
                try {
                    OncRpcClient cand = new OncRpcClient(InetAddress.getLoopbackAddress(), IpProtocolType.TCP, t.port(), p);
                    RpcTransport tr = cand.connect(10, TimeUnit.SECONDS);
                    priv = cand;
                    mountres3 r = new mountres3();
                    new RpcCall(Mount3.MOUNT_PROGRAM, Mount3.MOUNT_V3, RpcTestClient.unix(0, 0), tr)
                            .call(Mount3.MOUNTPROC3_MNT_3, new dirpath("/".getBytes(StandardCharsets.UTF_8)), r,
                                    30, TimeUnit.SECONDS);
                    assertEquals(mountstat3.MNT3_OK, r.fhs_status);
                    // a handle obtained legitimately is still refused from an unprivileged port
                    try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                        GETATTR3args ga = new GETATTR3args();
                        ga.object = asFh(r);
                        assertEquals(nfsstat3.NFS3ERR_PERM, c.nfs(Nfs3.NFSPROC3_GETATTR_3, ga, new GETATTR3res()).status);
                    }
                } catch (BindException e) {
                    // port in use: try the next one
                } finally {
                    if (priv != null) priv.close();
                }
            }
            assertNotNull(priv, "no free reserved port to test from");
        }
    }

    @Test
    void authNoneOnlyForNull() throws Exception {
        try (TestOverlay t = new TestOverlay(null)) {
            nfs_fh3 root;
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                root = c.rootHandle("/");
            }
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.none())) {
                c.nfsNull();
                c.mount(Mount3.MOUNTPROC3_NULL_3, XdrVoid.XDR_VOID, XdrVoid.XDR_VOID);
                GETATTR3args ga = new GETATTR3args();
                ga.object = root;
                assertThrows(OncRpcRejectedException.class, () -> c.nfs(Nfs3.NFSPROC3_GETATTR_3, ga, new GETATTR3res()));
                assertThrows(OncRpcRejectedException.class, () -> c.mnt("/"));
            }
            assertTrue(t.server.stats().rejected() >= 2);
        }
    }

    @Test
    void aWriteByAnotherThanRootClearsSetuidAsKnfsdDoes() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n")) {
            for (String f : new String[]{"mine", "roots"}) {
                Files.writeString(t.upper.resolve(f), "x");
                Linux.lchown(t.upper.resolve(f).toString(), f.equals("mine") ? 1000 : 0, 1000);
                Linux.chmod(t.upper.resolve(f).toString(), f.equals("mine") ? 06755 : 06777);
            }
            try (NfsCalls user = new NfsCalls(t.port(), 1000, 1000); NfsCalls root = new NfsCalls(t.port(), 0, 0)) {
                user.write(user.lookup(user.root("/"), "mine"), 1, "y".getBytes(), stable_how.FILE_SYNC);
                assertEquals(0755, Linux.lstat(t.upper.resolve("mine").toString()).perm(), "set-id bits cleared");
                root.write(root.lookup(root.root("/"), "roots"), 1, "y".getBytes(), stable_how.FILE_SYNC);
                assertEquals(06777, Linux.lstat(t.upper.resolve("roots").toString()).perm(), "root keeps them");
            }
        }
    }
}
