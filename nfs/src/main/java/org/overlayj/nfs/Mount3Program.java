package org.overlayj.nfs;

import org.dcache.oncrpc4j.rpc.OncRpcException;
import org.dcache.oncrpc4j.rpc.RpcAuthError;
import org.dcache.oncrpc4j.rpc.RpcAuthStat;
import org.dcache.oncrpc4j.rpc.RpcAuthType;
import org.dcache.oncrpc4j.rpc.RpcAuthTypeUnix;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.rpc.RpcRejectStatus;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.overlayj.core.Creds;
import org.overlayj.core.Node;
import org.overlayj.nfs.exports.ClientRule;
import org.overlayj.nfs.exports.Export;
import org.overlayj.nfs.exports.ExportOptions;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.xdr.*;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * MOUNT version 3 (program 100005, RFC 1813 §5): hands out the root handle of an export to a client the export
 * lists, and keeps the advisory mount list DUMP shows.
 */
public final class Mount3Program implements RpcDispatchable {
    private static final Logger log = LoggerFactory.getLogger(Mount3Program.class);

    private final ExportedOverlay x;
    private final NfsStats stats;
    /** (client address, export path) pairs; advisory, as in every MOUNT server. */
    private final Set<Mounted> mounts = ConcurrentHashMap.newKeySet();

    private record Mounted(String host, String path) {}

    Mount3Program(ExportedOverlay exported) {
        this.x = exported;
        this.stats = exported.stats;
    }

    @Override
    public void dispatchOncRpcCall(RpcCall call) throws OncRpcException, IOException {
        if (!x.inFlight.enter()) return;          // stopping: dropped, the client resends to the next instance
        try {
            dispatch(call);
        } finally {
            x.inFlight.exit();
        }
    }

    private void dispatch(RpcCall call) throws OncRpcException, IOException {
        int proc = call.getProcedure();
        stats.mountCall(proc);
        if (proc == Mount3.MOUNTPROC3_NULL_3) {
            call.reply(XdrVoid.XDR_VOID);
            return;
        }
        if (proc < 0 || proc > Mount3.MOUNTPROC3_EXPORT_3) {
            stats.reject();
            call.failProcedureUnavailable();
            return;
        }
        if (call.getCredential().type() != RpcAuthType.UNIX || !(call.getCredential() instanceof RpcAuthTypeUnix)) {
            stats.reject();
            call.reject(RpcRejectStatus.AUTH_ERROR, new RpcAuthError(RpcAuthStat.AUTH_TOOWEAK));
            return;
        }
        InetSocketAddress remote = call.getTransport().getRemoteSocketAddress();
        String host = remote.getAddress().getHostAddress();
        XdrAble reply;
        try {
            switch (proc) {
                case Mount3.MOUNTPROC3_MNT_3 -> reply = mnt(remote, (RpcAuthTypeUnix) call.getCredential(), path(call));
                case Mount3.MOUNTPROC3_DUMP_3 -> reply = dump();
                case Mount3.MOUNTPROC3_UMNT_3 -> {
                    String p = path(call);
                    try {
                        mounts.remove(new Mounted(host, Exports.normalize(p)));
                    } catch (org.overlayj.nfs.exports.ExportsException ignored) {
                        // not a path we could have mounted: nothing to forget
                    }
                    reply = XdrVoid.XDR_VOID;
                }
                case Mount3.MOUNTPROC3_UMNTALL_3 -> {
                    mounts.removeIf(m -> m.host().equals(host));
                    reply = XdrVoid.XDR_VOID;
                }
                case Mount3.MOUNTPROC3_EXPORT_3 -> reply = export();
                default -> throw new IllegalStateException();
            }
        } catch (IOException | RuntimeException e) {
            stats.reject();
            log.debug("garbage arguments for MOUNT procedure {} from {}: {}", proc, remote, e.toString());
            call.failRpcGarbage();
            return;
        }
        call.reply(reply);
    }

    private static String path(RpcCall call) throws IOException {
        dirpath p = new dirpath();
        call.retrieveCall(p);
        if (p.value == null || p.value.length > Mount3.MNTPATHLEN) throw new IOException("bad dirpath");
        // Some clients (libnfs for a file URL at the top) mount "": the top of the export tree.
        return p.value.length == 0 ? "/" : new String(p.value, StandardCharsets.UTF_8);
    }

    private mountres3 mnt(InetSocketAddress remote, RpcAuthTypeUnix auth, String path) {
        mountres3 res = new mountres3();
        Optional<Exports.Within> w = x.exports.containing(path);
        if (w.isEmpty()) return mntFail(res, mountstat3.MNT3ERR_NOENT, remote, path, "not exported");
        Export e = w.get().export();
        Optional<ExportOptions> o = e.optionsFor(remote.getAddress());
        if (o.isEmpty()) return mntFail(res, mountstat3.MNT3ERR_ACCES, remote, path, "client not in the export list");
        if (o.get().secure() && remote.getPort() >= 1024)
            return mntFail(res, mountstat3.MNT3ERR_PERM, remote, path, "insecure source port " + remote.getPort());
        int id = x.exports.idOf(e);
        Node n = x.root(id);
        try {
            // A directory below the export root: walked as the (squashed) caller, as a client's LOOKUPs would be.
            Creds c = o.get().squash(auth.uid(), auth.gid(), auth.gids());
            for (String part : w.get().rest().split("/")) {
                if (!part.isEmpty()) n = x.overlay.lookup(n, Linux.fromUtf8(part), c);
            }
            // the node's type, known since its lookup: no stat of it again (nfs-cp mounts a directory per file)
            if (!n.isDir()) return mntFail(res, mountstat3.MNT3ERR_NOTDIR, remote, path, "not a directory");
        } catch (ErrnoException ex) {
            int stat = switch (ex.errno()) {
                case Errno.ENOENT -> mountstat3.MNT3ERR_NOENT;
                case Errno.EACCES, Errno.EPERM -> mountstat3.MNT3ERR_ACCES;
                case Errno.ENOTDIR -> mountstat3.MNT3ERR_NOTDIR;
                case Errno.ENAMETOOLONG -> mountstat3.MNT3ERR_NAMETOOLONG;
                default -> mountstat3.MNT3ERR_IO;
            };
            return mntFail(res, stat, remote, path, ex.getMessage());
        }
        try {
            res.mountinfo = new mountres3_ok();
            res.mountinfo.fhandle = new fhandle3(x.handle(id, n));
            res.mountinfo.auth_flavors = new int[]{RpcAuthType.UNIX};
        } catch (Exception ex) {
            log.warn("MNT {}: cannot encode the handle", path, ex);
            return mntFail(res, mountstat3.MNT3ERR_SERVERFAULT, remote, path, ex.getMessage());
        }
        res.fhs_status = mountstat3.MNT3_OK;
        String mounted = w.get().rest().isEmpty() ? e.path() : (e.path().equals("/") ? "" : e.path()) + "/" + w.get().rest();
        mounts.add(new Mounted(remote.getAddress().getHostAddress(), mounted));
        // debug, not info: a client such as nfs-cp mounts once per file it copies, and a log line per MNT was a
        // formatted, flushed stderr write on the I/O thread for each; DUMP lists the mounts.
        log.debug("MNT {} by {}", mounted, remote);
        return res;
    }

    private mountres3 mntFail(mountres3 res, int stat, InetSocketAddress remote, String path, String why) {
        stats.error();
        log.info("MNT {} by {} refused: {}", path, remote, why);
        res.fhs_status = stat;
        res.mountinfo = null;
        return res;
    }

    private mountopt dump() {
        mountopt r = new mountopt();
        for (Mounted m : mounts) {
            mountbody b = new mountbody();
            b.ml_hostname = new name(m.host().getBytes(StandardCharsets.UTF_8));
            b.ml_directory = new dirpath(m.path().getBytes(StandardCharsets.UTF_8));
            b.ml_next = r.list;
            r.list = b;
        }
        return r;
    }

    private exportsopt export() {
        exportsopt r = new exportsopt();
        exportnode tail = null;
        for (Export e : x.exports.exports()) {
            exportnode n = new exportnode();
            n.ex_dir = new dirpath(e.path().getBytes(StandardCharsets.UTF_8));
            groupnode gt = null;
            for (ClientRule c : e.clients()) {
                groupnode g = new groupnode();
                g.gr_name = new name(c.client().toString().getBytes(StandardCharsets.UTF_8));
                if (gt == null) n.ex_groups = g; else gt.gr_next = g;
                gt = g;
            }
            if (tail == null) r.list = n; else tail.ex_next = n;
            tail = n;
        }
        return r;
    }
}
