package org.overlayj.cli;

import ch.qos.logback.classic.Level;
import org.overlayj.core.config.MountOptions;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code overlayj [-f] [-d] -o lowerdir=..,upperdir=..,workdir=..[,opts] [SOURCE] MOUNTPOINT}: mounts the overlay
 * through FUSE, fuse-overlayfs style. Also what mount.fuse3 runs for {@code mount -t fuse.overlayj}.
 */
@Command(name = "overlayj", mixinStandardHelpOptions = true, versionProvider = Version.class,
        sortOptions = false, usageHelpAutoWidth = true,
        description = {
                "Mounts an overlay filesystem (on-disk compatible with the kernel's overlayfs) through FUSE.",
                "Returns once the mount is live and keeps serving in the background (unless -f).",
                "Unmount with umount(8) or fusermount3 -u; SIGTERM/SIGINT to the server unmounts too.",
                "bin/overlayj serves background mounts after the first through one resident server per user and",
                "mount namespace ('overlayj status' lists its mounts; -o no_shared or OVERLAYJ_SHARED=0: a server",
                "of the mount's own)."},
        footer = {"", "Examples:",
                "  overlayj -o lowerdir=/l1:/l2,upperdir=/u,workdir=/w /mnt",
                "  mount -t fuse.overlayj overlay /mnt -o lowerdir=/l1,upperdir=/u,workdir=/w",
                "  fstab: overlay /mnt fuse.overlayj lowerdir=/l1,upperdir=/u,workdir=/w 0 0"})
public final class MountCommand implements Callable<Integer> {
    @Option(names = "-o", paramLabel = "OPTS", description = {
            "Comma-separated options; may repeat. Overlay: lowerdir=,upperdir=,workdir=,index=,redirect_dir=,",
            "nfs_export=,xino=,uuid=,metacopy=,userxattr,volatile (kernel syntax and rules).",
            "Mount/FUSE: ro,rw,nosuid,nodev,noexec,noatime,…,fsname=,subtype=,allow_other,debug,",
            "passthrough=on|off (FUSE passthrough for upper files; on where the kernel allows it).",
            "fuse-overlayfs options: uidmapping=,gidmapping=,squash_to_root,squash_to_uid=,squash_to_gid=",
            "(owners shown mapped); tuning ones (fast_ino=,plugins=,writeback=,context=,…) accepted and ignored."})
    List<String> options = new ArrayList<>();

    @Option(names = "-f", description = "Stay in the foreground.")
    boolean foreground;

    @Option(names = "-d", description = "Debug: log every request (implies -f).")
    boolean debug;

    @Option(names = "-s", description = "Single-threaded request loop.")
    boolean singleThreaded;

    @Option(names = {"-n", "-v"}, hidden = true, description = "mount helper flags: accepted, ignored")
    boolean helperFlag;

    @Option(names = "-t", hidden = true, paramLabel = "TYPE", description = "mount helper: fs type, ignored")
    String helperType;

    /** Set by {@link #daemonChild}: this process is the background server a launcher waits for. */
    boolean daemonChild;

    // arity 0..2 checked in call(): picocli validates a parent's required parameters even when a subcommand
    // (fsck, index, handle, ...) is what was asked for, so "1..2" here made every subcommand fail
    @Parameters(arity = "0..2", paramLabel = "[SOURCE] MOUNTPOINT",
            description = "SOURCE (shown in /proc/mounts unless fsname= is given) and the mount point.")
    List<String> positional = new ArrayList<>();

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override public Integer call() {
        if (positional.isEmpty()) throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                "Missing required parameter: '[SOURCE] MOUNTPOINT'");
        String mountpoint = positional.get(positional.size() - 1);
        String source = positional.size() > 1 ? positional.get(0) : null;
        boolean background = !foreground && !debug && !daemonChild;
        if (background) {
            List<String> args = new ArrayList<>();
            for (String o : options) { args.add("-o"); args.add(o); }
            if (singleThreaded) args.add("-s");
            args.add("--");
            args.addAll(positional);
            return Daemon.launch(args, mountpoint);
        }
        return serve(source, mountpoint);
    }

    /**
     * The background server's entry: its arguments are what {@link Daemon#launch} wrote, {@code -o OPTS} (repeated),
     * {@code -s}, then {@code --} and the positional ones, so they are read here without picocli.
     */
    static int daemonChild(String[] args) {
        return parseChild(args).call();
    }

    /**
     * The plain mount command lines, {@code -o OPTS} (repeated), {@code -f}, {@code -s} and one or two positional
     * arguments in any order (the forms fuse-overlayfs users and mount.fuse3 write), read without picocli: its
     * start-up is ~85 ms of a background mount's 0.4 s. Null for anything else, which picocli then reads (MainTest
     * checks both readings agree on these forms).
     */
    static MountCommand plainMount(String[] args) {
        if (Main.needsSubcommands(args)) return null;
        MountCommand c = new MountCommand();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "-o" -> {
                    if (i + 1 >= args.length || args[i + 1].startsWith("-")) return null;
                    c.options.add(args[++i]);
                }
                case "-f" -> c.foreground = true;
                case "-s" -> c.singleThreaded = true;
                default -> {
                    if (a.isEmpty() || a.startsWith("-")) return null;
                    c.positional.add(a);
                }
            }
        }
        return c.positional.isEmpty() || c.positional.size() > 2 ? null : c;
    }

    static MountCommand parseChild(String[] args) {
        MountCommand c = new MountCommand();
        c.daemonChild = true;
        int i = 0;
        for (; i < args.length && !args[i].equals("--"); i++) {
            switch (args[i]) {
                case "-o" -> c.options.add(args[++i]);
                case "-s" -> c.singleThreaded = true;
                default -> throw new IllegalArgumentException("daemon child: unexpected argument " + args[i]);
            }
        }
        for (i++; i < args.length; i++) c.positional.add(args[i]);
        if (c.positional.isEmpty() || c.positional.size() > 2) {
            throw new IllegalArgumentException("daemon child: expected [SOURCE] MOUNTPOINT after --");
        }
        return c;
    }

    /** Joins the repeated -o values the way fuse-overlayfs does: one comma-separated list. */
    String joinedOptions() {
        return String.join(",", options);
    }

    private int serve(String source, String mountpoint) {
        PrintStream ready = System.out;
        if (daemonChild) System.setOut(System.err);       // stdout is the readiness pipe, and nothing else
        String joined = joinedOptions();
        boolean debugLog = debug || Linux.fromUtf8(joined).matches("(^|.*,)debug(,.*|$)");
        if (debugLog) ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME))
                .setLevel(Level.DEBUG);
        Logger log = LoggerFactory.getLogger(MountCommand.class);
        // Every native call is linked while the mount is being set up, not in the middle of the first requests
        // (see Linux.prelink); the mount is announced ready once that is done.
        Thread prelink = Thread.ofPlatform().name("prelink").daemon(true).start(Linux::prelink);
        // A background server asked to stay resident (bin/overlayj sets $OVERLAYJ_RESIDENT when the mount may be
        // shared) takes its control socket while the mount is being made, so that the next launcher finds it.
        // (scripts/aot-train.sh has its foreground training server listen too, -Doverlayj.aotTrainingResident=DIR,
        // so that the JVM's AOT cache also holds what the resident path loads and runs)
        String training = System.getProperty("overlayj.aotTrainingResident");
        Path residentDir = debugLog ? null : daemonChild ? ResidentServer.requestedDir()
                : training != null ? Path.of(training) : null;
        java.util.concurrent.CompletableFuture<ResidentServer> resident = residentDir == null
                ? java.util.concurrent.CompletableFuture.completedFuture(null)
                : java.util.concurrent.CompletableFuture.supplyAsync(() -> ResidentServer.bind(residentDir),
                        r -> Thread.ofPlatform().name("resident-bind").daemon(true).start(r));
        // Handlers first: a SIGTERM that arrives while mounting must not kill the JVM (exit 143) with the mount
        // half made; it unmounts as soon as the mount is live (every mount, when the server is resident).
        java.util.concurrent.atomic.AtomicReference<Runnable> onTerm = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean terminate = new java.util.concurrent.atomic.AtomicBoolean();
        Signals.onTermination(() -> {
            terminate.set(true);
            Runnable r = onTerm.get();
            if (r != null) r.run();
        });
        MountSession session;
        try {
            session = MountSession.open(joined, source, mountpoint, System.getProperty("user.dir"), singleThreaded);
        } catch (MountSession.Failure e) {
            ResidentServer r = resident.join();
            if (r != null) r.close();
            return fail(ready, e.getMessage());
        }
        ResidentServer server = resident.join();
        java.util.concurrent.atomic.AtomicBoolean unmounted = new java.util.concurrent.atomic.AtomicBoolean();
        onTerm.set(server != null ? server::terminate : () -> {
            if (unmounted.compareAndSet(false, true)) session.unmount();
        });
        if (terminate.get()) onTerm.get().run();          // a signal that came during the mount
        try {
            prelink.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (daemonChild) {
            ready.println(Daemon.READY);
            ready.flush();
            ready.close();
        }
        if (server != null) {
            // after READY: adopting starts the first virtual thread (its scheduler), which the mount need not wait for
            server.adopt(session);                          // (which unmounts it if SIGTERM came meanwhile)
            server.warmUp(WARM_UP_ROUNDS);
            server.run();                                   // until the last mount is gone and the linger is over
            log.info("resident server exits");
            return 0;
        }
        try {
            session.awaitExit();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        session.close();
        return 0;
    }

    /**
     * Mounts a resident server rehearses once it is up ({@code -Doverlayj.warmUpRounds=N}, default 30): by then C1
     * has compiled what a mount runs (called once per mount, a method is compiled after 10 calls here).
     */
    static final int WARM_UP_ROUNDS = Integer.getInteger("overlayj.warmUpRounds", 30);

    /**
     * Whether a writable overlay asked for the trusted.* format where this process may not write trusted.* xattrs
     * (EPERM on the work dir: no CAP_SYS_ADMIN in the initial user namespace).
     */
    static boolean needsUserXattrs(MountOptions.Parsed parsed) {
        var o = parsed.overlay();
        if (o.userxattr()) return false;
        // read-only (no upper): nothing to probe by writing; trusted.* reads as absent outside the initial user
        // namespace, so the user.overlay.* markers are what such a process can see
        if (o.upperDir() == null || o.workDir() == null) return Linux.geteuid() != 0 || !inInitialUserNamespace();
        String probe = "trusted.overlay.overlayj-probe";
        try {
            Linux.lsetxattr(o.workDir(), probe, new byte[0], 0);
            Linux.lremovexattr(o.workDir(), probe);
            return false;
        } catch (ErrnoException e) {
            return e.errno() == Errno.EPERM;
        }
    }

    /** Whether this process runs in the initial user namespace (its uid_map is the identity of every id). */
    static boolean inInitialUserNamespace() {
        try {
            String map = Files.readString(Path.of("/proc/self/uid_map")).trim();
            return map.split("\\s+").length == 3 && map.matches("0\\s+0\\s+4294967295");
        } catch (java.io.IOException e) {
            return true;
        }
    }

    private int fail(PrintStream ready, String message) {
        if (daemonChild) {
            ready.println(Daemon.ERROR + message);
            ready.flush();
        } else {
            System.err.println("overlayj: " + message);
        }
        return 1;
    }
}
