package org.overlayj.cli;

import org.overlayj.core.Overlay;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.core.layer.MountTrace;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.adapter.OverlayFileSystem;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One FUSE mount of one overlay: its own engine instance ({@link Overlay}, with its options, layer locks and
 * caches) and its own request loop ({@link FuseServer}). A standalone server holds one; the resident server
 * ({@link ResidentServer}) holds many, and nothing passes between them: one that fails or is aborted is closed
 * alone.
 *
 * @param given   the options as the command line gave them (joined), for {@code overlayj status}
 * @param mountpoint the absolute mount point
 */
record MountSession(String given, String mountpoint, Overlay overlay, FuseServer server, Instant since) {
    private static final Logger LOG = LoggerFactory.getLogger(MountSession.class);
    /** Request loop threads per mount (the loop starts one and adds more only while requests wait on the disk). */
    static final int THREADS = 4;

    /** A mount that could not be made: the message is the kernel's text where the kernel would refuse too. */
    static final class Failure extends Exception {
        Failure(String message) {
            super(message);
        }
    }

    /**
     * Mounts: parses {@code joined} (the -o values, joined by commas) with relative layer paths and the mount point
     * taken from {@code cwd}, sets up the engine, mounts through FUSE and returns once the mount is live.
     *
     * @param source the SOURCE argument (what /proc/mounts shows), or null
     */
    static MountSession open(String joined, String source, String mountpoint, String cwd, boolean singleThreaded)
            throws Failure {
        return open(joined, source, mountpoint, cwd, singleThreaded, null);
    }

    /**
     * As above; with {@code threads} (a resident server's spare threads, which the FUSE loop then runs on) it
     * returns once mount(2) is done, before the kernel's INIT is answered (a process using the mount waits in the
     * kernel until then), and the caller calls {@link #finishMount}: the resident server replies to its launcher
     * first, as a libfuse server daemonizes before INIT.
     */
    static MountSession open(String joined, String source, String mountpoint, String cwd, boolean singleThreaded,
                             java.util.concurrent.Executor threads) throws Failure {
        return open(joined, source, mountpoint, cwd, singleThreaded, threads, false);
    }

    /**
     * A mount's steps up to the FUSE mount, which is left out, on layers of the caller's (the engine is closed
     * again): the resident server runs these once it is up, so that the mounts launchers then ask for run
     * compiled code, not the interpreter's and the JIT's first passes over it (see ResidentServer#warmUp).
     */
    static void rehearse(String joined, String cwd) throws Failure {
        open(joined, null, cwd, cwd, false, null, true);
    }

    private static MountSession open(String joined, String source, String mountpoint, String cwd,
                                     boolean singleThreaded, java.util.concurrent.Executor threads, boolean rehearsal)
            throws Failure {
        boolean awaitInit = threads == null;
        String opts = Linux.fromUtf8(joined);
        Overlay overlay = null;
        try {
            String cwdBytes = Linux.fromUtf8(cwd);
            ModuleDefaults defaults = ModuleDefaults.current();
            MountTrace.mark("defaults");
            MountOptions.Parsed parsed = MountOptions.parse(opts, cwdBytes, defaults);
            MountTrace.mark("parse");
            if (MountCommand.needsUserXattrs(parsed)) {
                // root in a user namespace (rootless podman) or a plain user: trusted.* cannot be written, so the
                // kernel's userxattr format (user.overlay.*, with its limits) is used, as the kernel would need it
                parsed = MountOptions.parse(opts + ",userxattr", cwdBytes, defaults);
                LOG.warn("trusted.* xattrs cannot be written here: using user.overlay.* (the kernel's userxattr format)");
            }
            MountTrace.mark("xattrProbe");
            if (!rehearsal) LOG.info("overlay xattrs: {}*", parsed.overlay().xattrPrefix());
            parsed.warnings().forEach(w -> LOG.warn("{}", w));
            List<String> generic = parsed.generic();
            if (parsed.overlay().upperDir() == null) {
                // no upper layer: read-only, and mounted so (as the kernel makes such an overlay), not just EROFS
                generic = new ArrayList<>(generic);
                generic.add("ro");
            }
            DoorOptions door = DoorOptions.of(generic, source == null ? null : Linux.fromUtf8(source),
                    singleThreaded ? 1 : THREADS, Linux.geteuid() == 0);
            if (!door.ignored().isEmpty()) LOG.info("options ignored by the FUSE door: {}", door.ignored());
            Path mp = Path.of(cwd).resolve(mountpoint).toAbsolutePath().normalize();
            if (!Files.isDirectory(mp)) {
                throw new ErrnoException(Errno.ENOTDIR, "mount point " + mountpoint + " is not a directory");
            }
            MountTrace.mark("door");
            var layers = parsed.overlay();
            if (!door.uids().isIdentity() || !door.gids().isIdentity()) layers = IdmappedLowers.unshifted(layers, LOG);
            overlay = Overlay.mount(layers);
            MountTrace.mark("engine");
            if (!door.uids().isIdentity() || !door.gids().isIdentity()) {
                LOG.info("owners shown through uid mapping {}, gid mapping {}", door.uids(), door.gids());
            }
            OverlayFileSystem fs = new OverlayFileSystem(overlay, door.passthrough(), door.uids(), door.gids());
            String at = Linux.fromUtf8(mp.toString());
            MountTrace.mark("adapter");
            if (rehearsal) {
                List<String> warnings = overlay.layers().warnings();
                overlay.close();
                // a scratch overlay the checks warn about would log the same warnings every round: one is enough
                if (!warnings.isEmpty()) throw new Failure("the scratch overlay gave warnings: " + warnings);
                return null;
            }
            FuseServer server = awaitInit ? FuseServer.mount(at, door.fuse(), fs) : FuseServer.mountStarted(at, door.fuse(), fs, threads);
            MountTrace.mark("fuseMount");
            MountSession s = new MountSession(joined, mp.toString(), overlay, server, Instant.now());
            if (awaitInit) s.mounted();
            return s;
        } catch (ErrnoException e) {
            if (overlay != null) overlay.close();
            throw new Failure(e.detail() + " (" + Errno.name(e.errno()) + ")");
        } catch (RuntimeException e) {
            if (overlay != null) overlay.close();
            LOG.error("mount failed", e);
            throw new Failure("internal error: " + e);
        }
    }

    /** After {@code open(..., false)}: waits for INIT; a failed INIT unmounts (the owner closes it as it exits). */
    void finishMount() {
        try {
            server.awaitInit();
            mounted();
        } catch (ErrnoException e) {
            LOG.error("{}", e.getMessage());
        }
    }

    private void mounted() {
        LOG.info("overlay mounted on {} (FUSE 7.{})", mountpoint, server.negotiated().minor());
    }

    /** Every request the mount was sent so far. */
    long requests() {
        long n = 0;
        for (int op = 0; op < 64; op++) n += server.requests(op);
        return n;
    }

    /** Blocks until the mount is gone (unmounted, or its connection aborted). */
    void awaitExit() throws InterruptedException {
        server.awaitExit();
    }

    boolean awaitExit(long timeout, TimeUnit unit) throws InterruptedException {
        return server.awaitExit(timeout, unit);
    }

    /** Unmounts (lazily if busy); {@link #awaitExit} then returns. */
    void unmount() {
        server.unmount();
    }

    /** After the loop ended: the device is closed and the engine releases its layers (their locks, its fds). */
    void close() {
        server.close();
        overlay.close();
        LOG.info("unmounted {}", mountpoint);
    }
}
