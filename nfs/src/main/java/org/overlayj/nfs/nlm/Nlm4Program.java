package org.overlayj.nfs.nlm;

import org.dcache.oncrpc4j.rpc.OncRpcException;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.overlayj.nfs.xdr.*;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * NLM version 4 (program 100021), the lock manager NFSv3 clients use for fcntl/flock locks. The Linux client
 * calls TEST, LOCK, CANCEL and UNLOCK synchronously (over TCP when the mount is TCP) and waits for GRANTED
 * callbacks while polling; the *_MSG/*_RES forms are served too, answering by a call back to the client's
 * lock manager. During the grace period after a restart only reclaims (and releases) are accepted.
 */
final class Nlm4Program implements RpcDispatchable {
    private static final Logger log = LoggerFactory.getLogger(Nlm4Program.class);
    static final int MAX_HANDLE = 64;

    private final NlmService service;
    private final LockManager locks;
    private final LockFiles files;

    Nlm4Program(NlmService service, LockManager locks, LockFiles files) {
        this.service = service;
        this.locks = locks;
        this.files = files;
    }

    @Override
    public void dispatchOncRpcCall(RpcCall call) throws OncRpcException, IOException {
        int proc = call.getProcedure();
        InetSocketAddress remote = call.getTransport().getRemoteSocketAddress();
        InetSocketAddress local = call.getTransport().getLocalSocketAddress();
        switch (proc) {
            case Nlm4.NLMPROC4_NULL_4 -> call.reply(XdrVoid.XDR_VOID);
            case Nlm4.NLMPROC4_TEST_4 -> call.reply(test(args(call, new nlm4_testargs()), remote));
            case Nlm4.NLMPROC4_LOCK_4 -> call.reply(lock(args(call, new nlm4_lockargs()), remote, local, true));
            case Nlm4.NLMPROC4_CANCEL_4 -> call.reply(cancel(args(call, new nlm4_cancargs()), remote));
            case Nlm4.NLMPROC4_UNLOCK_4 -> call.reply(unlock(args(call, new nlm4_unlockargs()), remote));
            case Nlm4.NLMPROC4_GRANTED_4 -> {
                // A server is not granted locks: nobody here waits for one.
                nlm4_testargs a = args(call, new nlm4_testargs());
                call.reply(res(a.cookie, nlm4_stats.NLM4_DENIED));
            }
            case Nlm4.NLMPROC4_TEST_MSG_4 -> {
                nlm4_testres r = test(args(call, new nlm4_testargs()), remote);
                call.reply(XdrVoid.XDR_VOID);
                service.answer(remote, local, Nlm4.NLMPROC4_TEST_RES_4, r);
            }
            case Nlm4.NLMPROC4_LOCK_MSG_4 -> {
                nlm4_res r = lock(args(call, new nlm4_lockargs()), remote, local, true);
                call.reply(XdrVoid.XDR_VOID);
                service.answer(remote, local, Nlm4.NLMPROC4_LOCK_RES_4, r);
            }
            case Nlm4.NLMPROC4_CANCEL_MSG_4 -> {
                nlm4_res r = cancel(args(call, new nlm4_cancargs()), remote);
                call.reply(XdrVoid.XDR_VOID);
                service.answer(remote, local, Nlm4.NLMPROC4_CANCEL_RES_4, r);
            }
            case Nlm4.NLMPROC4_UNLOCK_MSG_4 -> {
                nlm4_res r = unlock(args(call, new nlm4_unlockargs()), remote);
                call.reply(XdrVoid.XDR_VOID);
                service.answer(remote, local, Nlm4.NLMPROC4_UNLOCK_RES_4, r);
            }
            case Nlm4.NLMPROC4_GRANTED_MSG_4, Nlm4.NLMPROC4_TEST_RES_4, Nlm4.NLMPROC4_LOCK_RES_4,
                 Nlm4.NLMPROC4_CANCEL_RES_4, Nlm4.NLMPROC4_UNLOCK_RES_4 -> {
                call.retrieveCall(XdrVoid.XDR_VOID);  // answers to calls we do not make: nothing to do
                call.reply(XdrVoid.XDR_VOID);
            }
            case Nlm4.NLMPROC4_GRANTED_RES_4 -> {
                nlm4_res r = args(call, new nlm4_res());
                locks.grantAnswered(new ClientHost("", remote.getAddress()), bytes(r.cookie), r.stat.stat);
                call.reply(XdrVoid.XDR_VOID);
            }
            case Nlm4.NLMPROC4_SHARE_4 -> call.reply(share(args(call, new nlm4_shareargs()), remote, local));
            case Nlm4.NLMPROC4_UNSHARE_4 -> call.reply(unshare(args(call, new nlm4_shareargs()), remote));
            case Nlm4.NLMPROC4_NM_LOCK_4 -> call.reply(lock(args(call, new nlm4_lockargs()), remote, local, false));
            case Nlm4.NLMPROC4_FREE_ALL_4 -> {
                nlm4_notify n = args(call, new nlm4_notify());
                checkName(n.name);
                String name = name(n.name);
                locks.release(h -> h.name().equalsIgnoreCase(name) && h.address().equals(remote.getAddress()),
                        "FREE_ALL");
                call.reply(XdrVoid.XDR_VOID);
            }
            default -> call.failProcedureUnavailable();
        }
    }

    private static <T extends XdrAble> T args(RpcCall call, T args) throws IOException {
        call.retrieveCall(args);
        return args;
    }

    private nlm4_testres test(nlm4_testargs a, InetSocketAddress remote) throws IOException {
        check(a.cookie, a.alock);
        nlm4_testres r = new nlm4_testres();
        r.cookie = a.cookie;
        r.test_stat = new nlm4_testrply();
        if (locks.inGrace()) {
            r.test_stat.stat = nlm4_stats.NLM4_DENIED_GRACE_PERIOD;
            return r;
        }
        LockFiles.Resolved f;
        try {
            f = files.resolve(a.alock.fh.value, remote);
        } catch (LockFiles.Refused e) {
            r.test_stat.stat = e.status();
            return r;
        }
        FileLocks.Held h = locks.test(f.key(), owner(a.alock, remote), range(a.alock), a.exclusive);
        if (h == null) {
            r.test_stat.stat = nlm4_stats.NLM4_GRANTED;
            return r;
        }
        r.test_stat.stat = nlm4_stats.NLM4_DENIED;
        r.test_stat.holder = new nlm4_holder();
        r.test_stat.holder.exclusive = h.exclusive();
        r.test_stat.holder.svid = h.owner().svid();
        r.test_stat.holder.oh = new netobj(h.owner().ohBytes());
        r.test_stat.holder.l_offset = h.range().offset();
        r.test_stat.holder.l_len = h.range().length();
        return r;
    }

    private nlm4_res lock(nlm4_lockargs a, InetSocketAddress remote, InetSocketAddress local, boolean monitored)
            throws IOException {
        check(a.cookie, a.alock);
        // Outside the grace period a reclaim is an ordinary request: granted when nothing conflicts (refusing it
        // would only make the client drop a lock it could have had).
        if (!a.reclaim && locks.inGrace()) return res(a.cookie, nlm4_stats.NLM4_DENIED_GRACE_PERIOD);
        LockFiles.Resolved f;
        try {
            f = files.resolve(a.alock.fh.value, remote);
        } catch (LockFiles.Refused e) {
            return res(a.cookie, e.status());
        }
        if (a.exclusive && f.readOnly()) return res(a.cookie, nlm4_stats.NLM4_ROFS);
        LockOwner owner = owner(a.alock, remote);
        ByteRange range = range(a.alock);
        int status = locks.lock(f.key(), owner, range, a.exclusive, a.block, monitored,
                local.getAddress().getHostAddress(),
                () -> new Block(f.key(), owner, range, a.exclusive, a.alock, remote, local, Nlm4.NLM4_VERS));
        if (log.isDebugEnabled())
            log.debug("NLM LOCK {} {} {} {}{} by {}: {}", f.key(), range, a.exclusive ? "excl" : "shared",
                    a.block ? "block" : "", a.reclaim ? " reclaim" : "", owner, status);
        return res(a.cookie, status);
    }

    private nlm4_res cancel(nlm4_cancargs a, InetSocketAddress remote) throws IOException {
        check(a.cookie, a.alock);
        LockFiles.Resolved f;
        try {
            f = files.resolve(a.alock.fh.value, remote);
        } catch (LockFiles.Refused e) {
            return res(a.cookie, e.status());
        }
        return res(a.cookie, locks.cancel(f.key(), owner(a.alock, remote), range(a.alock), a.exclusive));
    }

    private nlm4_res unlock(nlm4_unlockargs a, InetSocketAddress remote) throws IOException {
        check(a.cookie, a.alock);
        LockFiles.Resolved f;
        try {
            f = files.resolve(a.alock.fh.value, remote);
        } catch (LockFiles.Refused e) {
            return res(a.cookie, e.status());
        }
        return res(a.cookie, locks.unlock(f.key(), owner(a.alock, remote), range(a.alock)));
    }

    private nlm4_shareres share(nlm4_shareargs a, InetSocketAddress remote, InetSocketAddress local) throws IOException {
        checkShare(a);
        if (!a.reclaim && locks.inGrace()) return shareRes(a.cookie, nlm4_stats.NLM4_DENIED_GRACE_PERIOD);
        LockFiles.Resolved f;
        try {
            f = files.resolve(a.share.fh.value, remote);
        } catch (LockFiles.Refused e) {
            return shareRes(a.cookie, e.status());
        }
        if ((a.share.access & fsh4_access.fsa_W) != 0 && f.readOnly()) return shareRes(a.cookie, nlm4_stats.NLM4_ROFS);
        ClientHost host = new ClientHost(name(a.share.caller_name), remote.getAddress());
        return shareRes(a.cookie, locks.share(f.key(), host, hex(a.share.oh), a.share.mode, a.share.access,
                local.getAddress().getHostAddress()));
    }

    private nlm4_shareres unshare(nlm4_shareargs a, InetSocketAddress remote) throws IOException {
        checkShare(a);
        LockFiles.Resolved f;
        try {
            f = files.resolve(a.share.fh.value, remote);
        } catch (LockFiles.Refused e) {
            return shareRes(a.cookie, e.status());
        }
        ClientHost host = new ClientHost(name(a.share.caller_name), remote.getAddress());
        return shareRes(a.cookie, locks.unshare(f.key(), host, hex(a.share.oh)));
    }

    static LockOwner owner(nlm4_lock l, InetSocketAddress remote) {
        return LockOwner.of(new ClientHost(name(l.caller_name), remote.getAddress()), l.svid, bytes(l.oh));
    }

    static ByteRange range(nlm4_lock l) { return ByteRange.of(l.l_offset, l.l_len); }

    /** Host names are compared as the bytes the client sent; Latin-1 keeps every byte as one char. */
    static String name(byte[] b) { return new String(b, StandardCharsets.ISO_8859_1); }

    private static byte[] bytes(netobj n) { return n == null || n.value == null ? new byte[0] : n.value; }

    private static String hex(netobj n) { return java.util.HexFormat.of().formatHex(bytes(n)); }

    /** The generated decoder bounds lengths at 1 MiB only; the spec's limits are checked here. */
    private static void check(netobj cookie, nlm4_lock l) throws IOException {
        checkObj(cookie);
        checkName(l.caller_name);
        checkObj(l.fh);
        checkObj(l.oh);
    }

    private static void checkShare(nlm4_shareargs a) throws IOException {
        checkObj(a.cookie);
        checkName(a.share.caller_name);
        checkObj(a.share.fh);
        checkObj(a.share.oh);
    }

    private static void checkObj(netobj n) throws IOException {
        if (n == null || n.value == null || n.value.length > Nlm4.MAXNETOBJ_SZ) throw new IOException("netobj too long");
    }

    private static void checkName(byte[] b) throws IOException {
        if (b == null || b.length > Nlm4.LM_MAXNAMELEN) throw new IOException("caller name too long");
    }

    static nlm4_res res(netobj cookie, int status) {
        nlm4_res r = new nlm4_res();
        r.cookie = cookie == null ? new netobj(new byte[0]) : cookie;
        r.stat = new nlm4_stat();
        r.stat.stat = status;
        return r;
    }

    private static nlm4_shareres shareRes(netobj cookie, int status) {
        nlm4_shareres r = new nlm4_shareres();
        r.cookie = cookie;
        r.stat = status;
        r.sequence = 0;
        return r;
    }
}
