package org.overlayj.nfs.nlm;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.overlayj.nfs.xdr.Nlm4;
import org.overlayj.nfs.xdr.Nsm;
import org.overlayj.nfs.xdr.netobj;
import org.overlayj.nfs.xdr.nlm4_res;
import org.overlayj.nfs.xdr.nlm4_testargs;
import org.overlayj.nfs.xdr.stat_chge;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * File locking for the NFSv3 door: the lock manager (NLM v4) and the server's own status monitor (NSM), served on
 * the NFS port. At start it takes the next NSM state number; when the previous instance had clients holding
 * locks it sends each of them SM_NOTIFY and keeps a grace period in which only their reclaims are granted.
 */
public final class NlmService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NlmService.class);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    /** How often the records of clients that hold no locks any more are dropped. */
    private static final long SWEEP_SECONDS = 60;

    /**
     * @param stateDir where the NSM state number and the list of clients holding locks are kept; null: in memory
     *                 only (no notification, no grace period after a restart)
     * @param grace    how long after a restart only reclaims are granted (knfsd: 90 s)
     * @param peers    how the client's lock manager and status monitor are found (the client's portmapper)
     */
    public record Config(Path stateDir, Duration grace, Peers peers) {
        public static final Duration DEFAULT_GRACE = Duration.ofSeconds(90);

        public Config {
            if (grace.isNegative()) throw new IllegalArgumentException("negative grace period");
        }

        public static Config inMemory() { return new Config(null, DEFAULT_GRACE, Peers.portmapper(CALL_TIMEOUT)); }

        public static Config of(Path stateDir, Duration grace) {
            return new Config(stateDir, grace, Peers.portmapper(CALL_TIMEOUT));
        }
    }

    private final Config config;
    private final LockFiles files;
    private final StatusMonitor monitor;
    private final LockManager locks;
    private final ExecutorService calls = Executors.newVirtualThreadPerTaskExecutor();
    private final ScheduledExecutorService timer;
    private final Map<OncRpcProgram, RpcDispatchable> programs;
    /** Our own TCP address, once bound: a client "found" there is ourselves (see {@link #target}). */
    private volatile InetSocketAddress self;

    private NlmService(Config config, LockFiles files) throws IOException {
        this.config = config;
        this.files = files;
        this.monitor = new StatusMonitor(config.stateDir());
        List<String> saved = monitor.takeLocks();
        List<StatusMonitor.Monitored> previous = saved.isEmpty() ? monitor.previous() : List.of();
        // No client of the previous instance held a lock: nobody can reclaim, so no reason to make new locks wait.
        Duration grace = previous.isEmpty() ? Duration.ZERO : config.grace();
        this.locks = new LockManager(monitor, this::sendGranted, calls, grace.toNanos());
        if (!saved.isEmpty()) {
            // The previous instance stopped in order and saved its locks: they are held on, so no client lost
            // anything, and there is nobody to notify and no grace period.
            java.util.Set<ClientHost> hosts = locks.restore(saved, files::exportId);
            monitor.restored(hosts);
            log.info("NLM: {} locks and share reservations of {} clients held on from the previous instance",
                    saved.size(), hosts.size());
        }
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "overlayj-nlm-timer");
            t.setDaemon(true);
            return t;
        });
        timer.schedule(() -> {
            locks.endGrace();
            monitor.endGrace();
            if (!previous.isEmpty()) log.info("NLM grace period over");
        }, grace.toNanos(), TimeUnit.NANOSECONDS);
        timer.scheduleWithFixedDelay(locks::sweep, SWEEP_SECONDS, SWEEP_SECONDS, TimeUnit.SECONDS);
        this.programs = Map.of(
                new OncRpcProgram(Nlm4.NLM_PROG, Nlm4.NLM4_VERS), new Nlm4Program(this, locks, files),
                new OncRpcProgram(Nsm.SM_PROG, Nsm.SM_VERS), new NsmProgram(this));
        this.previous = previous;
    }

    private final List<StatusMonitor.Monitored> previous;

    /**
     * The server listens at {@code address} now: the previous instance's clients are told of the restart (their
     * reclaims can reach us from here on).
     */
    public void listening(InetSocketAddress address) {
        self = address;
        if (previous.isEmpty()) {
            log.info("NLM: state {}, no clients to notify", monitor.state());
        } else {
            log.info("NLM: state {}, notifying {} clients; grace period {} s", monitor.state(), previous.size(),
                    config.grace().toSeconds());
            for (StatusMonitor.Monitored m : previous) calls.execute(() -> notifyRestart(m));
        }
    }

    /**
     * Where to call {@code prog} on a client. A client behind NAT (a VM on user-mode networking) calls from our
     * own address, and its "portmapper" is ours: we would be calling ourselves (our NSM would take our own
     * SM_NOTIFY for a client reboot, our NLM would refuse our own GRANTED). Such a client cannot be called back:
     * it polls for blocked locks, and is not told of restarts.
     */
    private InetSocketAddress target(InetAddress host, InetAddress from, int prog, int vers) throws Exception {
        int port = config.peers().tcpPort(host, from, prog, vers);
        if (port == 0) throw new IOException("program " + prog + " v" + vers + " not registered at " + host.getHostAddress());
        InetSocketAddress t = new InetSocketAddress(host, port);
        InetSocketAddress me = self;
        if (me != null && port == me.getPort() && (host.equals(me.getAddress()) || me.getAddress().isAnyLocalAddress()))
            throw new SelfCall("the client's address " + host.getHostAddress() + " leads back to this server");
        return t;
    }

    /** Starts locking for the files {@code files} resolves. */
    public static NlmService start(LockFiles files, Config config) throws IOException {
        return new NlmService(config, files);
    }

    /** NLM v4 and NSM v1, to serve on the NFS port and register with the portmapper. */
    public Map<OncRpcProgram, RpcDispatchable> programs() { return programs; }

    /** The NSM state number of this instance (odd). */
    public int state() { return monitor.state(); }

    public boolean inGrace() { return locks.inGrace(); }

    /** Drops the records of clients that hold no locks any more now, rather than at the next minutely sweep. */
    public void forgetIdleClients() { locks.sweep(); }

    /** Locks held now. */
    public int heldLocks() { return locks.heldCount(); }

    /**
     * SM_NOTIFY from a client's status monitor: that machine rebooted, its locks are gone with its processes.
     * Released are the hosts that call from the sender's address and have its name (the Linux client's caller_name
     * and its sm-notify's mon_name are both its node name); when none has that name, every host at the sender's
     * address (a client whose name changed, or that notifies by address). A machine can only release the locks
     * taken from its own address, whatever name it sends.
     */
    void rebooted(String monName, InetAddress from, int state) {
        int n = locks.release(h -> h.address().equals(from) && h.name().equalsIgnoreCase(monName),
                "SM_NOTIFY " + monName + " state " + state);
        if (n == 0) n = locks.release(h -> h.address().equals(from), "SM_NOTIFY " + monName + " from " + from);
        monitor.forgetPrevious(h -> h.address().equals(from));
        log.info("NLM: {} ({}) rebooted, state {}: {} hosts released", monName, from.getHostAddress(), state, n);
    }

    private static final class SelfCall extends IOException {
        SelfCall(String why) {
            super(why);
        }
    }

    /** GRANTED to the client's lock manager, from the address the client sent its LOCK to. */
    private int sendGranted(Block b) throws Exception {
        InetAddress host = b.client.getAddress();
        InetAddress from = b.server.getAddress();
        InetSocketAddress to = target(host, from, Nlm4.NLM_PROG, b.vers);
        nlm4_testargs a = new nlm4_testargs();
        a.cookie = new netobj(b.cookie);
        a.exclusive = b.exclusive;
        a.alock = b.lock;
        nlm4_res r = new nlm4_res();
        RpcCaller.callTcp(to, from, Nlm4.NLM_PROG, b.vers, Nlm4.NLMPROC4_GRANTED_4, a, r,
                CALL_TIMEOUT);
        return r.stat.stat;
    }

    /** The *_RES call answering a *_MSG call, sent to the client's lock manager. */
    void answer(InetSocketAddress client, InetSocketAddress local, int proc, XdrAble result) {
        try {
            calls.execute(() -> {
                try {
                    InetSocketAddress to = target(client.getAddress(), local.getAddress(), Nlm4.NLM_PROG, Nlm4.NLM4_VERS);
                    RpcCaller.callTcp(to, local.getAddress(), Nlm4.NLM_PROG, Nlm4.NLM4_VERS, proc, result, null,
                            CALL_TIMEOUT);
                } catch (Exception e) {
                    log.info("NLM: answer {} to {} not delivered: {}", proc, client.getAddress().getHostAddress(),
                            e.toString());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // stopping: the client asks the next instance again
        }
    }

    /**
     * SM_NOTIFY to a client of the previous instance, under the name it monitors us by (our address as it called
     * us), so that its status monitor tells its lock manager to reclaim. Retried with backoff for the grace period.
     */
    private void notifyRestart(StatusMonitor.Monitored m) {
        InetAddress host = m.host().address();
        InetAddress from = null;
        try {
            from = InetAddress.ofLiteral(m.serverName());
        } catch (IllegalArgumentException e) {
            // not an address: any source
        }
        stat_chge c = new stat_chge();
        c.mon_name = m.serverName().getBytes(StandardCharsets.ISO_8859_1);
        c.state = monitor.state();
        long deadline = System.nanoTime() + Math.max(config.grace().toNanos(), TimeUnit.SECONDS.toNanos(30));
        long wait = 1000;
        while (true) {
            try {
                InetSocketAddress to = target(host, from, Nsm.SM_PROG, Nsm.SM_VERS);
                RpcCaller.callTcp(to, from, Nsm.SM_PROG, Nsm.SM_VERS, Nsm.SM_NOTIFY_1, c,
                        null, CALL_TIMEOUT);
                log.info("NLM: told {} of our restart (state {})", m.host(), c.state);
                return;
            } catch (Exception e) {
                if (e instanceof SelfCall || System.nanoTime() - deadline > 0 || calls.isShutdown()) {
                    log.warn("NLM: could not tell {} of our restart: {}", m.host(), e.toString());
                    return;
                }
                log.debug("NLM: SM_NOTIFY to {} failed ({}), retrying", m.host(), e.toString());
            }
            try {
                Thread.sleep(wait);
            } catch (InterruptedException e) {
                return;
            }
            wait = Math.min(wait * 2, 15_000);
        }
    }

    /**
     * Stops the timer and outgoing calls; the state number turns even (an orderly stop). The locks held are saved
     * for the next instance, which holds them on: a restart in order is invisible to the clients. After a crash
     * there is no such file, and the next instance notifies the recorded clients, which reclaim.
     */
    @Override
    public void close() {
        timer.shutdownNow();
        locks.sweep();                    // clients that hold nothing need no notice at the next start
        monitor.saveLocks(locks.snapshot(files::exportPath));
        calls.shutdownNow();
        monitor.stopped();
    }
}
