package org.overlayj.cli;

import org.overlayj.core.Overlay;
import org.overlayj.core.config.MountOptions;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.nfs.NfsServer;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.exports.ExportsException;
import org.overlayj.nfs.rpc.RpcTcpServer;
import org.overlayj.nfs.nlm.NlmService;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code overlayj serve}: mounts the overlay in this process and serves it over NFSv3 (NFS and MOUNT on one TCP
 * port). Prints one readiness line once listening; SIGTERM/SIGINT stop it cleanly (requests in flight answered,
 * upper layer synced).
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve an overlay over NFSv3 (RFC 1813): NFS, MOUNT and file locking (NLM v4, NSM) on one port.")
public final class ServeCommand implements Callable<Integer> {

    @Option(names = {"-o", "--options"}, required = true, paramLabel = "OPTS",
            description = "overlay mount options: lowerdir=..,upperdir=..,workdir=..[,index=on,nfs_export=on,...]; "
                    + "index and nfs_export are turned on unless given")
    String options;

    @Option(names = "--listen", defaultValue = "127.0.0.1:2049", paramLabel = "HOST:PORT",
            description = "address to listen on (default: ${DEFAULT-VALUE}); port 0 picks a free port")
    String listen;

    @Option(names = "--exports", paramLabel = "FILE",
            description = "exports(5) file; default: the overlay root, rw, loopback clients, root_squash")
    Path exportsFile;

    @Option(names = "--portmap", description = "run a portmapper (portmap 2, rpcbind 3 and 4) on port 111 of the --listen "
            + "address (TCP and UDP), or register with the one there")
    boolean portmap;

    @Option(names = "--workers", defaultValue = "8",
            description = "worker threads for the calls that may wait on the disk (default: ${DEFAULT-VALUE})")
    int workers;

    @Option(names = {"--stats", "--stats-interval"}, defaultValue = "300", paramLabel = "SECONDS",
            description = "log request counters every SECONDS, 0 for never (default: ${DEFAULT-VALUE}); SIGUSR1 logs them now")
    int statsInterval;

    @Option(names = "--idle-timeout", defaultValue = "360", paramLabel = "SECONDS",
            description = "close a connection with no call for SECONDS, 0 for never (default: ${DEFAULT-VALUE}, knfsd's)")
    long idleTimeout;

    @Option(names = "--max-connections", defaultValue = "4096", paramLabel = "N",
            description = "connections at once; one more closes the least recently used (default: ${DEFAULT-VALUE})")
    int maxConnections;

    @Option(names = "--max-connections-per-client", defaultValue = "256", paramLabel = "N",
            description = "connections from one client address at once; one more closes that address's least "
                    + "recently used (default: ${DEFAULT-VALUE})")
    int maxPerClient;

    @Option(names = "--wait-layers", defaultValue = "30", paramLabel = "SECONDS",
            description = "when another overlayj still holds the upper/work dir (a server being stopped), wait up to "
                    + "SECONDS for it (default: ${DEFAULT-VALUE})")
    long waitLayers;

    @Option(names = "--grace-period", defaultValue = "90", paramLabel = "SECONDS",
            description = "after a restart, only lock reclaims are granted for SECONDS (default: ${DEFAULT-VALUE}; "
                    + "none when no client held locks)")
    int gracePeriod;

    @Option(names = "--state-dir", paramLabel = "DIR",
            description = "where the lock state (NSM state number, clients holding locks) is kept; "
                    + "default: /var/lib/overlayj/nlm/HASH (root) or $XDG_STATE_HOME/overlayj/nlm/HASH, HASH naming "
                    + "the upper dir; in memory for a read-only overlay without upper dir")
    Path stateDir;

    /** Runs serve alone (Main also has it as a subcommand). */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ServeCommand()).execute(args));
    }

    @Override
    public Integer call() {
        PrintStream err = System.err;
        Logger log = LoggerFactory.getLogger(ServeCommand.class);
        OverlayOptions opts;
        Exports exports;
        InetSocketAddress addr;
        try {
            MountOptions.Parsed parsed = MountOptions.parse(withServeDefaults(Linux.fromUtf8(options)));
            parsed.warnings().forEach(w -> log.warn("{}", w));
            opts = parsed.overlay();
            exports = exportsFile == null ? Exports.defaults() : Exports.load(exportsFile);
            // "ro" among the options: the whole overlay is served read-only, whatever the exports say
            if (parsed.readOnlyRequested()) exports = exports.readOnly();
            List<String> ignored = parsed.generic().stream().filter(o -> !o.equals("ro") && !o.equals("rw")).toList();
            if (!ignored.isEmpty()) log.info("mount options that do not apply to serve, ignored: {}", ignored);
            addr = parseListen(listen);
            if (idleTimeout < 0) throw new IllegalArgumentException("--idle-timeout must be 0 or more seconds");
            if (maxConnections < 1 || maxPerClient < 1)
                throw new IllegalArgumentException("--max-connections and --max-connections-per-client must be at least 1");
            if (workers < 1) throw new IllegalArgumentException("--workers must be at least 1");
            if (waitLayers < 0) throw new IllegalArgumentException("--wait-layers must be 0 or more seconds");
        } catch (ErrnoException e) {
            err.println("overlayj serve: " + e.detail() + " (" + Errno.name(e.errno()) + ")");
            return 2;
        } catch (IllegalArgumentException | ExportsException | IOException e) {
            err.println("overlayj serve: " + e.getMessage());
            return 2;
        }
        if (!opts.nfsExport()) {
            err.println("overlayj serve: refusing to serve with nfs_export=off: NFS clients keep file handles across "
                    + "copy-up and server restarts, which only nfs_export=on (with index=on) guarantees");
            return 2;
        }
        // Every native call is linked in the background from the start (see Linux.prelink; a mount does the same),
        // not in the middle of a client's call: the first READDIRPLUS of lower files linked listxattrat's
        // downcall, some 30 ms of the server's CPU in that listing. Not waited for: joined before the readiness
        // line it added ~50 ms to a start (0.41-0.68 s); a call that comes first links what it needs itself.
        Thread.ofPlatform().name("prelink").daemon(true).start(Linux::prelink);
        Overlay overlay;
        try {
            overlay = mountWaiting(opts, Duration.ofSeconds(waitLayers), log);
        } catch (ErrnoException e) {
            err.println("overlayj serve: mount failed: " + e.detail() + " (" + Errno.name(e.errno()) + ")");
            return 1;
        }
        NfsServer server;
        try {
            if (gracePeriod < 0) throw new IllegalArgumentException("--grace-period must not be negative");
            Path state = stateDir != null ? stateDir : defaultStateDir(opts, log);
            server = NfsServer.start(overlay, exports, new NfsServer.Config(addr, portmap, workers, statsInterval,
                    new RpcTcpServer.Limits(maxConnections, maxPerClient, Duration.ofSeconds(idleTimeout))),
                    NlmService.Config.of(state, Duration.ofSeconds(gracePeriod)));
        } catch (IOException | RuntimeException e) {
            overlay.close();
            err.println("overlayj serve: " + e.getMessage());
            return 1;
        }
        // SIGTERM/SIGINT release the main thread, which stops the server in order and returns 0; a shutdown hook
        // could not: the JVM would already be exiting with 143. SIGUSR1 logs the counters.
        CountDownLatch stop = new CountDownLatch(1);
        Signals.onTermination(stop::countDown);
        Signal.handle(new Signal("USR1"), s -> server.logStats());
        InetSocketAddress bound = server.address();
        String host = bound.getAddress().getHostAddress();
        if (bound.getAddress() instanceof java.net.Inet6Address) host = "[" + host + "]";
        System.out.println("overlayj: serving NFSv3 on " + host + ":" + bound.getPort()
                + " (exports: " + String.join(" ", exports.exports().stream().map(e -> e.path()).toList()) + ")");
        System.out.flush();
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        int rc = 0;
        try {
            server.close();      // stops accepting, answers requests in flight, syncs the upper layer
        } catch (IOException e) {
            err.println("overlayj serve: stop: " + e.getMessage());
            rc = 1;
        } finally {
            overlay.close();
        }
        err.println("overlayj serve: stopped; counters " + server.stats());
        return rc;
    }

    /**
     * Where the lock state of an overlay lives unless --state-dir says: outside the overlay's dirs (the work dir is
     * the overlay's own, which the kernel and fsck clean), one directory per upper dir: /var/lib/overlayj/nlm/HASH
     * for root, $XDG_STATE_HOME (default ~/.local/state)/overlayj/nlm/HASH for a user, HASH the first 16 hex digits
     * of the SHA-256 of the upper dir's real path. A state dir an earlier version left in WORKDIR/overlayj-nlm is
     * moved there (used where it is if it cannot be). Null (in memory) without an upper dir.
     */
    static Path defaultStateDir(OverlayOptions opts, Logger log) {
        if (opts.upperDir() == null) return null;
        String upper;
        try {
            upper = org.overlayj.core.layer.LayerPaths.realPath(opts.upperDir());
        } catch (ErrnoException e) {
            upper = opts.upperDir();
        }
        Path base;
        if (Linux.geteuid() == 0) {
            base = Path.of("/var/lib/overlayj");
        } else {
            String xdg = System.getenv("XDG_STATE_HOME");
            base = xdg != null && xdg.startsWith("/") ? Path.of(xdg, "overlayj")
                    : Path.of(System.getProperty("user.home"), ".local", "state", "overlayj");
        }
        Path dir = base.resolve("nlm").resolve(stateKey(upper));
        if (opts.workDir() != null) {
            Path old = Path.of(Linux.toUtf8(opts.workDir())).resolve("overlayj-nlm");
            if (java.nio.file.Files.isDirectory(old) && !java.nio.file.Files.exists(dir)) {
                try {
                    java.nio.file.Files.createDirectories(dir.getParent());
                    java.nio.file.Files.move(old, dir);
                    log.info("lock state moved from {} to {}", old, dir);
                } catch (IOException | RuntimeException e) {
                    log.warn("lock state left in {} (cannot move it to {}: {})", old, dir, e.toString());
                    return old;
                }
            }
        }
        return dir;
    }

    /** The state dir's name for an upper dir: 16 hex digits of the SHA-256 of its path. */
    static String stateKey(String upperRealPath) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(upperRealPath.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            return java.util.HexFormat.of().formatHex(d, 0, 8);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Mounts; while the upper or work dir is locked by another overlayj (EBUSY, in-use), tries again for up to
     * {@code wait}. A server that was just stopped may still be answering its last calls and syncing the upper
     * layer (a large dirty file takes seconds), and a supervisor restarts at once: the lock is let go when that
     * process ends, and the new one should take it then rather than fail. The log names who holds it.
     */
    static Overlay mountWaiting(OverlayOptions opts, Duration wait, Logger log) throws ErrnoException {
        long deadline = System.nanoTime() + wait.toNanos();
        if (lockedByOther(opts) && wait.toNanos() > 0) {
            log.info("the upper or work dir is held by {}; waiting up to {} s for it to be let go", holders(opts),
                    wait.toSeconds());
            while (lockedByOther(opts) && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        try {
            return Overlay.mount(opts);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EBUSY && lockedByOther(opts))
                throw new ErrnoException(e.errno(), e.detail() + " (held by " + holders(opts) + ")");
            throw e;
        }
    }

    /** Whether another process holds the flock overlayj takes on the upper or work dir (a probe, let go at once). */
    private static boolean lockedByOther(OverlayOptions opts) {
        for (String d : new String[]{opts.upperDir(), opts.workDir()}) {
            if (d == null) continue;
            int fd;
            try {
                fd = Linux.open(d, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
            } catch (ErrnoException e) {
                continue;                         // missing: the mount reports it
            }
            try {
                Linux.flock(fd, Linux.LOCK_SH | Linux.LOCK_NB);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EAGAIN) return true;
            } finally {
                Linux.closeQuietly(fd);
            }
        }
        return false;
    }

    /**
     * Who holds the flocks on the upper and work dirs: every process with a descriptor through which such a lock is
     * held ("lock:" lines of /proc/PID/fdinfo), as "pid N (command line) fd M". A flock belongs to the open file,
     * so a process that inherited the descriptor holds it too, though /proc/locks names only the one that took it:
     * this names both (a leak into a child would show here). "no flock (a kernel overlay mount?)" when none.
     */
    static String holders(OverlayOptions opts) {
        java.util.Set<String> out = new java.util.LinkedHashSet<>();
        try {
            java.util.Set<String> ids = new java.util.HashSet<>();      // "ino" of the dirs, as fdinfo lock lines name them
            for (String d : new String[]{opts.upperDir(), opts.workDir()}) {
                if (d != null) ids.add(":" + Linux.stat(d).ino() + " ");
            }
            try (java.nio.file.DirectoryStream<Path> procs = java.nio.file.Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
                for (Path proc : procs) {
                    try (java.nio.file.DirectoryStream<Path> fds = java.nio.file.Files.newDirectoryStream(proc.resolve("fdinfo"))) {
                        for (Path fd : fds) {
                            String info;
                            try {
                                info = java.nio.file.Files.readString(fd, java.nio.charset.StandardCharsets.ISO_8859_1);
                            } catch (IOException gone) {
                                continue;
                            }
                            // "lock:	1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
                            for (String line : info.split("\n")) {
                                if (!line.startsWith("lock:") || !line.contains("FLOCK")) continue;
                                String l = line + " ";
                                if (ids.stream().noneMatch(l::contains)) continue;
                                out.add("pid " + proc.getFileName() + " (" + cmdline(proc) + ") fd " + fd.getFileName());
                            }
                        }
                    } catch (IOException | RuntimeException gone) {
                        // ended meanwhile, or not ours to read
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            return "someone (" + e.getMessage() + ")";
        }
        return out.isEmpty() ? "no flock (a kernel overlay mount?)" : String.join(", ", out);
    }

    private static String cmdline(Path proc) {
        try {
            String cmd = java.nio.file.Files.readString(proc.resolve("cmdline"), java.nio.charset.StandardCharsets.ISO_8859_1)
                    .replace('\0', ' ').trim();
            return cmd.length() > 200 ? cmd.substring(0, 200) + "..." : cmd;
        } catch (IOException gone) {
            return "gone";
        }
    }

    static InetSocketAddress parseListen(String s) {
        int colon = s.lastIndexOf(':');
        if (colon < 0) throw new IllegalArgumentException("--listen wants HOST:PORT, got " + s);
        String host = s.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port;
        try {
            port = Integer.parseInt(s.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad port in --listen " + s);
        }
        if (port < 0 || port > 65535) throw new IllegalArgumentException("bad port in --listen " + s);
        try {
            // Literal addresses only: no name lookups at start (and "localhost" is the one name we know).
            InetAddress a = host.equals("localhost") ? InetAddress.getLoopbackAddress() : InetAddress.ofLiteral(host);
            return new InetSocketAddress(a, port);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--listen wants an IP address, got " + host);
        }
    }

    /**
     * serve's defaults on top of the kernel's: index=on and nfs_export=on unless the options name them, so that
     * handles survive copy-up and restart. An explicit nfs_export=off (or index=off, which leaves nfs_export off)
     * is kept, and then refused by {@link #call()} with the reason.
     */
    static String withServeDefaults(String opts) {
        boolean index = false, nfsExport = false;
        for (String o : opts.split(",")) {
            if (o.startsWith("index=")) index = true;
            if (o.startsWith("nfs_export=")) nfsExport = true;
        }
        if (nfsExport) return opts;
        if (index) return opts.matches("(^|.*,)index=on(,.*|$)") ? opts + ",nfs_export=on" : opts;
        return opts + ",index=on,nfs_export=on";
    }
}
