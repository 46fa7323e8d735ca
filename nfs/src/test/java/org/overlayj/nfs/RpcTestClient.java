package org.overlayj.nfs;

import org.dcache.oncrpc4j.rpc.OncRpcClient;
import org.dcache.oncrpc4j.rpc.RpcAuth;
import org.dcache.oncrpc4j.rpc.RpcAuthTypeNone;
import org.dcache.oncrpc4j.rpc.RpcAuthTypeUnix;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.overlayj.nfs.xdr.*;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** An oncrpc4j client speaking our generated XDR classes: what the protocol tests call the server with. */
final class RpcTestClient implements AutoCloseable {
    private final OncRpcClient client;
    private final RpcTransport transport;
    private final RpcAuth auth;

    RpcTestClient(int port, RpcAuth auth) throws IOException {
        client = new OncRpcClient(InetAddress.getLoopbackAddress(), IpProtocolType.TCP, port);
        transport = client.connect(10, TimeUnit.SECONDS);
        this.auth = auth;
    }

    static RpcAuth unix(int uid, int gid) { return new RpcAuthTypeUnix(uid, gid, new int[]{gid}, 0, "test"); }

    static RpcAuth none() { return new RpcAuthTypeNone(); }

    <T extends XdrAble> T nfs(int proc, XdrAble args, T result) throws Exception {
        new RpcCall(Nfs3.NFS_PROGRAM, Nfs3.NFS_V3, auth, transport).call(proc, args, result, 30, TimeUnit.SECONDS);
        return result;
    }

    <T extends XdrAble> T mount(int proc, XdrAble args, T result) throws Exception {
        new RpcCall(Mount3.MOUNT_PROGRAM, Mount3.MOUNT_V3, auth, transport).call(proc, args, result, 30, TimeUnit.SECONDS);
        return result;
    }

    void nfsNull() throws Exception { nfs(Nfs3.NFSPROC3_NULL_3, XdrVoid.XDR_VOID, XdrVoid.XDR_VOID); }

    mountres3 mnt(String path) throws Exception {
        return mount(Mount3.MOUNTPROC3_MNT_3, new dirpath(path.getBytes(StandardCharsets.UTF_8)), new mountres3());
    }

    nfs_fh3 rootHandle(String path) throws Exception {
        mountres3 r = mnt(path);
        if (r.fhs_status != mountstat3.MNT3_OK) throw new AssertionError("MNT " + path + ": " + r.fhs_status);
        nfs_fh3 fh = new nfs_fh3();
        fh.data = r.mountinfo.fhandle.value;
        return fh;
    }

    @Override public void close() throws IOException {
        client.close();
    }
}
