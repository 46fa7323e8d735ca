package org.overlayj.nfs;

import org.dcache.oncrpc4j.rpc.OncRpcException;
import org.dcache.oncrpc4j.rpc.RpcAuthError;
import org.dcache.oncrpc4j.rpc.RpcAuthStat;
import org.dcache.oncrpc4j.rpc.RpcAuthTypeUnix;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.rpc.RpcRejectStatus;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.overlayj.core.Attr;
import org.overlayj.core.Creds;
import org.overlayj.core.DirEntry;
import org.overlayj.core.Found;
import org.overlayj.core.Node;
import org.overlayj.core.OpenFile;
import org.overlayj.core.Overlay;
import org.overlayj.core.SetAttr;
import org.overlayj.nfs.rpc.RpcTcpServer;
import org.overlayj.nfs.rpc.SplicedData;
import org.overlayj.nfs.rpc.ReplyXdr;
import org.overlayj.nfs.xdr.*;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.StatFs;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * NFS version 3 (program 100003), the 22 procedures of RFC 1813 §3.3 mapped onto engine calls. Every call except
 * NULL needs AUTH_SYS; its uid/gid/groups go through the export's squash rule and then to the engine, which does
 * the permission checks. READ, WRITE and truncation ask the engine for knfsd's owner override: the client checked
 * the mode when its process opened the file, so the owner may go on writing a file it created 0444 (git's objects,
 * tar, cp -p) or ftruncate one it made 0; ACCESS, what the client asks at open, gets no override. The door owns only what NFS adds: handles, exports, wcc data, cookies, verifiers.
 */
public final class Nfs3Program implements RpcDispatchable {
    private static final Logger log = LoggerFactory.getLogger(Nfs3Program.class);

    /**
     * Largest READ/WRITE payload and READDIR reply we handle; FSINFO tells clients so. 1 MiB, as knfsd and
     * nfs-ganesha offer: clients size their calls by it, and every call costs a round trip and a pass through
     * the engine, so 256 KiB meant four times the calls for the same bytes. XdrBounds.MAX_ITEM must stay at least
     * this large.
     */
    static final int MAX_IO = 1024 * 1024;
    static final int DIR_PREF = 64 * 1024;
    static final int NAME_MAX = 255;
    private static final int READDIR_BATCH = 128;

    private final ExportedOverlay x;
    private final Overlay fs;
    private final NfsStats stats;
    /** Where calls that may wait on the disk run; see {@link #mayBlock}. */
    private final Executor workers;

    Nfs3Program(ExportedOverlay exported, Executor workers) {
        this.x = exported;
        this.fs = exported.overlay;
        this.stats = exported.stats;
        this.workers = workers;
    }

    /**
     * The procedures that move file data, sync, copy up, or walk whole directories: they go to the worker pool,
     * so a long one (a COMMIT of a large file, a READ from a cold disk, a copy-up) holds up no other connection.
     * The rest (NULL, GETATTR, LOOKUP, ACCESS, READLINK, FSSTAT, FSINFO, PATHCONF) are a few cached metadata
     * reads: they are answered on the I/O thread that decoded them, which saves the hand-off to a worker and
     * back (two thread wake-ups, most of the cost of such a call on a busy machine) and keeps a call's order.
     */
    static boolean mayBlock(int proc) {
        return switch (proc) {
            case Nfs3.NFSPROC3_NULL_3, Nfs3.NFSPROC3_GETATTR_3, Nfs3.NFSPROC3_LOOKUP_3, Nfs3.NFSPROC3_ACCESS_3,
                 Nfs3.NFSPROC3_READLINK_3, Nfs3.NFSPROC3_FSSTAT_3, Nfs3.NFSPROC3_FSINFO_3,
                 Nfs3.NFSPROC3_PATHCONF_3 -> false;
            default -> true;
        };
    }

    /**
     * Whether a call that may block is served on the connection's own thread: on a platform thread with no other
     * call of its connection waiting (RpcTcpServer#servesBlockingCalls), the hand-off to a worker would only add a
     * thread wake-up to the client's wait. Not COMMIT (an fsync can take seconds, and calls the client sends
     * meanwhile would wait behind it).
     * WRITE is served here by default: its record was read off the socket into a native buffer by this thread, and
     * a worker on the other CPU then had to pull the whole 1 MiB out of this CPU's cache for its pwrite, and this
     * thread pull it back for the next record: on the idle 2-vCPU VM (2026-12-07, bench/README "nfswrite") the
     * socket copy cost 4-5x as much per byte on the workers (perf: _copy_to_iter 260 against 51 ms per 512 MiB),
     * and a fresh server's CPU per 512 MiB written was 585 against 395 ms (median of 6 alternated, ganesha 300),
     * wall 0.86 against 0.70 s (ganesha 0.67). -Doverlayj.nfs.writeInline=false hands WRITE to the workers again
     * (on a loaded machine, 2026-12-06, serving it here had cost more wall time for the same CPU: not understood).
     * A large READ is served here when its pages are all in the page cache (see {@link #dispatchOncRpcCall}); one
     * that would wait on the disk goes to the workers. -Doverlayj.nfs.dataInline=true serves every READ here, for
     * measuring.
     */
    private static boolean servedHere(int proc) {
        return mayServeHere(proc) && RpcTcpServer.servesBlockingCalls();
    }

    /** servedHere's rule for the procedure alone (a call that may block), without asking the connection. */
    static boolean mayServeHere(int proc) {
        if (proc == Nfs3.NFSPROC3_COMMIT_3) return false;
        if (!DATA_INLINE && proc == Nfs3.NFSPROC3_READ_3) return false;
        return WRITE_INLINE || proc != Nfs3.NFSPROC3_WRITE_3;
    }

    private static final boolean DATA_INLINE = Boolean.getBoolean("overlayj.nfs.dataInline");
    /** -Doverlayj.nfs.cachedReadInline=false: every large READ to the workers, as before (for an A/B of one build). */
    private static final boolean CACHED_READ_INLINE =
            Boolean.parseBoolean(System.getProperty("overlayj.nfs.cachedReadInline", "true"));

    /**
     * Thrown by {@link #read} on the connection's thread when the READ's pages are not all in the page cache: the
     * call goes to a worker instead, before anything of it was sent or counted.
     */
    private static final class ToWorker extends RuntimeException {
        ToWorker() { super(null, null, false, false); }
    }
    private static final ToWorker TO_WORKER = new ToWorker();
    private static final boolean WRITE_INLINE =
            DATA_INLINE || Boolean.parseBoolean(System.getProperty("overlayj.nfs.writeInline", "true"));

    /** Garbage arguments: answered GARBAGE_ARGS, not an NFS status. */
    private static final class BadArgs extends Exception {
        BadArgs(Throwable cause) { super(cause.toString(), cause, false, false); }
    }

    /** The call's origin and raw AUTH_SYS identity; squash depends on the export, so it comes later. */
    private record Request(InetSocketAddress remote, int uid, int gid, int[] gids) {}

    /**
     * A file handle of the call resolved: the export rules it runs under, the engine node, and the node's
     * attributes as resolving read them (null if that failed). Each system call costs about 10 us here, so a
     * procedure uses these, see {@link #attr}, instead of reading them again.
     */
    private record Target(ExportedOverlay.Caller caller, Node node, Attr attr) {
        Creds creds() { return caller.creds(); }
    }

    @Override
    public void dispatchOncRpcCall(RpcCall call) throws OncRpcException, IOException {
        if (!x.inFlight.enter()) return;          // stopping: dropped, the client resends to the next instance
        int proc = call.getProcedure();
        Object pre = null;
        boolean here = !mayBlock(proc), mayDefer = false;
        if (!here && proc == Nfs3.NFSPROC3_READ_3 && !DATA_INLINE && call.getCredential() instanceof RpcAuthTypeUnix) {
            // A small READ (a small file's whole content: nfs-cp of a tree) is one pread of a few pages: handing
            // it to a worker cost more than serving it (a futex wake and a thread switch, and when the client
            // closed the connection right after the reply, the close found the worker still registered in the
            // channel's write and signalled it: dup2, tgkill, a signal frame; strace of one nfs-cp). Its
            // arguments are decoded here to see the count; a large READ takes them along to the worker.
            //
            // A large READ is served here too when nothing waits behind it and its pages are all in the page cache
            // (read() looks, and throws ToWorker when they are not): the splice then waits on nothing, and the
            // hand-off to a worker was a thread wake-up per READ, on this VM one more wake-up across CPUs for the
            // client as well (a worker's reply, sent while the client ran on the other CPU, woke it two to seven
            // times per 1 MiB READ: nfs-read-ab READ=warm, cached 512 MiB read 0.27 s against 0.42, median of 18,
            // 2026-12-07; bench/README). A READ that would wait on the disk still goes to a worker, so that the
            // calls a client sends meanwhile (a kernel client's READs in flight) are not held up behind it.
            pre = preDecodedRead(call);
            if (pre instanceof READ3args a && (a.count & 0xffffffffL) >= SPLICE_MIN) {
                mayDefer = CACHED_READ_INLINE;
                here = CACHED_READ_INLINE && RpcTcpServer.servesBlockingCalls();
            } else {
                here = !(pre instanceof READ3args) || RpcTcpServer.servesBlockingCalls();
            }
        } else if (!here) {
            here = servedHere(proc);
        }
        if (!here) {
            if (!toWorkers(call, pre)) x.inFlight.exit();      // the pool is gone: stopping, as above
            return;
        }
        boolean handed = false;
        try {
            dispatch(call, pre, mayDefer);
        } catch (ToWorker w) {
            stats.readToWorkers();
            handed = toWorkers(call, pre);
        } finally {
            if (!handed) x.inFlight.exit();
        }
    }

    /** Hands the call to the worker pool; false when the pool is gone (the server stopping: the call is dropped). */
    private boolean toWorkers(RpcCall call, Object pre) {
        try {
            workers.execute(() -> onWorker(call, pre));
            return true;
        } catch (RejectedExecutionException e) {
            return false;
        }
    }

    /** A READ's arguments decoded ahead of serve(), or the BadArgs their decoding threw (answered by serve()). */
    private static Object preDecodedRead(RpcCall call) {
        try {
            return args(call, new READ3args());
        } catch (BadArgs e) {
            return e;
        }
    }

    private void onWorker(RpcCall call, Object pre) {
        try {
            dispatch(call, pre, false);
        } catch (IOException | RuntimeException e) {
            // What oncrpc4j answers for a call that fails this way on its own threads.
            log.error("NFS procedure {} failed", call.getProcedure(), e);
            call.failRpcSystem();
        } finally {
            x.inFlight.exit();
        }
    }

    /**
     * {@code pre}: the call's arguments when they were decoded already (a READ's, or the BadArgs of their decoding).
     * {@code mayDefer}: a READ whose pages are not all cached throws ToWorker, uncounted and unanswered.
     */
    private void dispatch(RpcCall call, Object pre, boolean mayDefer) throws OncRpcException, IOException {
        int proc = call.getProcedure();
        if (!mayDefer) stats.nfsCall(proc);                // else counted by read() once it is served here
        long t0 = System.nanoTime();
        boolean deferred = false;
        try {
            serve(call, proc, pre, mayDefer);
        } catch (ToWorker w) {
            deferred = true;
            throw w;
        } finally {
            if (!deferred) stats.nfsTime(proc, System.nanoTime() - t0);
        }
    }

    private void serve(RpcCall call, int proc, Object pre, boolean mayDefer) throws OncRpcException, IOException {
        if (proc == Nfs3.NFSPROC3_NULL_3) {
            call.reply(XdrVoid.XDR_VOID);
            return;
        }
        if (proc < 0 || proc > Nfs3.NFSPROC3_COMMIT_3) {
            stats.reject();
            call.failProcedureUnavailable();
            return;
        }
        if (!(call.getCredential() instanceof RpcAuthTypeUnix unix)) {
            // RFC 1813 §4.4 lets a server refuse weak flavors; AUTH_NONE would leave the engine no identity.
            stats.reject();
            call.reject(RpcRejectStatus.AUTH_ERROR, new RpcAuthError(RpcAuthStat.AUTH_TOOWEAK));
            return;
        }
        Request r = new Request(call.getTransport().getRemoteSocketAddress(), unix.uid(), unix.gid(), unix.gids());
        XdrAble result;
        try {
            result = switch (proc) {
                case Nfs3.NFSPROC3_GETATTR_3 -> getattr(r, args(call, new GETATTR3args()));
                case Nfs3.NFSPROC3_SETATTR_3 -> setattr(r, args(call, new SETATTR3args()));
                case Nfs3.NFSPROC3_LOOKUP_3 -> lookup(r, args(call, new LOOKUP3args()));
                case Nfs3.NFSPROC3_ACCESS_3 -> access(r, args(call, new ACCESS3args()));
                case Nfs3.NFSPROC3_READLINK_3 -> readlink(r, args(call, new READLINK3args()));
                case Nfs3.NFSPROC3_READ_3 -> read(r, pre == null ? args(call, new READ3args()) : decoded(pre, READ3args.class),
                        call.getTransport(), mayDefer);
                case Nfs3.NFSPROC3_WRITE_3 -> write(r, args(call, new WriteArgs()));
                case Nfs3.NFSPROC3_CREATE_3 -> create(r, args(call, new CREATE3args()));
                case Nfs3.NFSPROC3_MKDIR_3 -> mkdir(r, args(call, new MKDIR3args()));
                case Nfs3.NFSPROC3_SYMLINK_3 -> symlink(r, args(call, new SYMLINK3args()));
                case Nfs3.NFSPROC3_MKNOD_3 -> mknod(r, args(call, new MKNOD3args()));
                case Nfs3.NFSPROC3_REMOVE_3 -> remove(r, args(call, new REMOVE3args()), false);
                case Nfs3.NFSPROC3_RMDIR_3 -> remove(r, args(call, new REMOVE3args()), true);
                case Nfs3.NFSPROC3_RENAME_3 -> rename(r, args(call, new RENAME3args()));
                case Nfs3.NFSPROC3_LINK_3 -> link(r, args(call, new LINK3args()));
                case Nfs3.NFSPROC3_READDIR_3 -> readdir(r, args(call, new READDIR3args()));
                case Nfs3.NFSPROC3_READDIRPLUS_3 -> readdirplus(r, args(call, new READDIRPLUS3args()));
                case Nfs3.NFSPROC3_FSSTAT_3 -> fsstat(r, args(call, new FSSTAT3args()));
                case Nfs3.NFSPROC3_FSINFO_3 -> fsinfo(r, args(call, new FSINFO3args()));
                case Nfs3.NFSPROC3_PATHCONF_3 -> pathconf(r, args(call, new PATHCONF3args()));
                case Nfs3.NFSPROC3_COMMIT_3 -> commit(r, args(call, new COMMIT3args()));
                default -> throw new IllegalStateException();
            };
        } catch (BadArgs e) {
            stats.reject();
            log.debug("garbage arguments for NFS procedure {} from {}: {}", proc, r.remote(), e.getMessage());
            call.failRpcGarbage();
            return;
        }
        // the reply's own size, reserved at once (ReplyXdr): READDIRPLUS replies are up to maxcount bytes
        if (result instanceof READDIRPLUS3res res) ReplyXdr.reserve(call, REPLY_HEADER + size(res));
        call.reply(result);
    }

    /** The RPC reply header before the procedure's result, with the largest verifier (AUTH_SYS sends none). */
    private static final int REPLY_HEADER = 4 * 6 + 400;

    /** XDR size of a READDIRPLUS result (as {@link #readdirplus} counts it). */
    private static int size(READDIRPLUS3res res) {
        if (res.resok == null) return 4 + 4 + 84;
        int size = 4 + 4 + 84 + 8 + 4 + 4;
        for (entryplus3 e = res.resok.reply.entries; e != null; e = e.nextentry) {
            size += 4 + 8 + xdrLen(e.name.length) + 8 + (e.name_attributes.attributes_follow ? 88 : 4)
                    + (e.name_handle.handle_follows ? 4 + xdrLen(e.name_handle.handle.data.length) : 4);
        }
        return size;
    }

    private static <T extends XdrAble> T decoded(Object pre, Class<T> type) throws BadArgs {
        if (pre instanceof BadArgs e) throw e;
        return type.cast(pre);
    }

    private static <T extends XdrAble> T args(RpcCall call, T args) throws BadArgs {
        try {
            call.retrieveCall(args);
            return args;
        } catch (IOException | RuntimeException e) {
            // Truncated or inconsistent XDR, lengths past the message end, negative sizes.
            throw new BadArgs(e);
        }
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    private int fail(Exception e) {
        int stat = NfsStatus.of(e);
        stats.error();
        if (stat == nfsstat3.NFS3ERR_SERVERFAULT) log.warn("NFS procedure failed", e);
        else log.debug("NFS status {}: {}", NfsErrors.name(stat), e.getMessage());
        return stat;
    }

    private Target target(Request r, nfs_fh3 fh) throws NfsStatus {
        if (fh == null || fh.data == null) throw new NfsStatus(nfsstat3.NFS3ERR_BADHANDLE, "no handle");
        FileHandles.Decoded d = ExportedOverlay.decode(fh.data);
        ExportedOverlay.Caller c = x.caller(d.exportId(), r.remote(), r.uid(), r.gid(), r.gids());
        ExportedOverlay.Resolved n = x.node(d);
        return new Target(c, n.node(), n.attr());
    }

    /** The target's attributes read while resolving its handle (the pre-operation attributes of wcc data). */
    private Attr attr(Target t) throws ErrnoException {
        return t.attr() != null ? t.attr() : fs.getattr(t.node());
    }

    private nfs_fh3 fh(Target t, Node n) throws ErrnoException {
        nfs_fh3 h = new nfs_fh3();
        h.data = x.handle(t.caller().exportId(), n);
        return h;
    }

    /** Attributes for post-op data: absent rather than failing the call when the object went away. */
    private Attr attrOrNull(Node n) {
        if (n == null) return null;
        try {
            return fs.getattr(n);
        } catch (ErrnoException e) {
            return null;
        }
    }

    private post_op_attr post(Node n) { return NfsAttrs.post(attrOrNull(n), x.fsid); }

    /**
     * Post-op attributes of a call that changes nothing (FSINFO, FSSTAT, PATHCONF): those its handle's resolving
     * read a moment ago, not a second statx (FSINFO is one of the calls every libnfs process, e.g. each nfs-cp,
     * makes on connecting).
     */
    private post_op_attr unchanged(Target t) {
        return t.attr() != null ? NfsAttrs.post(t.attr(), x.fsid) : post(t.node());
    }

    private wcc_data wcc(Attr before, Node n) { return NfsAttrs.wcc(before, attrOrNull(n), x.fsid); }

    private static final wcc_data NO_WCC = NfsAttrs.wcc(null, null, 0);

    /** A name from the wire as an engine byte string; the checks the VFS does before a directory op. */
    private static String name(byte[] raw) throws NfsStatus {
        if (raw == null || raw.length == 0) throw new NfsStatus(nfsstat3.NFS3ERR_ACCES, "empty name");
        if (raw.length > NAME_MAX) throw new NfsStatus(nfsstat3.NFS3ERR_NAMETOOLONG, "name too long");
        for (byte b : raw) if (b == '/' || b == 0) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "'/' or NUL in name");
        return Linux.byteString(raw);
    }

    private static boolean isDot(String n) { return n.equals(".") || n.equals(".."); }

    private static NfsStatus dotRefused(String n, boolean remove) {
        // knfsd answers like the VFS: "." and ".." exist, and removing them is invalid (or busy for "..").
        if (!remove) return new NfsStatus(nfsstat3.NFS3ERR_EXIST, n + " exists");
        return new NfsStatus(n.equals(".") ? nfsstat3.NFS3ERR_INVAL : nfsstat3.NFS3ERR_NOTEMPTY, "cannot remove " + n);
    }

    private static void requireDir(Attr a) throws NfsStatus {
        if (!a.isDir()) throw new NfsStatus(nfsstat3.NFS3ERR_NOTDIR, "not a directory");
    }

    // ---- procedures -----------------------------------------------------------------------------------------

    private GETATTR3res getattr(Request r, GETATTR3args a) {
        GETATTR3res res = new GETATTR3res();
        try {
            Target t = target(r, a.object);
            res.resok = new GETATTR3resok();
            res.resok.obj_attributes = NfsAttrs.fattr(attr(t), x.fsid);
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
        }
        return res;
    }

    private SETATTR3res setattr(Request r, SETATTR3args a) {
        SETATTR3res res = new SETATTR3res();
        Attr before = null;
        Node n = null;
        try {
            Target t = target(r, a.object);
            n = t.node();
            before = attr(t);
            t.caller().checkWritable();
            if (a.guard != null && a.guard.check) {
                // RFC 1813 §3.3.2: the change happens only if the ctime is still the one the client saw.
                if ((before.ctimeSec() & 0xffffffffL) != (a.guard.obj_ctime.seconds & 0xffffffffL)
                        || before.ctimeNsec() != a.guard.obj_ctime.nseconds)
                    throw new NfsStatus(nfsstat3.NFS3ERR_NOT_SYNC, "ctime changed");
            }
            SetAttr s = NfsAttrs.setAttr(a.new_attributes, true);
            if (s != null) {
                if (s.size() != null && before.isDir()) throw new NfsStatus(nfsstat3.NFS3ERR_ISDIR, "truncate dir");
                if (s.size() != null && !before.isReg()) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "truncate non-file");
                x.openFiles.drop(n);
                fs.setattr(n, s, t.creds(), true);
            }
            res.resok = new SETATTR3resok();
            res.resok.obj_wcc = wcc(before, n);
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new SETATTR3resfail();
            res.resfail.obj_wcc = before == null ? NO_WCC : wcc(before, n);
        }
        return res;
    }

    private LOOKUP3res lookup(Request r, LOOKUP3args a) {
        LOOKUP3res res = new LOOKUP3res();
        Node dir = null;
        try {
            Target t = target(r, a.what.dir);
            dir = t.node();
            Attr dirAttr = attr(t);
            requireDir(dirAttr);
            String name = name(a.what.name);
            // the child's attributes from the lookup's own stat (Overlay.lookupAttr), not a second one
            Found f = name.equals(".") || name.equals("..") && dir == x.root(t.caller().exportId())
                    ? new Found(dir, dirAttr) : fs.lookupAttr(dir, name, t.creds());
            res.resok = new LOOKUP3resok();
            res.resok.object = fh(t, f.node());
            res.resok.obj_attributes = NfsAttrs.post(f.attr(), x.fsid);
            // A lookup changes nothing in the directory: its attributes from just before are its post-op ones.
            res.resok.dir_attributes = NfsAttrs.post(dirAttr, x.fsid);
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new LOOKUP3resfail();
            res.resfail.dir_attributes = post(dir);
        }
        return res;
    }

    private boolean allowed(Node n, int mask, Creds c) throws ErrnoException {
        try {
            fs.access(n, mask, c);
            return true;
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EACCES || e.errno() == Errno.EPERM || e.errno() == Errno.EROFS) return false;
            throw e;
        }
    }

    private ACCESS3res access(Request r, ACCESS3args a) {
        ACCESS3res res = new ACCESS3res();
        Node n = null;
        try {
            Target t = target(r, a.object);
            n = t.node();
            Attr attr = attr(t);
            int want = a.access, granted = 0;
            int modify = Nfs3.ACCESS3_MODIFY | Nfs3.ACCESS3_EXTEND | Nfs3.ACCESS3_DELETE;
            if ((want & Nfs3.ACCESS3_READ) != 0 && allowed(n, 4, t.creds())) granted |= Nfs3.ACCESS3_READ;
            if (attr.isDir()) {
                if ((want & Nfs3.ACCESS3_LOOKUP) != 0 && allowed(n, 1, t.creds())) granted |= Nfs3.ACCESS3_LOOKUP;
            } else {
                modify &= ~Nfs3.ACCESS3_DELETE;
                if ((want & Nfs3.ACCESS3_EXECUTE) != 0 && allowed(n, 1, t.creds())) granted |= Nfs3.ACCESS3_EXECUTE;
            }
            if ((want & modify) != 0 && !t.caller().options().readOnly() && allowed(n, 2, t.creds()))
                granted |= want & modify;
            res.resok = new ACCESS3resok();
            res.resok.obj_attributes = NfsAttrs.post(attr, x.fsid);
            res.resok.access = granted;
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new ACCESS3resfail();
            res.resfail.obj_attributes = post(n);
        }
        return res;
    }

    private READLINK3res readlink(Request r, READLINK3args a) {
        READLINK3res res = new READLINK3res();
        Node n = null;
        try {
            Target t = target(r, a.symlink);
            n = t.node();
            if (!attr(t).isLink()) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "not a symlink");
            res.resok = new READLINK3resok();
            res.resok.data = Linux.bytesOf(fs.readlink(n));
            res.resok.symlink_attributes = post(n);
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new READLINK3resfail();
            res.resfail.symlink_attributes = post(n);
        }
        return res;
    }

    /**
     * Each thread's READ buffer, reused from call to call; a new zeroed 1 MiB array per READ was most of a READ's
     * CPU. Native memory: the socket write takes it as it is, where a heap buffer is first copied into a temporary
     * native one by the JDK (one copy of every byte read, besides the one into this buffer). Safe because the ReadReply that points into it is encoded and sent by the same thread, before that
     * thread serves anything else: serve() passes it straight to call.reply, and our transport's send
     * (RpcConnection) returns only once the whole record is in the socket. A transport that queued replies to
     * write them later (grizzly's) would break this; this program runs on RpcTcpServer only.
     */
    private static final ThreadLocal<MemorySegment> READ_BUFFERS =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(MAX_IO, 4096));

    /**
     * READs of at least this many bytes are spliced from the file to the socket (SplicedData) where the transport
     * allows; smaller ones are read into the thread's buffer, where one copy costs less than the pipe's calls.
     */
    static final int SPLICE_MIN = 32 * 1024;

    /** Whether the pages of [offset, offset + count) that the file has are all in the page cache. */
    private static boolean cached(int fd, long offset, int count, long size) {
        long end = Math.min(offset + count, size);
        if (end <= offset) return true;                    // at or past the end: nothing to read
        try {
            return Linux.allCached(fd, offset, end - offset);
        } catch (ErrnoException e) {
            return false;                                  // ENOSYS (before Linux 6.5): cannot tell, the workers read it
        }
    }

    private XdrAble read(Request r, READ3args a, RpcTransport transport, boolean mayDefer) {
        Node n = null;
        boolean counted = !mayDefer;                       // (dispatch counted it unless it may go to a worker)
        try {
            Target t = target(r, a.file);
            n = t.node();
            Attr attr = attr(t);
            if (attr.isDir()) throw new NfsStatus(nfsstat3.NFS3ERR_ISDIR, "read of a directory");
            if (!attr.isReg()) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "read of a special file");
            if (a.offset < 0) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "offset beyond 2^63");
            int count = (int) Math.min(a.count & 0xffffffffL, MAX_IO);
            SplicedData spliced = count >= SPLICE_MIN ? SplicedData.forTransport(transport, MAX_IO) : null;
            ByteBuffer data = null;
            int got = 0;
            OpenFileCache.Lease f = x.openFiles.take(n, false, t.creds(), attr);
            try {
                int fd = fs.dataFd(f.file());
                if (mayDefer) {
                    if (!cached(fd, a.offset, count, attr.size())) throw TO_WORKER;
                    stats.readHere();
                    counted = true;
                }
                // A READ with more of the file after it: the file's stream may read ahead of it (Prefetch), keyed
                // by the node (NFS has no open; the kept fd may change between calls, the node does not).
                if (count >= SPLICE_MIN && a.offset + count < attr.size()) x.prefetch.onRead(n, fd, a.offset, count);
                // The pages go into the pipe by reference: what the reply sends is the file's content as of
                // this splice, as a pread's copy would be (knfsd's READ splices the same way).
                int k = spliced == null ? -1 : spliced.fill(fd, a.offset, count);
                if (k >= 0) {
                    got = k;
                    data = spliced.standIn();
                } else {
                    MemorySegment buf = READ_BUFFERS.get();
                    while (got < count) {
                        long m = Linux.pread(fd, buf.asSlice(got, count - got), a.offset + got);
                        if (m <= 0) break;
                        got += (int) m;
                    }
                    data = buf.asSlice(0, got).asByteBuffer();
                }
            } finally {
                x.openFiles.done(f);
            }
            // A read changes no attribute a client checks its cache by (size, mtime, ctime): the attributes read
            // for the handle a moment ago are its post-op ones, as ganesha answers from its attribute cache.
            stats.read(got);
            return new ReadReply(NfsAttrs.post(attr, x.fsid), a.offset + got >= attr.size(), data);
        } catch (ToWorker w) {
            throw w;
        } catch (Exception e) {
            if (!counted) stats.nfsCall(Nfs3.NFSPROC3_READ_3);   // a failed READ answered here is a call too
            READ3res res = new READ3res();
            res.status = fail(e);
            res.resfail = new READ3resfail();
            res.resfail.file_attributes = post(n);
            return res;
        }
    }

    private WRITE3res write(Request r, WriteArgs a) {
        WRITE3res res = new WRITE3res();
        Attr before = null;
        Node n = null;
        try {
            Target t = target(r, a.file);
            n = t.node();
            before = attr(t);
            t.caller().checkWritable();
            if (before.isDir()) throw new NfsStatus(nfsstat3.NFS3ERR_ISDIR, "write to a directory");
            if (!before.isReg()) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "write to a special file");
            long count = a.count & 0xffffffffL;
            if (a.data == null && a.direct == null || count > a.dataLength)
                throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "count > data");
            if (a.offset < 0 || a.offset + count < 0) throw new NfsStatus(nfsstat3.NFS3ERR_FBIG, "offset too large");
            stats.writeStable(a.stable);
            // As knfsd's write: the client's creds without CAP_FSETID unless it is root (after squashing), so
            // a write clears set-user-ID and (with group-execute, or for a non-member) set-group-ID.
            // (asked only when there is a set-id bit to clear: it reads the attributes again)
            if (!t.creds().isRoot() && (before.mode() & 06000) != 0) fs.killPrivs(n, t::creds);
            int done = 0;
            OpenFileCache.Lease lease = x.openFiles.take(n, true, t.creds(), before);
            OpenFile f = lease.file();
            try {
                if (a.direct != null) {
                    done = (int) fs.write(f, a.offset, MemorySegment.ofBuffer(a.direct).asSlice(0, count));
                } else {
                    while (done < count) {
                        int k = fs.write(f, a.offset + done, a.data, a.dataOffset + done, (int) count - done);
                        if (k <= 0) break;
                        done += k;
                    }
                }
                if (a.stable != stable_how.UNSTABLE) fs.fsync(f, a.stable == stable_how.DATA_SYNC);
            } finally {
                x.openFiles.done(lease);
            }
            res.resok = new WRITE3resok();
            res.resok.count = done;
            res.resok.committed = a.stable;
            res.resok.verf = x.writeVerifier.clone();
            res.resok.file_wcc = wcc(before, n);
            res.status = nfsstat3.NFS3_OK;
            stats.written(done);
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new WRITE3resfail();
            res.resfail.file_wcc = before == null ? NO_WCC : wcc(before, n);
        }
        return res;
    }

    /** A new object's reply: its handle and attributes, and the directory's wcc. */
    private CREATE3res created(Target dir, Attr dirBefore, Node n) throws ErrnoException {
        return created(dir, dirBefore, n, null);
    }

    /** ... with the new object's attributes as made ({@code made}), or read again when null. */
    private CREATE3res created(Target dir, Attr dirBefore, Node n, Attr made) throws ErrnoException {
        CREATE3res res = new CREATE3res();
        res.resok = new CREATE3resok();
        res.resok.obj = new post_op_fh3();
        res.resok.obj.handle_follows = true;
        res.resok.obj.handle = fh(dir, n);
        res.resok.obj_attributes = made != null ? NfsAttrs.post(made, x.fsid) : post(n);
        res.resok.dir_wcc = wcc(dirBefore, dir.node());
        res.status = nfsstat3.NFS3_OK;
        return res;
    }

    private CREATE3res createFailed(Exception e, Attr dirBefore, Node dir) {
        CREATE3res res = new CREATE3res();
        res.status = fail(e);
        res.resfail = new CREATE3resfail();
        res.resfail.dir_wcc = dirBefore == null ? NO_WCC : wcc(dirBefore, dir);
        return res;
    }

    /** The directory of a create-like call, checked: a writable export, a directory, a name that can be made. */
    private record DirOp(Target dir, Attr before, String name) {}

    private DirOp dirOp(Request r, diropargs3 where, Attr[] before, boolean remove) throws Exception {
        Target t = target(r, where.dir);
        before[0] = attr(t);
        requireDir(before[0]);
        String name = name(where.name);
        t.caller().checkWritable();
        if (isDot(name)) throw dotRefused(name, remove);
        return new DirOp(t, before[0], name);
    }

    /** Applies what the create call could not pass to the engine's create (owner, size, times). */
    private void applyRest(Node n, sattr3 s, Creds c) throws ErrnoException {
        SetAttr rest = NfsAttrs.setAttr(s, false);
        if (rest != null) fs.setattr(n, rest, c, true);
    }

    private CREATE3res create(Request r, CREATE3args a) {
        Attr[] before = new Attr[1];
        Node dirNode = null;
        try {
            DirOp d = dirOp(r, a.where, before, false);
            dirNode = d.dir().node();
            Creds c = d.dir().creds();
            Node n;
            if (a.how.mode != createmode3.EXCLUSIVE && NfsAttrs.setAttr(a.how.obj_attributes, false) == null) {
                // Nothing to apply after the create (what clients send: a mode): the engine's own stat of the new
                // file is its post-op attributes, one statx less (createOpen, the file closed again at once).
                Overlay.Created made;
                try {
                    made = fs.createOpen(dirNode, d.name(), NfsAttrs.mode(a.how.obj_attributes, 0644), Linux.O_RDONLY, c);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EEXIST || a.how.mode == createmode3.GUARDED) throw e;
                    made = null;                    // UNCHECKED over an existing file: below
                }
                if (made != null) {
                    fs.release(made.file());
                    return created(d.dir(), d.before(), made.file().node(), made.attr());
                }
            }
            switch (a.how.mode) {
                case createmode3.EXCLUSIVE -> {
                    // The verifier is kept in the new file's atime/mtime seconds (as knfsd does), so a retried
                    // CREATE finds its own file; the client then sets the real attributes with SETATTR.
                    long v1 = readInt(a.how.verf, 0) & 0xffffffffL, v2 = readInt(a.how.verf, 4) & 0xffffffffL;
                    try {
                        n = fs.create(dirNode, d.name(), 0600, c);
                        fs.setattr(n, SetAttr.times(v1, 0L, v2, 0L), c);
                    } catch (ErrnoException e) {
                        if (e.errno() != Errno.EEXIST) throw e;
                        n = fs.lookup(dirNode, d.name(), c);
                        Attr ex = fs.getattr(n);
                        if (!ex.isReg() || (ex.atimeSec() & 0xffffffffL) != v1 || (ex.mtimeSec() & 0xffffffffL) != v2)
                            throw e;
                    }
                }
                case createmode3.GUARDED -> {
                    n = fs.create(dirNode, d.name(), NfsAttrs.mode(a.how.obj_attributes, 0644), c);
                    applyRest(n, a.how.obj_attributes, c);
                }
                case createmode3.UNCHECKED -> {
                    try {
                        n = fs.create(dirNode, d.name(), NfsAttrs.mode(a.how.obj_attributes, 0644), c);
                        applyRest(n, a.how.obj_attributes, c);
                    } catch (ErrnoException e) {
                        // UNCHECKED creates over an existing file: only a size (truncate) is applied to it.
                        if (e.errno() != Errno.EEXIST) throw e;
                        n = fs.lookup(dirNode, d.name(), c);
                        if (!fs.getattr(n).isReg()) throw e;
                        sattr3 s = a.how.obj_attributes;
                        if (s != null && s.size != null && s.size.set_it)
                            fs.setattr(n, SetAttr.truncate(s.size.size), c, true);
                    }
                }
                default -> throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "create mode " + a.how.mode);
            }
            return created(d.dir(), d.before(), n);
        } catch (Exception e) {
            return createFailed(e, before[0], dirNode);
        }
    }

    private static int readInt(byte[] b, int off) {
        return (b[off] & 0xff) << 24 | (b[off + 1] & 0xff) << 16 | (b[off + 2] & 0xff) << 8 | (b[off + 3] & 0xff);
    }

    private CREATE3res mkdir(Request r, MKDIR3args a) {
        Attr[] before = new Attr[1];
        Node dirNode = null;
        try {
            DirOp d = dirOp(r, a.where, before, false);
            dirNode = d.dir().node();
            Node n = fs.mkdir(dirNode, d.name(), NfsAttrs.mode(a.attributes, 0755), d.dir().creds());
            applyRest(n, a.attributes, d.dir().creds());
            return created(d.dir(), d.before(), n);
        } catch (Exception e) {
            return createFailed(e, before[0], dirNode);
        }
    }

    private CREATE3res symlink(Request r, SYMLINK3args a) {
        Attr[] before = new Attr[1];
        Node dirNode = null;
        try {
            DirOp d = dirOp(r, a.where, before, false);
            dirNode = d.dir().node();
            byte[] target = a.symlink.symlink_data;
            if (target == null || target.length == 0) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "empty target");
            if (target.length > 4095) throw new NfsStatus(nfsstat3.NFS3ERR_NAMETOOLONG, "target too long");
            Node n = fs.symlink(dirNode, d.name(), Linux.byteString(target), d.dir().creds());
            applyRest(n, a.symlink.symlink_attributes, d.dir().creds());
            return created(d.dir(), d.before(), n);
        } catch (Exception e) {
            return createFailed(e, before[0], dirNode);
        }
    }

    private CREATE3res mknod(Request r, MKNOD3args a) {
        Attr[] before = new Attr[1];
        Node dirNode = null;
        try {
            DirOp d = dirOp(r, a.where, before, false);
            dirNode = d.dir().node();
            sattr3 s;
            int type;
            long rdev = 0;
            switch (a.what.type) {
                case ftype3.NF3CHR, ftype3.NF3BLK -> {
                    s = a.what.device.dev_attributes;
                    type = a.what.type == ftype3.NF3CHR ? NfsAttrs.S_IFCHR : NfsAttrs.S_IFBLK;
                    rdev = Linux.makedev(a.what.device.spec.specdata1, a.what.device.spec.specdata2);
                }
                case ftype3.NF3SOCK, ftype3.NF3FIFO -> {
                    s = a.what.pipe_attributes;
                    type = a.what.type == ftype3.NF3SOCK ? NfsAttrs.S_IFSOCK : NfsAttrs.S_IFIFO;
                }
                default -> throw new NfsStatus(nfsstat3.NFS3ERR_BADTYPE, "mknod of type " + a.what.type);
            }
            Node n = fs.mknod(dirNode, d.name(), type | NfsAttrs.mode(s, 0644), rdev, d.dir().creds());
            applyRest(n, s, d.dir().creds());
            return created(d.dir(), d.before(), n);
        } catch (Exception e) {
            return createFailed(e, before[0], dirNode);
        }
    }

    private REMOVE3res remove(Request r, REMOVE3args a, boolean rmdir) {
        REMOVE3res res = new REMOVE3res();
        Attr[] before = new Attr[1];
        Node dirNode = null;
        try {
            DirOp d = dirOp(r, a.object, before, true);
            dirNode = d.dir().node();
            if (rmdir) {
                fs.rmdir(dirNode, d.name(), d.dir().creds());
            } else {
                // no kept file may hold the inode that loses its name (see OpenFileCache), before or after
                x.openFiles.dropAll();
                try {
                    fs.unlink(dirNode, d.name(), d.dir().creds());
                } finally {
                    x.openFiles.dropAll();
                }
            }
            res.resok = new REMOVE3resok();
            res.resok.dir_wcc = wcc(d.before(), dirNode);
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new REMOVE3resfail();
            res.resfail.dir_wcc = before[0] == null ? NO_WCC : wcc(before[0], dirNode);
        }
        return res;
    }

    private RENAME3res rename(Request r, RENAME3args a) {
        RENAME3res res = new RENAME3res();
        Attr[] fromBefore = new Attr[1], toBefore = new Attr[1];
        Node fromDir = null, toDir = null;
        try {
            DirOp from = dirOp(r, a.from, fromBefore, true);
            fromDir = from.dir().node();
            DirOp to = dirOp(r, a.to, toBefore, false);
            toDir = to.dir().node();
            if (from.dir().caller().exportId() != to.dir().caller().exportId())
                throw new NfsStatus(nfsstat3.NFS3ERR_XDEV, "rename across exports");
            x.openFiles.dropAll();                 // a file renamed over loses its name (see OpenFileCache)
            try {
                fs.rename(fromDir, from.name(), toDir, to.name(), 0, from.dir().creds());
            } finally {
                x.openFiles.dropAll();
            }
            res.resok = new RENAME3resok();
            res.resok.fromdir_wcc = wcc(from.before(), fromDir);
            res.resok.todir_wcc = wcc(to.before(), toDir);
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new RENAME3resfail();
            res.resfail.fromdir_wcc = fromBefore[0] == null ? NO_WCC : wcc(fromBefore[0], fromDir);
            res.resfail.todir_wcc = toBefore[0] == null ? NO_WCC : wcc(toBefore[0], toDir);
        }
        return res;
    }

    private LINK3res link(Request r, LINK3args a) {
        LINK3res res = new LINK3res();
        Attr[] before = new Attr[1];
        Node file = null, dirNode = null;
        try {
            Target t = target(r, a.file);
            file = t.node();
            DirOp d = dirOp(r, a.link, before, false);
            dirNode = d.dir().node();
            if (t.caller().exportId() != d.dir().caller().exportId())
                throw new NfsStatus(nfsstat3.NFS3ERR_XDEV, "link across exports");
            if (attr(t).isDir()) throw new NfsStatus(nfsstat3.NFS3ERR_ISDIR, "link to a directory");
            fs.link(file, dirNode, d.name(), d.dir().creds());
            res.resok = new LINK3resok();
            res.resok.file_attributes = post(file);
            res.resok.linkdir_wcc = wcc(d.before(), dirNode);
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new LINK3resfail();
            res.resfail.file_attributes = post(file);
            res.resfail.linkdir_wcc = before[0] == null ? NO_WCC : wcc(before[0], dirNode);
        }
        return res;
    }

    /** XDR size of a string/opaque of n bytes. */
    private static int xdrLen(int n) { return 4 + ((n + 3) & ~3); }

    /** Cookie verifier check: a non-zero cookie must come with the verifier of the listing it came from. */
    private void checkCookie(Node dir, long cookie, byte[] verf) throws NfsStatus {
        if (cookie == 0) return;
        boolean zero = true;
        for (byte b : verf) zero &= b == 0;
        // A zero verifier is what some clients send on resume (RFC 1813 allows the server to accept it).
        if (!zero && !Arrays.equals(verf, x.cookieVerifier(dir)))
            throw new NfsStatus(nfsstat3.NFS3ERR_BAD_COOKIE, "directory changed since the cookie was issued");
    }

    private READDIR3res readdir(Request r, READDIR3args a) {
        READDIR3res res = new READDIR3res();
        Node dir = null;
        try {
            Target t = target(r, a.dir);
            dir = t.node();
            requireDir(attr(t));
            checkCookie(dir, a.cookie, a.cookieverf);
            byte[] verf = x.cookieVerifier(dir);
            // status, dir attributes, verifier, end-of-list marker, eof flag
            long budget = Math.min(a.count & 0xffffffffL, MAX_IO) - (4 + 4 + 84 + 8 + 4 + 4);
            entry3 head = null, tail = null;
            long cookie = a.cookie;
            boolean eof = false, full = false;
            while (!full) {
                List<DirEntry> batch = fs.readdir(dir, cookie, READDIR_BATCH, t.creds());
                if (batch.isEmpty()) { eof = true; break; }
                for (DirEntry e : batch) {
                    int size = 4 + 8 + xdrLen(e.name().length()) + 8;
                    if (size > budget) { full = true; break; }
                    budget -= size;
                    entry3 en = new entry3();
                    en.fileid = e.ino();
                    en.name = Linux.bytesOf(e.name());
                    en.cookie = e.cookie();
                    if (head == null) head = en; else tail.nextentry = en;
                    tail = en;
                    cookie = e.cookie();
                }
            }
            if (head == null && !eof) throw new NfsStatus(nfsstat3.NFS3ERR_TOOSMALL, "count too small for an entry");
            res.resok = new READDIR3resok();
            res.resok.dir_attributes = post(dir);
            res.resok.cookieverf = verf;
            res.resok.reply = new dirlist3();
            res.resok.reply.entries = head;
            res.resok.reply.eof = eof;
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new READDIR3resfail();
            res.resfail.dir_attributes = post(dir);
        }
        return res;
    }

    /**
     * The longest handle of the last READDIRPLUS reply (the longest there is at first): what the next reply's
     * entries are sized with before their lookups. A guess shared by every client and export: too short, an entry
     * is looked up and then does not fit (thrown away, as before); too long, a second pass looks up the rest.
     */
    private volatile int fhLenGuess = Nfs3.NFS3_FHSIZE;

    private READDIRPLUS3res readdirplus(Request r, READDIRPLUS3args a) {
        READDIRPLUS3res res = new READDIRPLUS3res();
        Node dir = null;
        try {
            Target t = target(r, a.dir);
            dir = t.node();
            requireDir(attr(t));
            checkCookie(dir, a.cookie, a.cookieverf);
            byte[] verf = x.cookieVerifier(dir);
            long budget = Math.min(a.maxcount & 0xffffffffL, MAX_IO) - (4 + 4 + 84 + 8 + 4 + 4);
            long dirBudget = a.dircount & 0xffffffffL;
            entryplus3 head = null, tail = null;
            long cookie = a.cookie;
            boolean eof = false, full = false;
            Node root = x.root(t.caller().exportId());
            // the handle length the entries are sized with before they are looked up: the longest one of the last
            // reply (a directory's entries mostly have handles of one length), the longest there is at first
            int fhGuess = fhLenGuess;
            int fhMost = 0;                         // the longest handle put in this reply
            while (!full) {
                List<DirEntry> batch = fs.readdir(dir, cookie, READDIR_BATCH, t.creds());
                if (batch.isEmpty()) { eof = true; break; }
                // Only the entries that may still fit are looked up, all at once (one lock, one permission check:
                // Overlay.lookupAll, whose stats give the attributes too), each sized with the handle length
                // guessed; each lookup costs a few system calls. The rest come with the next pass or the next
                // call. Sized with the longest handle there is, an 8 KiB reply took ~41 in a first pass, then a
                // few more passes of one lookup each, the last one for an entry that did not fit after all (one
                // lookup in 45 thrown away); sized with the length seen, the first pass takes what fits. After
                // the first pass the length this reply's handles had decides: an entry that does not fit by it
                // ends the reply without a lookup.
                int fit = 0;
                long room = budget, dirRoom = dirBudget;
                List<String> names = new ArrayList<>();
                for (DirEntry e : batch) {
                    int nameSize = 8 + xdrLen(Linux.bytesOf(e.name()).length) + 8;
                    int most = 4 + nameSize + 88 + 4 + xdrLen(fhMost > 0 ? fhMost : fhGuess);
                    if (head != null && fit == 0 && (most > room || nameSize > dirRoom)) { full = true; break; }
                    if (fit > 0 && (most > room || nameSize > dirRoom)) break;
                    room -= most;
                    dirRoom -= nameSize;
                    fit++;
                    if (!isDot(e.name())) names.add(e.name());
                }
                if (full) break;
                List<Found> found = names.isEmpty() ? List.of() : fs.lookupAll(dir, names, t.creds());
                int k = 0;
                for (int i = 0; i < fit; i++) {
                    DirEntry e = batch.get(i);
                    entryplus3 en = new entryplus3();
                    en.fileid = e.ino();
                    en.name = Linux.bytesOf(e.name());
                    en.cookie = e.cookie();
                    en.name_attributes = NfsAttrs.post(null, x.fsid);
                    en.name_handle = new post_op_fh3();
                    Node child = null;
                    Attr ca = null;
                    if (e.name().equals(".") || e.name().equals("..") && dir == root) {
                        child = dir;               // ".." of an export's root is itself: no way out of the export
                        ca = attrOrNull(dir);
                    } else if (!e.name().equals("..")) {
                        Found f = found.get(k++);  // null: gone since the listing; the entry goes without
                        if (f != null) {
                            child = f.node();
                            ca = f.attr();
                        }
                    }                              // ".." elsewhere: the engine does not resolve it; sent without
                    if (child != null) {
                        en.name_attributes = NfsAttrs.post(ca, x.fsid);
                        if (ca != null) {
                            en.name_handle.handle_follows = true;
                            en.name_handle.handle = fh(t, child);
                        }
                    }
                    int nameSize = 8 + xdrLen(en.name.length) + 8;
                    int size = 4 + nameSize + (en.name_attributes.attributes_follow ? 88 : 4)
                            + (en.name_handle.handle_follows ? 4 + xdrLen(en.name_handle.handle.data.length) : 4);
                    if (size > budget || (head != null && nameSize > dirBudget)) { full = true; break; }
                    budget -= size;
                    dirBudget -= nameSize;
                    if (en.name_handle.handle_follows) fhMost = Math.max(fhMost, en.name_handle.handle.data.length);
                    if (head == null) head = en; else tail.nextentry = en;
                    tail = en;
                    cookie = e.cookie();
                }
            }
            if (fhMost > 0) fhLenGuess = fhMost;
            if (head == null && !eof) throw new NfsStatus(nfsstat3.NFS3ERR_TOOSMALL, "maxcount too small for an entry");
            res.resok = new READDIRPLUS3resok();
            res.resok.dir_attributes = post(dir);
            res.resok.cookieverf = verf;
            res.resok.reply = new dirlistplus3();
            res.resok.reply.entries = head;
            res.resok.reply.eof = eof;
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new READDIRPLUS3resfail();
            res.resfail.dir_attributes = post(dir);
        }
        return res;
    }

    private FSSTAT3res fsstat(Request r, FSSTAT3args a) {
        FSSTAT3res res = new FSSTAT3res();
        Node n = null;
        try {
            Target t = target(r, a.fsroot);
            n = t.node();
            StatFs s = fs.statfs();
            long unit = s.frsize() > 0 ? s.frsize() : s.bsize();
            res.resok = new FSSTAT3resok();
            res.resok.obj_attributes = unchanged(t);
            res.resok.tbytes = s.blocks() * unit;
            res.resok.fbytes = s.bfree() * unit;
            res.resok.abytes = s.bavail() * unit;
            res.resok.tfiles = s.files();
            res.resok.ffiles = s.ffree();
            res.resok.afiles = s.ffree();
            res.resok.invarsec = 0;
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new FSSTAT3resfail();
            res.resfail.obj_attributes = post(n);
        }
        return res;
    }

    private FSINFO3res fsinfo(Request r, FSINFO3args a) {
        FSINFO3res res = new FSINFO3res();
        Node n = null;
        try {
            Target t = target(r, a.fsroot);
            n = t.node();
            res.resok = new FSINFO3resok();
            res.resok.obj_attributes = unchanged(t);
            res.resok.rtmax = MAX_IO;
            res.resok.rtpref = MAX_IO;
            res.resok.rtmult = 4096;
            res.resok.wtmax = MAX_IO;
            res.resok.wtpref = MAX_IO;
            res.resok.wtmult = 4096;
            res.resok.dtpref = DIR_PREF;
            res.resok.maxfilesize = Long.MAX_VALUE;
            res.resok.time_delta = NfsAttrs.time(0, 1);
            res.resok.properties = Nfs3.FSF3_LINK | Nfs3.FSF3_SYMLINK | Nfs3.FSF3_HOMOGENEOUS | Nfs3.FSF3_CANSETTIME;
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new FSINFO3resfail();
            res.resfail.obj_attributes = post(n);
        }
        return res;
    }

    /** Hard link limit of the upper layer's filesystem, by its statfs magic. */
    static int linkMax(long fsType) {
        return switch ((int) fsType) {
            case 0xEF53 -> 65000;                  // ext2/3/4
            case 0x58465342 -> Integer.MAX_VALUE;  // xfs
            case 0x9123683E -> 65535;              // btrfs
            case 0x01021994 -> Integer.MAX_VALUE;  // tmpfs
            default -> 32000;
        };
    }

    private PATHCONF3res pathconf(Request r, PATHCONF3args a) {
        PATHCONF3res res = new PATHCONF3res();
        Node n = null;
        try {
            Target t = target(r, a.object);
            n = t.node();
            StatFs s = fs.statfs();
            res.resok = new PATHCONF3resok();
            res.resok.obj_attributes = unchanged(t);
            res.resok.linkmax = linkMax(s.type());
            res.resok.name_max = (int) Math.min(s.namelen() > 0 ? s.namelen() : NAME_MAX, NAME_MAX);
            res.resok.no_trunc = true;
            res.resok.chown_restricted = true;
            res.resok.case_insensitive = false;
            res.resok.case_preserving = true;
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new PATHCONF3resfail();
            res.resfail.obj_attributes = post(n);
        }
        return res;
    }

    private COMMIT3res commit(Request r, COMMIT3args a) {
        COMMIT3res res = new COMMIT3res();
        Attr before = null;
        Node n = null;
        try {
            Target t = target(r, a.file);
            n = t.node();
            before = attr(t);
            t.caller().checkWritable();
            if (!before.isReg()) throw new NfsStatus(nfsstat3.NFS3ERR_INVAL, "commit of a non-file");
            // The sync is the server's duty, not the caller's access: the engine syncs the node's upper inode,
            // through the kept write file when there is one (the same inode: it was opened after the copy-up).
            OpenFileCache.Lease w = x.openFiles.writer(n);
            if (w == null) {
                fs.fsync(n, false);
            } else {
                try {
                    fs.fsync(w.file(), false);
                } finally {
                    x.openFiles.done(w);
                }
            }
            res.resok = new COMMIT3resok();
            res.resok.file_wcc = wcc(before, n);
            res.resok.verf = x.writeVerifier.clone();
            res.status = nfsstat3.NFS3_OK;
        } catch (Exception e) {
            res.status = fail(e);
            res.resfail = new COMMIT3resfail();
            res.resfail.file_wcc = before == null ? NO_WCC : wcc(before, n);
        }
        return res;
    }
}
