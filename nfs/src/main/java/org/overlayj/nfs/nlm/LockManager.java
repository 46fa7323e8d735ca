package org.overlayj.nfs.nlm;

import org.overlayj.nfs.xdr.nlm4_stats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The locks of every export's files, and who holds them. One monitor lock serialises every change (NLM traffic
 * is a few calls per lock taken); the GRANTED calls to clients run elsewhere ({@link Callbacks}) and come back
 * through {@link #grantAnswered}.
 */
final class LockManager {
    private static final Logger log = LoggerFactory.getLogger(LockManager.class);

    /** Tells a waiting client its lock was granted; the answer is the client's nlm4_stats. */
    interface Callbacks {
        int granted(Block b) throws Exception;
    }

    private final Map<FileKey, FileLocks> files = new HashMap<>();
    private final Map<ClientHost, Set<FileKey>> hostFiles = new HashMap<>();
    private final StatusMonitor monitor;
    private final Callbacks callbacks;
    private final Executor callbackRunner;
    private final long graceEnd;
    private volatile boolean graceOver;

    LockManager(StatusMonitor monitor, Callbacks callbacks, Executor callbackRunner, long graceNanos) {
        this.monitor = monitor;
        this.callbacks = callbacks;
        this.callbackRunner = callbackRunner;
        this.graceEnd = System.nanoTime() + graceNanos;
        this.graceOver = graceNanos <= 0;
    }

    boolean inGrace() {
        if (graceOver) return false;
        if (System.nanoTime() - graceEnd < 0) return true;
        graceOver = true;
        return false;
    }

    void endGrace() { graceOver = true; }

    /** The conflicting lock, or null when the lock could be granted now. */
    synchronized FileLocks.Held test(FileKey f, LockOwner owner, ByteRange range, boolean exclusive) {
        FileLocks fl = files.get(f);
        return fl == null ? null : fl.conflict(owner, range, exclusive);
    }

    /**
     * LOCK (and NM_LOCK with {@code monitored} false). A conflicting blocking request is queued and answered
     * BLOCKED; the same request again (the client polls) finds its lock set once it was granted.
     */
    synchronized int lock(FileKey f, LockOwner owner, ByteRange range, boolean exclusive, boolean block,
                          boolean monitored, String serverName, java.util.function.Supplier<Block> blocked) {
        FileLocks fl = files.computeIfAbsent(f, k -> new FileLocks());
        try {
            if (fl.conflict(owner, range, exclusive) == null) {
                if (monitored && !monitor.monitor(owner.host(), serverName)) return nlm4_stats.NLM4_DENIED_NOLOCKS;
                fl.apply(owner, range, exclusive);
                Block b = fl.waitingFor(owner, range, exclusive);
                if (b != null) fl.waiting.remove(b);       // its poll: granted now, or granted before and confirmed
                note(owner.host(), f);
                return nlm4_stats.NLM4_GRANTED;
            }
            if (!block) return nlm4_stats.NLM4_DENIED;
            if (fl.waitingFor(owner, range, exclusive) == null) {
                // As fcntl(F_SETLKW) answers EDEADLK: the holders wait, directly or not, for this owner.
                if (waitsFor(fl.conflicting(owner, range, exclusive), owner)) return nlm4_stats.NLM4_DEADLCK;
                if (monitored && !monitor.monitor(owner.host(), serverName)) return nlm4_stats.NLM4_DENIED_NOLOCKS;
                fl.waiting.add(blocked.get());
                note(owner.host(), f);
            }
            return nlm4_stats.NLM4_BLOCKED;
        } finally {
            tidy(owner.host(), f, fl);
        }
    }

    synchronized int unlock(FileKey f, LockOwner owner, ByteRange range) {
        FileLocks fl = files.get(f);
        if (fl == null) return nlm4_stats.NLM4_GRANTED;
        fl.remove(owner, range);
        grantWaiting(f, fl);
        tidy(owner.host(), f, fl);
        return nlm4_stats.NLM4_GRANTED;
    }

    /** CANCEL of a waiting request; one granted meanwhile (GRANTED not yet confirmed) is released again. */
    synchronized int cancel(FileKey f, LockOwner owner, ByteRange range, boolean exclusive) {
        FileLocks fl = files.get(f);
        if (fl == null) return nlm4_stats.NLM4_GRANTED;
        Block b = fl.waitingFor(owner, range, exclusive);
        if (b != null) {
            fl.waiting.remove(b);
            if (b.granted) {
                fl.remove(owner, range);
                grantWaiting(f, fl);
            }
        }
        tidy(owner.host(), f, fl);
        return nlm4_stats.NLM4_GRANTED;
    }

    synchronized int share(FileKey f, ClientHost host, String oh, int mode, int access, String serverName) {
        FileLocks fl = files.computeIfAbsent(f, k -> new FileLocks());
        try {
            if (fl.shareConflict(host, oh, mode, access) != null) return nlm4_stats.NLM4_DENIED;
            if (!monitor.monitor(host, serverName)) return nlm4_stats.NLM4_DENIED_NOLOCKS;
            fl.removeShare(host, oh);
            fl.shares.add(new FileLocks.Share(host, oh, mode, access));
            note(host, f);
            return nlm4_stats.NLM4_GRANTED;
        } finally {
            tidy(host, f, fl);
        }
    }

    synchronized int unshare(FileKey f, ClientHost host, String oh) {
        FileLocks fl = files.get(f);
        if (fl == null) return nlm4_stats.NLM4_GRANTED;
        fl.removeShare(host, oh);
        tidy(host, f, fl);
        return nlm4_stats.NLM4_GRANTED;
    }

    /**
     * A client host is gone (its status monitor said it rebooted, or FREE_ALL): every lock, waiting request and
     * share of the hosts {@code which} selects is released, and waiting requests of others get their turn.
     */
    synchronized int release(java.util.function.Predicate<ClientHost> which, String why) {
        List<ClientHost> hosts = new ArrayList<>();
        for (ClientHost h : hostFiles.keySet()) if (which.test(h)) hosts.add(h);
        for (ClientHost h : hosts) {
            Set<FileKey> fks = hostFiles.remove(h);
            log.info("NLM: releasing the locks of {} on {} files ({})", h, fks.size(), why);
            for (FileKey f : fks) {
                FileLocks fl = files.get(f);
                if (fl == null) continue;
                fl.dropHost(h);
                grantWaiting(f, fl);
                if (fl.isEmpty()) files.remove(f);
            }
            monitor.unmonitor(h);
        }
        return hosts.size();
    }

    /** The client answered our GRANTED call (synchronously, or by GRANTED_RES). */
    synchronized void grantAnswered(Block b, int status) {
        FileLocks fl = files.get(b.file);
        if (fl == null || !fl.waiting.contains(b)) return;  // confirmed by its poll, cancelled, or released
        fl.waiting.remove(b);
        if (status != nlm4_stats.NLM4_GRANTED) {
            // The client no longer waits for it (the process gave up): the range goes to the next in line.
            log.debug("NLM: {} refused the grant of {} ({})", b.owner.host(), b.range, status);
            fl.remove(b.owner, b.range);
            grantWaiting(b.file, fl);
        }
        tidy(b.owner.host(), b.file, fl);
    }

    /** GRANTED_RES from a client: finds the block our GRANTED_MSG was about by its cookie. */
    synchronized void grantAnswered(ClientHost host, byte[] cookie, int status) {
        for (Set<FileKey> fks : List.copyOf(hostFiles.values())) {
            for (FileKey f : fks) {
                FileLocks fl = files.get(f);
                if (fl == null) continue;
                for (Block b : List.copyOf(fl.waiting)) {
                    if (b.granted && b.owner.host().address().equals(host.address())
                            && java.util.Arrays.equals(b.cookie, cookie)) {
                        grantAnswered(b, status);
                        return;
                    }
                }
            }
        }
    }

    /**
     * Whether one of {@code owners} waits, through a chain of waiting requests and the locks they wait for, for
     * {@code target}: queueing target's request behind them would then never end.
     */
    private boolean waitsFor(List<LockOwner> owners, LockOwner target) {
        java.util.ArrayDeque<LockOwner> todo = new java.util.ArrayDeque<>(owners);
        Set<LockOwner> seen = new HashSet<>();
        while (!todo.isEmpty()) {
            LockOwner o = todo.poll();
            if (o.equals(target)) return true;
            if (!seen.add(o)) continue;
            Set<FileKey> fks = hostFiles.get(o.host());
            if (fks == null) continue;
            for (FileKey f : fks) {
                FileLocks fl = files.get(f);
                if (fl == null) continue;
                for (Block b : fl.waiting) {
                    if (!b.granted && b.owner.equals(o)) todo.addAll(fl.conflicting(o, b.range, b.exclusive));
                }
            }
        }
        return false;
    }

    /** Gives freed ranges to waiting requests, in their order, and sends them GRANTED. */
    private void grantWaiting(FileKey f, FileLocks fl) {
        for (Block b : fl.waiting) {
            if (b.granted || fl.conflict(b.owner, b.range, b.exclusive) != null) continue;
            fl.apply(b.owner, b.range, b.exclusive);
            b.granted = true;
            b.cookie = new byte[8];
            ThreadLocalRandom.current().nextBytes(b.cookie);
            try {
                callbackRunner.execute(() -> callBack(b));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // stopping: the client's poll (to the next instance, as a reclaim) finds out
            }
        }
    }

    /** The GRANTED call, off the lock; its answer comes back through {@link #grantAnswered(Block, int)}. */
    private void callBack(Block b) {
        int status;
        try {
            status = callbacks.granted(b);
        } catch (Exception e) {
            // Unreachable client lock manager: the lock stays set; the client's next poll finds it.
            log.info("NLM: GRANTED to {} not delivered ({}); it gets the lock when it asks again",
                    b.owner.host(), e.toString());
            return;
        }
        grantAnswered(b, status);
    }

    private void note(ClientHost host, FileKey f) {
        hostFiles.computeIfAbsent(host, k -> new HashSet<>()).add(f);
    }

    /** Forgets the host on this file when it has nothing left there, and the host when it has nothing anywhere. */
    private void tidy(ClientHost host, FileKey f, FileLocks fl) {
        if (!fl.hasState(host)) {
            Set<FileKey> fks = hostFiles.get(host);
            if (fks != null) {
                fks.remove(f);
                // The host's record stays until the next sweep: a client that locks and unlocks in a loop (sqlite)
                // would otherwise pay two synced writes of the client list per lock.
                if (fks.isEmpty()) hostFiles.remove(host);
            }
        }
        // Hosts whose blocks were granted (and so newly hold locks here) stay noted: their blocks noted them.
        if (fl.isEmpty()) files.remove(f);
    }

    /** Drops the records of client hosts that hold nothing any more (run every minute or so). */
    synchronized void sweep() {
        monitor.retainOnly(hostFiles.keySet());
    }

    /**
     * The locks and share reservations held now, one line each, for the next instance after an orderly stop
     * (waiting requests are not kept: their clients poll again). Files whose export has no path are left out.
     */
    synchronized List<String> snapshot(java.util.function.IntFunction<String> exportPath) {
        java.util.HexFormat hex = java.util.HexFormat.of();
        List<String> lines = new ArrayList<>();
        files.forEach((f, fl) -> {
            String export = exportPath.apply(f.exportId());
            if (export == null) return;
            String file = hex.formatHex(export.getBytes(java.nio.charset.StandardCharsets.UTF_8)) + " " + f.fileId();
            for (FileLocks.Held h : fl.held) {
                lines.add("L " + file + " " + host(h.owner().host()) + " " + h.owner().svid() + " "
                        + (h.owner().oh().isEmpty() ? "-" : h.owner().oh()) + " " + Long.toUnsignedString(h.range().first())
                        + " " + Long.toUnsignedString(h.range().last()) + " " + (h.exclusive() ? "x" : "s"));
            }
            for (FileLocks.Share sh : fl.shares) {
                lines.add("S " + file + " " + host(sh.host()) + " " + (sh.oh().isEmpty() ? "-" : sh.oh()) + " " + sh.mode()
                        + " " + sh.access());
            }
        });
        return lines;
    }

    private static String host(ClientHost h) {
        return java.util.HexFormat.of().formatHex(h.name().getBytes(java.nio.charset.StandardCharsets.ISO_8859_1))
                + " " + h.address().getHostAddress();
    }

    /** Takes back what {@link #snapshot} saved; returns the hosts that hold something again. */
    synchronized Set<ClientHost> restore(List<String> lines, java.util.function.ToIntFunction<String> exportId) {
        java.util.HexFormat hex = java.util.HexFormat.of();
        Set<ClientHost> hosts = new HashSet<>();
        for (String line : lines) {
            String[] w = line.trim().split(" ");
            try {
                boolean lock = w[0].equals("L") && w.length == 10;
                boolean share = w[0].equals("S") && w.length == 8;
                if (!lock && !share) throw new IllegalArgumentException("not a lock or share line");
                int id = exportId.applyAsInt(new String(hex.parseHex(w[1]), java.nio.charset.StandardCharsets.UTF_8));
                if (id < 0) continue;                             // the export is gone
                FileKey f = new FileKey(id, Long.parseLong(w[2]));
                ClientHost h = new ClientHost(new String(hex.parseHex(w[3]), java.nio.charset.StandardCharsets.ISO_8859_1),
                        java.net.InetAddress.ofLiteral(w[4]));
                FileLocks fl = files.computeIfAbsent(f, k -> new FileLocks());
                if (lock) {
                    LockOwner o = new LockOwner(h, Integer.parseInt(w[5]), w[6].equals("-") ? "" : w[6]);
                    ByteRange r = new ByteRange(Long.parseUnsignedLong(w[7]), Long.parseUnsignedLong(w[8]));
                    fl.apply(o, r, w[9].equals("x"));
                } else {
                    fl.shares.add(new FileLocks.Share(h, w[5].equals("-") ? "" : w[5], Integer.parseInt(w[6]),
                            Integer.parseInt(w[7])));
                }
                note(h, f);
                hosts.add(h);
            } catch (RuntimeException e) {
                log.warn("NLM: saved lock not restored ({}): {}", e.getMessage(), line);
            }
        }
        return hosts;
    }

    /** Locks held now (for tests and the counters). */
    synchronized int heldCount() {
        int n = 0;
        for (FileLocks fl : files.values()) n += fl.held.size();
        return n;
    }
}
