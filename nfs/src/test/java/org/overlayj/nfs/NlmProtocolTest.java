package org.overlayj.nfs;

import org.dcache.oncrpc4j.rpc.OncRpcClient;
import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.nlm.NlmService;
import org.overlayj.nfs.nlm.Peers;
import org.overlayj.nfs.rpc.RpcTcpServer;
import org.overlayj.nfs.xdr.*;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * NLM v4 and NSM over loopback, raw protocol: what the Linux client's lockd sends (caller_name = node name,
 * svid = pid, oh = "pid@node", the reclaim flag) and what its statd sends (SM_NOTIFY), against a real server on
 * real layers. A small fake client (lockd + statd on a loopback port) receives the server's GRANTED and SM_NOTIFY.
 */
class NlmProtocolTest {

    /** The client's lock manager and status monitor: records what the server calls it with. */
    static final class FakeClient implements AutoCloseable {
        final BlockingQueue<nlm4_testargs> granted = new LinkedBlockingQueue<>();
        final BlockingQueue<stat_chge> notified = new LinkedBlockingQueue<>();
        /** The *_RES calls answering our *_MSG calls: LOCK_RES, UNLOCK_RES, ... and TEST_RES. */
        final BlockingQueue<nlm4_res> results = new LinkedBlockingQueue<>();
        final BlockingQueue<nlm4_testres> testResults = new LinkedBlockingQueue<>();
        volatile int grantAnswer = nlm4_stats.NLM4_GRANTED;
        final RpcTcpServer server;

        FakeClient() throws IOException {
            RpcDispatchable lockd = call -> {
                if (call.getProcedure() == Nlm4.NLMPROC4_NULL_4) {
                    call.reply(XdrVoid.XDR_VOID);
                    return;
                }
                if (call.getProcedure() == Nlm4.NLMPROC4_TEST_RES_4) {
                    nlm4_testres r = new nlm4_testres();
                    call.retrieveCall(r);
                    call.reply(XdrVoid.XDR_VOID);
                    testResults.add(r);
                    return;
                }
                if (call.getProcedure() >= Nlm4.NLMPROC4_LOCK_RES_4 && call.getProcedure() <= Nlm4.NLMPROC4_UNLOCK_RES_4) {
                    nlm4_res r = new nlm4_res();
                    call.retrieveCall(r);
                    call.reply(XdrVoid.XDR_VOID);
                    results.add(r);
                    return;
                }
                assertEquals(Nlm4.NLMPROC4_GRANTED_4, call.getProcedure());
                nlm4_testargs a = new nlm4_testargs();
                call.retrieveCall(a);
                nlm4_res r = new nlm4_res();
                r.cookie = a.cookie;
                r.stat = new nlm4_stat();
                r.stat.stat = grantAnswer;
                call.reply(r);
                granted.add(a);
            };
            RpcDispatchable statd = call -> {
                assertEquals(Nsm.SM_NOTIFY_1, call.getProcedure());
                stat_chge c = new stat_chge();
                call.retrieveCall(c);
                call.reply(XdrVoid.XDR_VOID);
                notified.add(c);
            };
            server = RpcTcpServer.start(new InetSocketAddress("127.0.0.1", 0), Map.of(
                    new OncRpcProgram(Nlm4.NLM_PROG, Nlm4.NLM4_VERS), lockd,
                    new OncRpcProgram(Nsm.SM_PROG, Nsm.SM_VERS), statd), 1 << 16,
                    new RpcTcpServer.Limits(16, 16, java.time.Duration.ZERO), "fake-client");
        }

        /** Where the server finds this client's lockd and statd (instead of asking a portmapper on port 111). */
        Peers peers() { return (host, from, prog, vers) -> server.address().getPort(); }

        @Override public void close() { server.close(); }
    }

    /** Layers, the engine on them, and a server with file locking; restartable on the same layers and state. */
    static final class LockServer implements AutoCloseable {
        final Path root, lower, upper, work, state;
        final Overlay overlay;
        final Exports exports;
        final NlmService.Config locking;
        NfsServer server;

        LockServer(String exportsText, Duration grace, Peers peers) throws Exception {
            root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-nlm-");
            lower = Files.createDirectories(root.resolve("lower"));
            upper = Files.createDirectories(root.resolve("upper"));
            work = Files.createDirectories(root.resolve("work"));
            state = root.resolve("state");
            Files.createDirectories(lower.resolve("dir/sub"));
            Files.writeString(lower.resolve("dir/a"), "a");
            Files.writeString(lower.resolve("dir/b"), "b");
            exports = exportsText == null ? Exports.defaults() : Exports.parse(exportsText);
            locking = new NlmService.Config(state, grace, peers);
            Overlay o = null;
            try {
                o = Overlay.mount(new OverlayOptions(List.of(lower.toString()), upper.toString(), work.toString(),
                        OverlayOptions.RedirectDir.NOFOLLOW, true, true, OverlayOptions.Uuid.AUTO,
                        OverlayOptions.Xino.OFF, false, false, false, List.of()));
                overlay = o;
                start(0);
            } catch (Exception | Error e) {
                if (o != null) o.close();
                TestOverlay.deleteTree(root);
                throw e;
            }
        }

        private void start(int port) throws IOException {
            server = NfsServer.start(overlay, exports,
                    new NfsServer.Config(new InetSocketAddress("127.0.0.1", port), false, 2, 0), locking);
        }

        int port() { return server.address().getPort(); }

        /** Stops the server in order and starts a new instance on the same port, layers and state directory. */
        void restart() throws IOException {
            int port = port();
            server.close();
            start(port);
        }

        /**
         * As after a crash: the new instance finds the client list but not the locks an orderly stop saves (the
         * state number as a crash leaves it, odd, is what the next start expects either way).
         */
        void restartAfterCrash() throws IOException {
            int port = port();
            server.close();
            Files.delete(state.resolve("locks"));
            start(port);
        }

        @Override public void close() throws IOException {
            try {
                server.close();
            } finally {
                overlay.close();
                TestOverlay.deleteTree(root);
            }
        }
    }

    /** One client machine's lock manager calling the server: its node name, over its own connection. */
    static final class Lockd implements AutoCloseable {
        final String node;
        final OncRpcClient client;
        final RpcTransport transport;
        int cookie;

        Lockd(int port, String node) throws IOException {
            this.node = node;
            client = new OncRpcClient(InetAddress.getLoopbackAddress(), IpProtocolType.TCP, port);
            transport = client.connect(10, TimeUnit.SECONDS);
        }

        <T extends XdrAble> T call(int prog, int vers, int proc, XdrAble args, T result) throws Exception {
            new RpcCall(prog, vers, RpcTestClient.unix(0, 0), transport).call(proc, args, result, 30, TimeUnit.SECONDS);
            return result;
        }

        nlm4_lock lock(nfs_fh3 fh, int pid, long offset, long len) {
            nlm4_lock l = new nlm4_lock();
            l.caller_name = node.getBytes(StandardCharsets.US_ASCII);
            l.fh = new netobj(fh.data);
            l.oh = new netobj((pid + "@" + node).getBytes(StandardCharsets.US_ASCII));
            l.svid = pid;
            l.l_offset = offset;
            l.l_len = len;
            return l;
        }

        private netobj cookie() { return new netobj(new byte[]{0, 0, 0, (byte) ++cookie}); }

        int lock(nfs_fh3 fh, int pid, long offset, long len, boolean exclusive, boolean block, boolean reclaim)
                throws Exception {
            nlm4_lockargs a = new nlm4_lockargs();
            a.cookie = cookie();
            a.block = block;
            a.exclusive = exclusive;
            a.alock = lock(fh, pid, offset, len);
            a.reclaim = reclaim;
            a.state = 1;
            nlm4_res r = call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_LOCK_4, a, new nlm4_res());
            assertArrayEquals(a.cookie.value, r.cookie.value, "the reply echoes the cookie");
            return r.stat.stat;
        }

        int lock(nfs_fh3 fh, int pid, long offset, long len, boolean exclusive) throws Exception {
            return lock(fh, pid, offset, len, exclusive, false, false);
        }

        nlm4_testrply test(nfs_fh3 fh, int pid, long offset, long len, boolean exclusive) throws Exception {
            nlm4_testargs a = new nlm4_testargs();
            a.cookie = cookie();
            a.exclusive = exclusive;
            a.alock = lock(fh, pid, offset, len);
            return call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_TEST_4, a, new nlm4_testres()).test_stat;
        }

        int unlock(nfs_fh3 fh, int pid, long offset, long len) throws Exception {
            nlm4_unlockargs a = new nlm4_unlockargs();
            a.cookie = cookie();
            a.alock = lock(fh, pid, offset, len);
            return call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_UNLOCK_4, a, new nlm4_res()).stat.stat;
        }

        int cancel(nfs_fh3 fh, int pid, long offset, long len, boolean exclusive) throws Exception {
            nlm4_cancargs a = new nlm4_cancargs();
            a.cookie = cookie();
            a.block = true;
            a.exclusive = exclusive;
            a.alock = lock(fh, pid, offset, len);
            return call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_CANCEL_4, a, new nlm4_res()).stat.stat;
        }

        int share(nfs_fh3 fh, int pid, int mode, int access, boolean unshare) throws Exception {
            nlm4_shareargs a = new nlm4_shareargs();
            a.cookie = cookie();
            a.share = new nlm4_share();
            a.share.caller_name = node.getBytes(StandardCharsets.US_ASCII);
            a.share.fh = new netobj(fh.data);
            a.share.oh = new netobj((pid + "@" + node).getBytes(StandardCharsets.US_ASCII));
            a.share.mode = mode;
            a.share.access = access;
            return call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, unshare ? Nlm4.NLMPROC4_UNSHARE_4 : Nlm4.NLMPROC4_SHARE_4, a,
                    new nlm4_shareres()).stat;
        }

        @Override public void close() throws IOException { client.close(); }
    }

    private static nfs_fh3 file(int port, String export, String... path) throws Exception {
        try (NfsCalls n = new NfsCalls(port, 0, 0)) {
            nfs_fh3 fh = n.c.rootHandle(export);
            for (String p : path) fh = n.lookup(fh, p);
            return fh;
        }
    }

    /** An export that lets loopback clients in from any port, as root. */
    private static final String OPEN = "/ 127.0.0.1(rw,no_root_squash,insecure)\n";
    private static final Duration NO_GRACE = Duration.ZERO;

    @Test
    void exclusiveAndSharedRangesConflictAcrossOwnersOnly() throws Exception {
        try (LockServer s = new LockServer(OPEN, NO_GRACE, null);
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 100, 0, 100, true));
            nlm4_testrply t = b.test(f, 200, 50, 10, false);
            assertEquals(nlm4_stats.NLM4_DENIED, t.stat);
            assertTrue(t.holder.exclusive);
            assertEquals(100, t.holder.svid);
            assertEquals("100@clienta", new String(t.holder.oh.value, StandardCharsets.US_ASCII));
            assertEquals(0, t.holder.l_offset);
            assertEquals(100, t.holder.l_len);
            assertEquals(nlm4_stats.NLM4_DENIED, b.lock(f, 200, 99, 1, false));
            // beyond the range, to the end of the file (l_len 0): free
            assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 200, 100, 0, false));
            // the same owner never conflicts with itself; another process of the same machine does
            assertEquals(nlm4_stats.NLM4_GRANTED, a.test(f, 100, 0, 100, true).stat);
            assertEquals(nlm4_stats.NLM4_DENIED, a.test(f, 101, 0, 1, false).stat);
            // POSIX split: unlocking the middle leaves two locks
            assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 100, 40, 20));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.test(f, 200, 40, 20, true).stat);
            t = b.test(f, 200, 30, 40, true);
            assertEquals(nlm4_stats.NLM4_DENIED, t.stat);
            assertEquals(0, t.holder.l_offset);
            assertEquals(40, t.holder.l_len);
            t = b.test(f, 200, 50, 50, true);
            assertEquals(60, t.holder.l_offset);
            assertEquals(40, t.holder.l_len);
            // a shared lock of the owner inside its exclusive one turns that part shared: readers get in there
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 100, 60, 20, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 200, 60, 20, false));
            assertEquals(nlm4_stats.NLM4_DENIED, b.lock(f, 200, 80, 1, false));
            // shared locks of the two owners overlap; an exclusive one conflicts with the other's shared one
            assertEquals(nlm4_stats.NLM4_DENIED, a.lock(f, 100, 150, 1, true));
            // 64-bit offsets: a range above 2^63 to the end of the file
            long high = Long.MIN_VALUE + 5;                    // 2^63 + 5 as an unsigned 64-bit offset
            assertEquals(nlm4_stats.NLM4_GRANTED, b.unlock(f, 200, 100, 0));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 100, high, 0, true));
            t = b.test(f, 200, -2L, 1, false);               // the byte at 2^64-2
            assertEquals(nlm4_stats.NLM4_DENIED, t.stat);
            assertEquals(high, t.holder.l_offset);
            assertEquals(0, t.holder.l_len, "to the end of the file: length 0");
            assertEquals(nlm4_stats.NLM4_GRANTED, b.test(f, 200, high - 1, 1, true).stat);
            // a file is its own lock table
            assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(file(s.port(), "/", "dir", "b"), 200, 0, 0, true));
            // unlocking everything (what a closing process sends) frees the file for the other owner
            assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 100, 0, 0));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.unlock(f, 200, 0, 0));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 200, 0, 0, true));
            assertEquals(2, s.server.locking().heldLocks());
        }
    }

    @Test
    void locksOfOneOwnerMergeAndSplitAsPosixLocks() throws Exception {
        try (LockServer s = new LockServer(OPEN, NO_GRACE, null);
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 10, true));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 10, 10, true));    // adjacent: one lock 0-19
            nlm4_testrply t = b.test(f, 2, 15, 1, false);
            assertEquals(0, t.holder.l_offset);
            assertEquals(20, t.holder.l_len);
            assertEquals(1, s.server.locking().heldLocks());
            // a shared lock in the middle: exclusive 0-4, shared 5-9, exclusive 10-19
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 5, 5, false));
            assertEquals(3, s.server.locking().heldLocks());
            assertEquals(nlm4_stats.NLM4_GRANTED, b.test(f, 2, 5, 5, false).stat);
            t = b.test(f, 2, 7, 1, true);
            assertEquals(nlm4_stats.NLM4_DENIED, t.stat);
            assertFalse(t.holder.exclusive);
            assertEquals(5, t.holder.l_offset);
            assertEquals(5, t.holder.l_len);
            // exclusive again over all of it: one lock
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 20, true));
            assertEquals(1, s.server.locking().heldLocks());
        }
    }

    @Test
    void blockedLockIsGrantedByCallbackWhenTheRangeFrees() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, NO_GRACE, fake.peers());
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 10, true));
            assertEquals(nlm4_stats.NLM4_BLOCKED, b.lock(f, 2, 5, 10, true, true, false));
            // asked again while still blocked (the Linux client polls): still blocked, one request queued
            assertEquals(nlm4_stats.NLM4_BLOCKED, b.lock(f, 2, 5, 10, true, true, false));
            assertTrue(fake.granted.isEmpty());
            assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 1, 0, 0));
            nlm4_testargs g = fake.granted.poll(30, TimeUnit.SECONDS);
            assertNotNull(g, "GRANTED callback");
            assertEquals(2, g.alock.svid);
            assertEquals(5, g.alock.l_offset);
            assertEquals(10, g.alock.l_len);
            assertTrue(g.exclusive);
            assertArrayEquals(f.data, g.alock.fh.value);
            assertEquals("clientb", new String(g.alock.caller_name, StandardCharsets.US_ASCII));
            // b holds it now
            nlm4_testrply t = a.test(f, 1, 0, 0, false);
            assertEquals(nlm4_stats.NLM4_DENIED, t.stat);
            assertEquals(2, t.holder.svid);
            assertTrue(fake.granted.isEmpty(), "one GRANTED only");
        }
    }

    @Test
    void blockedClientWithoutCallbackGetsTheLockWhenItPolls() throws Exception {
        Peers unreachable = (host, from, prog, vers) -> { throw new IOException("no portmapper there"); };
        try (LockServer s = new LockServer(OPEN, NO_GRACE, unreachable);
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 0, true));
            assertEquals(nlm4_stats.NLM4_BLOCKED, b.lock(f, 2, 0, 0, true, true, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 1, 0, 0));
            // the range went to b at the unlock, though b could not be told: a third owner is refused ...
            assertEquals(nlm4_stats.NLM4_DENIED, a.lock(f, 3, 0, 1, false));
            // ... and b's poll finds its lock
            assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 2, 0, 0, true, true, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.unlock(f, 2, 0, 0));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 3, 0, 1, false));
        }
    }

    @Test
    void aWaitThatWouldNeverEndIsADeadlock() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, NO_GRACE, fake.peers());
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f1 = file(s.port(), "/", "dir", "a");
            nfs_fh3 f2 = file(s.port(), "/", "dir", "b");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f1, 1, 0, 0, true));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f2, 2, 0, 0, true));
            assertEquals(nlm4_stats.NLM4_BLOCKED, a.lock(f2, 1, 0, 0, true, true, false));
            // b waiting for f1 would wait for a, which waits for b
            assertEquals(nlm4_stats.NLM4_DEADLCK, b.lock(f1, 2, 0, 0, true, true, false));
            // another process of clientb is not part of the cycle: it just waits
            assertEquals(nlm4_stats.NLM4_BLOCKED, b.lock(f1, 3, 0, 0, true, true, false));
        }
    }

    @Test
    void cancelWithdrawsAWaitingRequest() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, NO_GRACE, fake.peers());
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 0, true));
            assertEquals(nlm4_stats.NLM4_BLOCKED, b.lock(f, 2, 0, 0, false, true, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.cancel(f, 2, 0, 0, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 1, 0, 0));
            // nobody got the range: a third owner takes it at once
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 3, 0, 0, true));
            assertEquals(0, s.server.locking().heldLocks() - 1);
            // a client that gave up answers the GRANTED with DENIED: the lock is released again
            fake.grantAnswer = nlm4_stats.NLM4_DENIED;
            assertEquals(nlm4_stats.NLM4_BLOCKED, b.lock(f, 2, 0, 0, true, true, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 3, 0, 0));
            assertNotNull(fake.granted.poll(30, TimeUnit.SECONDS));
            // the server releases after the answer; wait for it through the protocol, with a bound
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (a.test(f, 4, 0, 0, true).stat != nlm4_stats.NLM4_GRANTED) {
                assertTrue(System.nanoTime() < until, "the refused grant was never released");
                Thread.sleep(20);
            }
        }
    }

    @Test
    void shareReservationsDenyWhatTheyDeny() throws Exception {
        try (LockServer s = new LockServer(OPEN, NO_GRACE, null);
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.share(f, 1, fsh4_mode.fsm_DW, fsh4_access.fsa_RW, false));
            assertEquals(nlm4_stats.NLM4_DENIED, b.share(f, 2, fsh4_mode.fsm_DN, fsh4_access.fsa_W, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.share(f, 2, fsh4_mode.fsm_DN, fsh4_access.fsa_R, false));
            // b reads and denies nothing; a third that denies reading is refused (b reads)
            assertEquals(nlm4_stats.NLM4_DENIED, b.share(f, 3, fsh4_mode.fsm_DR, fsh4_access.fsa_R, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.share(f, 1, 0, 0, true));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.share(f, 4, fsh4_mode.fsm_DN, fsh4_access.fsa_W, false));
        }
    }

    @Test
    void locksArePerExportAndOnlyForTheExportsClients() throws Exception {
        String exports = "/ 127.0.0.1(rw,no_root_squash,insecure)\n/dir 127.0.0.1(rw,no_root_squash,insecure)\n"
                + "/dir/sub 10.0.0.0/8(rw)\n";
        try (LockServer s = new LockServer(exports, NO_GRACE, null);
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 viaRoot = file(s.port(), "/", "dir", "a");
            nfs_fh3 viaDir = file(s.port(), "/dir", "a");
            assertFalse(java.util.Arrays.equals(viaRoot.data, viaDir.data), "two exports, two handles");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(viaRoot, 1, 0, 0, true));
            // the other export's lock table does not see it, and its unlock does not touch it
            assertEquals(nlm4_stats.NLM4_GRANTED, b.test(viaDir, 2, 0, 0, true).stat);
            assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(viaDir, 1, 0, 0));
            assertEquals(nlm4_stats.NLM4_DENIED, b.test(viaRoot, 2, 0, 0, true).stat);
            // a handle of an export this client is not allowed on (forged: export 2, same engine bytes)
            byte[] forged = viaRoot.data.clone();
            forged[1] = 2;
            nfs_fh3 other = new nfs_fh3();
            other.data = forged;
            assertEquals(nlm4_stats.NLM4_FAILED, b.lock(other, 2, 0, 0, true));
            assertEquals(nlm4_stats.NLM4_FAILED, b.test(other, 2, 0, 0, true).stat);
            assertEquals(nlm4_stats.NLM4_FAILED, b.unlock(other, 2, 0, 0));
            // not a handle of ours at all
            nfs_fh3 junk = new nfs_fh3();
            junk.data = new byte[]{1, 2, 3, 4};
            assertEquals(nlm4_stats.NLM4_STALE_FH, b.lock(junk, 2, 0, 0, true));
            assertEquals(1, s.server.locking().heldLocks());
        }
    }

    @Test
    void smNotifyFromARebootedClientReleasesItsLocks() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, NO_GRACE, fake.peers());
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f1 = file(s.port(), "/", "dir", "a");
            nfs_fh3 f2 = file(s.port(), "/", "dir", "b");
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f1, 1, 0, 0, true));
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f2, 7, 10, 10, false));
            assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f2, 2, 100, 1, true));
            assertEquals(nlm4_stats.NLM4_BLOCKED, b.lock(f1, 2, 0, 0, true, true, false));
            // the name sent from another address releases nothing: a machine only speaks for its own address
            smNotifyFrom("127.0.0.2", s.port(), "clienta");
            assertEquals(nlm4_stats.NLM4_DENIED, b.test(f2, 2, 10, 10, true).stat);
            // clienta's statd after its reboot (sm-notify sends over UDP): mon_name is its node name
            stat_chge c = new stat_chge();
            c.mon_name = "clienta".getBytes(StandardCharsets.US_ASCII);
            c.state = 3;
            try (OncRpcClient udp = new OncRpcClient(InetAddress.getLoopbackAddress(), IpProtocolType.UDP, s.port())) {
                new RpcCall(Nsm.SM_PROG, Nsm.SM_VERS, RpcTestClient.unix(0, 0), udp.connect(10, TimeUnit.SECONDS))
                        .call(Nsm.SM_NOTIFY_1, c, XdrVoid.XDR_VOID, 30, TimeUnit.SECONDS);
            }
            // b's waiting lock got f1; clienta's lock on f2 is gone; b's own lock stays
            nlm4_testargs g = fake.granted.poll(30, TimeUnit.SECONDS);
            assertNotNull(g, "GRANTED to the waiting client");
            assertEquals(2, g.alock.svid);
            assertEquals(nlm4_stats.NLM4_GRANTED, b.test(f2, 2, 10, 10, true).stat);
            nlm4_testrply t = a.test(f2, 9, 100, 1, false);
            assertEquals(nlm4_stats.NLM4_DENIED, t.stat);
            assertEquals(2, t.holder.svid);
            // FREE_ALL (clients without a status monitor) does the same for clientb
            nlm4_notify n = new nlm4_notify();
            n.name = "clientb".getBytes(StandardCharsets.US_ASCII);
            n.state = 5;
            b.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_FREE_ALL_4, n, XdrVoid.XDR_VOID);
            assertEquals(0, s.server.locking().heldLocks());
        }
    }

    @Test
    void restartAfterACrashNotifiesClientsAndKeepsAGracePeriodForReclaims() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, Duration.ofMinutes(10), fake.peers())) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            int firstState = s.server.locking().state();
            assertEquals(1, firstState % 2, "odd while up");
            assertFalse(s.server.locking().inGrace(), "a first start has no grace period");
            try (Lockd a = new Lockd(s.port(), "clienta")) {
                assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 100, true));
            }
            assertTrue(Files.readString(s.state.resolve("clients")).contains("127.0.0.1"),
                    "the client is recorded before it is granted");
            s.restartAfterCrash();
            assertEquals(firstState + 2, s.server.locking().state(), "the next odd number");
            stat_chge c = fake.notified.poll(30, TimeUnit.SECONDS);
            assertNotNull(c, "SM_NOTIFY to the client's status monitor");
            assertEquals("127.0.0.1", new String(c.mon_name, StandardCharsets.US_ASCII), "our name as it called us");
            assertEquals(firstState + 2, c.state);
            assertTrue(s.server.locking().inGrace());
            try (Lockd a = new Lockd(s.port(), "clienta");
                 Lockd b = new Lockd(s.port(), "clientb")) {
                // new locks and tests wait for the grace period; reclaims go through
                assertEquals(nlm4_stats.NLM4_DENIED_GRACE_PERIOD, b.lock(f, 2, 200, 1, true));
                assertEquals(nlm4_stats.NLM4_DENIED_GRACE_PERIOD, b.test(f, 2, 0, 1, true).stat);
                assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 100, true, false, true));
                assertEquals(nlm4_stats.NLM4_DENIED, b.lock(f, 2, 50, 1, true, false, true), "reclaims conflict too");
                assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 2, 100, 1, true, false, true));
                // releasing is always allowed
                assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 1, 0, 0));
            }
            // a client whose locks were all released is no longer recorded (after the sweep, which runs every minute)
            assertTrue(Files.readString(s.state.resolve("clients")).contains(hex("clienta")));
            s.server.locking().forgetIdleClients();
            assertFalse(Files.readString(s.state.resolve("clients")).contains(hex("clienta")));
            assertTrue(Files.readString(s.state.resolve("clients")).contains(hex("clientb")));
        }
    }

    @Test
    void anOrderlyStopWithinTheGracePeriodNotifiesAgain() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, Duration.ofMinutes(10), fake.peers())) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            try (Lockd a = new Lockd(s.port(), "clienta");
                 Lockd c = new Lockd(s.port(), "clientc")) {
                assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 10, true));
                assertEquals(nlm4_stats.NLM4_GRANTED, c.lock(f, 3, 20, 10, true));
            }
            s.restartAfterCrash();
            assertNotNull(fake.notified.poll(30, TimeUnit.SECONDS));
            try (Lockd a = new Lockd(s.port(), "clienta")) {
                assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 10, true, false, true));
            }
            // clientc has not reclaimed yet: an orderly stop now must not pass for "nothing lost"
            s.restart();
            assertFalse(Files.exists(s.state.resolve("locks")));
            assertTrue(s.server.locking().inGrace());
            assertNotNull(fake.notified.poll(30, TimeUnit.SECONDS), "told again");
            try (Lockd c = new Lockd(s.port(), "clientc")) {
                assertEquals(nlm4_stats.NLM4_GRANTED, c.lock(f, 3, 20, 10, true, false, true));
            }
        }
    }

    @Test
    void anOrderlyRestartHoldsTheLocksOn() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, Duration.ofMinutes(10), fake.peers())) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            nfs_fh3 g = file(s.port(), "/", "dir", "b");
            try (Lockd a = new Lockd(s.port(), "clienta")) {
                assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 100, true));
                assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 200, 0, false));
                assertEquals(nlm4_stats.NLM4_GRANTED, a.share(g, 1, fsh4_mode.fsm_DW, fsh4_access.fsa_R, false));
            }
            s.restart();
            assertFalse(Files.exists(s.state.resolve("locks")), "taken by the new instance");
            assertFalse(s.server.locking().inGrace(), "nothing was lost: no grace period");
            assertEquals(2, s.server.locking().heldLocks());
            try (Lockd a = new Lockd(s.port(), "clienta");
                 Lockd b = new Lockd(s.port(), "clientb")) {
                nlm4_testrply t = b.test(f, 2, 50, 1, false);
                assertEquals(nlm4_stats.NLM4_DENIED, t.stat);
                assertEquals(1, t.holder.svid);
                assertEquals("1@clienta", new String(t.holder.oh.value, StandardCharsets.US_ASCII));
                assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 2, 100, 100, true), "new locks at once");
                assertEquals(nlm4_stats.NLM4_DENIED, b.lock(f, 2, 300, 1, true), "the shared lock to EOF too");
                assertEquals(nlm4_stats.NLM4_DENIED, b.share(g, 2, fsh4_mode.fsm_DN, fsh4_access.fsa_W, false));
                // the owner goes on with its locks: its unlock (after the restart) releases them
                assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 1, 0, 0));
                assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 2, 0, 0, true));
            }
            // a crash after this start must not find the old locks again
            assertFalse(Files.exists(s.state.resolve("locks")));
            assertTrue(fake.notified.isEmpty(), "nobody to notify");
        }
    }

    @Test
    void restartWithoutLockHoldersHasNoGracePeriod() throws Exception {
        try (LockServer s = new LockServer(OPEN, Duration.ofMinutes(10), (h, f, p, v) -> 0)) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            try (Lockd a = new Lockd(s.port(), "clienta")) {
                assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 0, true));
                assertEquals(nlm4_stats.NLM4_GRANTED, a.unlock(f, 1, 0, 0));
            }
            s.restart();
            assertFalse(s.server.locking().inGrace());
            try (Lockd b = new Lockd(s.port(), "clientb")) {
                assertEquals(nlm4_stats.NLM4_GRANTED, b.lock(f, 2, 0, 0, true));
            }
        }
    }

    @Test
    void asynchronousFormsAnswerWithACallBack() throws Exception {
        try (FakeClient fake = new FakeClient();
             LockServer s = new LockServer(OPEN, NO_GRACE, fake.peers());
             Lockd a = new Lockd(s.port(), "clienta");
             Lockd b = new Lockd(s.port(), "clientb")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            nlm4_lockargs la = new nlm4_lockargs();
            la.cookie = new netobj(new byte[]{7});
            la.exclusive = true;
            la.alock = a.lock(f, 1, 0, 10);
            la.state = 1;
            a.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_LOCK_MSG_4, la, XdrVoid.XDR_VOID);
            nlm4_res r = fake.results.poll(30, TimeUnit.SECONDS);
            assertNotNull(r, "LOCK_RES");
            assertArrayEquals(new byte[]{7}, r.cookie.value);
            assertEquals(nlm4_stats.NLM4_GRANTED, r.stat.stat);
            nlm4_testargs ta = new nlm4_testargs();
            ta.cookie = new netobj(new byte[]{8});
            ta.exclusive = false;
            ta.alock = b.lock(f, 2, 5, 1);
            b.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_TEST_MSG_4, ta, XdrVoid.XDR_VOID);
            nlm4_testres t = fake.testResults.poll(30, TimeUnit.SECONDS);
            assertNotNull(t, "TEST_RES");
            assertArrayEquals(new byte[]{8}, t.cookie.value);
            assertEquals(nlm4_stats.NLM4_DENIED, t.test_stat.stat);
            assertEquals(1, t.test_stat.holder.svid);
            nlm4_unlockargs ua = new nlm4_unlockargs();
            ua.cookie = new netobj(new byte[]{9});
            ua.alock = a.lock(f, 1, 0, 0);
            a.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_UNLOCK_MSG_4, ua, XdrVoid.XDR_VOID);
            r = fake.results.poll(30, TimeUnit.SECONDS);
            assertNotNull(r, "UNLOCK_RES");
            assertArrayEquals(new byte[]{9}, r.cookie.value);
            assertEquals(nlm4_stats.NLM4_GRANTED, r.stat.stat);
            assertEquals(nlm4_stats.NLM4_GRANTED, b.test(f, 2, 0, 0, true).stat);
        }
    }

    /** An SM_NOTIFY datagram from {@code source} (another loopback address), waiting for its reply. */
    private static void smNotifyFrom(String source, int port, String name) throws Exception {
        org.dcache.oncrpc4j.xdr.Xdr x = new org.dcache.oncrpc4j.xdr.Xdr(1024);
        x.beginEncoding();
        x.xdrEncodeInt(0x5eed);
        x.xdrEncodeInt(0);                                  // CALL
        x.xdrEncodeInt(2);
        x.xdrEncodeInt(Nsm.SM_PROG);
        x.xdrEncodeInt(Nsm.SM_VERS);
        x.xdrEncodeInt(Nsm.SM_NOTIFY_1);
        x.xdrEncodeInt(0);                                  // AUTH_NONE
        x.xdrEncodeInt(0);
        x.xdrEncodeInt(0);
        x.xdrEncodeInt(0);
        stat_chge c = new stat_chge();
        c.mon_name = name.getBytes(StandardCharsets.US_ASCII);
        c.state = 7;
        c.xdrEncode(x);
        x.endEncoding();
        org.glassfish.grizzly.Buffer b = x.asBuffer();
        byte[] call = new byte[b.remaining()];
        b.get(call);
        try (java.net.DatagramSocket d = new java.net.DatagramSocket(new InetSocketAddress(source, 0))) {
            d.setSoTimeout(30_000);
            d.send(new java.net.DatagramPacket(call, call.length, new InetSocketAddress("127.0.0.1", port)));
            java.net.DatagramPacket reply = new java.net.DatagramPacket(new byte[512], 512);
            d.receive(reply);
            assertEquals(0x5eed, java.nio.ByteBuffer.wrap(reply.getData()).getInt(0), "the reply to our call");
        }
    }

    @Test
    void malformedArgumentsAreRefusedAndTheServerGoesOn() throws Exception {
        try (LockServer s = new LockServer(OPEN, NO_GRACE, null);
             Lockd a = new Lockd(s.port(), "clienta")) {
            nfs_fh3 f = file(s.port(), "/", "dir", "a");
            // a caller name longer than the protocol's 1024 bytes, and an owner handle too: GARBAGE_ARGS
            nlm4_lockargs la = new nlm4_lockargs();
            la.cookie = new netobj(new byte[4]);
            la.exclusive = true;
            la.alock = a.lock(f, 1, 0, 0);
            la.alock.caller_name = new byte[2000];
            assertThrows(Exception.class, () -> a.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_LOCK_4, la, new nlm4_res()));
            la.alock = a.lock(f, 1, 0, 0);
            la.alock.oh = new netobj(new byte[1025]);
            assertThrows(Exception.class, () -> a.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_LOCK_4, la, new nlm4_res()));
            // arguments cut short
            assertThrows(Exception.class, () -> a.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, Nlm4.NLMPROC4_UNLOCK_4,
                    new netobj(new byte[3]), new nlm4_res()));
            // an unknown procedure, and versions we do not speak
            assertThrows(Exception.class, () -> a.call(Nlm4.NLM_PROG, Nlm4.NLM4_VERS, 19, XdrVoid.XDR_VOID, XdrVoid.XDR_VOID));
            assertThrows(Exception.class, () -> a.call(Nlm4.NLM_PROG, 3, Nlm4.NLMPROC4_NULL_4, XdrVoid.XDR_VOID, XdrVoid.XDR_VOID));
            // junk datagrams on the UDP port
            try (java.net.DatagramSocket d = new java.net.DatagramSocket()) {
                java.util.Random r = new java.util.Random(22);
                for (int i = 0; i < 200; i++) {
                    byte[] junk = new byte[r.nextInt(200)];
                    r.nextBytes(junk);
                    if (junk.length >= 8) junk[4] = junk[5] = junk[6] = junk[7] = 0;   // "a call", mostly
                    d.send(new java.net.DatagramPacket(junk, junk.length, new InetSocketAddress("127.0.0.1", s.port())));
                }
            }
            // nothing was locked, and the server still answers on both transports
            assertEquals(0, s.server.locking().heldLocks());
            assertEquals(nlm4_stats.NLM4_GRANTED, a.lock(f, 1, 0, 0, true));
            smNotifyFrom("127.0.0.1", s.port(), "clienta");
            assertEquals(0, s.server.locking().heldLocks());
        }
    }

    private static String hex(String s) { return java.util.HexFormat.of().formatHex(s.getBytes(StandardCharsets.US_ASCII)); }
}
