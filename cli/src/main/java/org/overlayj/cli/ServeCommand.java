package org.overlayj.cli;

import org.overlayj.core.Overlay;
import org.overlayj.core.config.MountOptions;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.nfs.NfsServer;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.exports.ExportsException;
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

    @Option(names = "--portmap", description = "run a portmapper (v2) on port 111 if none runs, and register there")
    boolean portmap;

    @Option(names = "--workers", defaultValue = "8",
            description = "worker threads for the calls that may wait on the disk (default: ${DEFAULT-VALUE})")
    int workers;

    @Option(names = {"--stats", "--stats-interval"}, defaultValue = "300", paramLabel = "SECONDS",
            description = "log request counters every SECONDS, 0 for never (default: ${DEFAULT-VALUE}); SIGUSR1 logs them now")
    int statsInterval;

    @Option(names = "--grace-period", defaultValue = "90", paramLabel = "SECONDS",
            description = "after a restart, only lock reclaims are granted for SECONDS (default: ${DEFAULT-VALUE}; "
                    + "none when no client held locks)")
    int gracePeriod;

    @Option(names = "--state-dir", paramLabel = "DIR",
            description = "where the lock state (NSM state number, clients holding locks) is kept; "
                    + "default: WORKDIR/overlayj-nlm, in memory for a read-only overlay without workdir")
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
        Overlay overlay;
        try {
            overlay = Overlay.mount(opts);
        } catch (ErrnoException e) {
            err.println("overlayj serve: mount failed: " + e.detail() + " (" + Errno.name(e.errno()) + ")");
            return 1;
        }
        NfsServer server;
        try {
            if (gracePeriod < 0) throw new IllegalArgumentException("--grace-period must not be negative");
            Path state = stateDir != null ? stateDir
                    : opts.workDir() == null ? null : Path.of(opts.workDir()).resolve("overlayj-nlm");
            server = NfsServer.start(overlay, exports, new NfsServer.Config(addr, portmap, workers, statsInterval),
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
        System.out.println("overlayj: serving NFSv3 on " + bound.getAddress().getHostAddress() + ":" + bound.getPort()
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
