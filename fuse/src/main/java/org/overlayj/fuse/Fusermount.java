package org.overlayj.fuse;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Errno;
import org.overlayj.sys.FdPassing;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A plain user's FUSE mount, made by the setuid helper fusermount3 as libfuse and fuse-overlayfs make it when
 * mount(2) is refused: fusermount3 runs with {@code _FUSE_COMMFD} naming its end of a Unix socket pair, mounts
 * with the options it allows users ({@code -o OPTS -- MOUNTPOINT}; it adds {@code fd=}, {@code rootmode=},
 * {@code user_id=}, {@code group_id=} itself) and sends the opened /dev/fuse descriptor back over the socket
 * (SCM_RIGHTS). With {@code auto_unmount} it then stays, waiting for our end to close, and unmounts when it does:
 * so the mount goes away however this process ends. (Where fusermount3 can check the mount: up to libfuse 3.14 it
 * opens the mount point as root, which a user's mount without allow_other refuses (EACCES), so it leaves the dead
 * mount in place; libfuse issue 586.) Unmounting is {@code fusermount3 -u}.
 */
public final class Fusermount {
    private static final Logger LOG = LoggerFactory.getLogger(Fusermount.class);
    private static final String PROGRAM = "fusermount3";
    /** Our ends of the sockets of the mounts made here, by mount point: closing one lets its helper go. */
    private static final Map<String, Integer> WATCHED = new ConcurrentHashMap<>();

    private Fusermount() {}

    /**
     * Whether a refused mount(2) is worth asking fusermount3 for: not for root in the initial user namespace
     * (nothing the helper may do that root may not), and only where the helper is installed.
     */
    static boolean applies() {
        return !(Linux.geteuid() == 0 && initialUserNamespace()) && program() != null;
    }

    /**
     * Mounts through fusermount3 and returns the /dev/fuse descriptor (close-on-exec) to serve; {@code mountpoint}
     * is a byte string.
     */
    public static int open(String mountpoint, FuseMountOptions o) throws ErrnoException {
        String program = program();
        if (program == null) throw new ErrnoException(Errno.ENOENT, PROGRAM + " not found");
        int[] pair = FdPassing.socketpair();
        int ours = pair[0], theirs = pair[1];
        int pid;
        try {
            // the child's end as a fixed number without close-on-exec; its stdout to our stderr, since a
            // background server's stdout is the readiness channel and a lingering helper must not hold it
            int as = theirs == 3 ? 4 : 3;
            List<String> env = new ArrayList<>();
            env.add("_FUSE_COMMFD=" + as);
            System.getenv().forEach((k, v) -> {
                if (!k.equals("_FUSE_COMMFD")) env.add(Linux.fromUtf8(k + "=" + v));
            });
            pid = FdPassing.spawn(program, List.of(PROGRAM, "-o", options(o), "--", mountpoint), env,
                    new int[][]{{theirs, as}, {2, 1}}, as + 1);
        } catch (ErrnoException | RuntimeException e) {
            Linux.closeQuietly(ours);
            throw e;
        } finally {
            Linux.closeQuietly(theirs);
        }
        int fd;
        try {
            fd = FdPassing.receiveFd(ours);
        } catch (ErrnoException e) {
            Linux.closeQuietly(ours);
            throw e;
        }
        if (fd < 0) {
            // the helper said why on stderr; its exit code is all we know
            Linux.closeQuietly(ours);
            int code = FdPassing.waitFor(pid);
            throw new ErrnoException(Errno.EPERM, PROGRAM + " refused the mount (exit " + code + ")");
        }
        Integer old = WATCHED.put(mountpoint, ours);
        if (old != null) Linux.closeQuietly(old);
        // the helper stays until our end closes: reap it then, off the caller's thread
        Thread.ofPlatform().name("fusermount3-reaper").daemon(true).start(() -> {
            try {
                FdPassing.waitFor(pid);
            } catch (ErrnoException e) {
                // not our child any more: nothing to reap
            }
        });
        LOG.info("mounted {} through {} (auto_unmount)", Linux.toUtf8(mountpoint), program);
        return fd;
    }

    /** Unmounts with {@code fusermount3 -u} ({@code -z}: lazily, when busy), then lets the helper go. */
    public static void unmount(String mountpoint, boolean lazy) throws ErrnoException {
        String program = program();
        if (program == null) throw new ErrnoException(Errno.ENOENT, PROGRAM + " not found");
        List<String> cmd = new ArrayList<>(List.of(program, "-u", "-q"));
        if (lazy) cmd.add("-z");
        cmd.add("--");
        cmd.add(Linux.toUtf8(mountpoint));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (p.waitFor() != 0) {
                throw new ErrnoException(out.contains("busy") ? Errno.EBUSY : Errno.EPERM,
                        PROGRAM + " -u " + Linux.toUtf8(mountpoint) + ": " + out);
            }
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "cannot run " + program + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ErrnoException(Errno.EINTR, PROGRAM + " -u interrupted");
        }
    }

    /** Closes our end of a mount's socket (after the mount is gone): its helper then exits. */
    static void release(String mountpoint) {
        Integer s = WATCHED.remove(mountpoint);
        if (s != null) Linux.closeQuietly(s);
    }

    /** The options fusermount3 takes from a user, in libfuse's spelling; commas and backslashes escaped. */
    static String options(FuseMountOptions o) {
        List<String> l = new ArrayList<>();
        long f = o.msFlags();
        l.add((f & Linux.MS_RDONLY) != 0 ? "ro" : "rw");
        if ((f & Linux.MS_NOSUID) != 0) l.add("nosuid");
        if ((f & Linux.MS_NODEV) != 0) l.add("nodev");
        if ((f & Linux.MS_NOEXEC) != 0) l.add("noexec");
        if ((f & MS_NOATIME) != 0) l.add("noatime");
        if (o.defaultPermissions()) l.add("default_permissions");
        if (o.allowOther()) l.add("allow_other");
        if (o.fsname() != null && !o.fsname().isEmpty()) l.add("fsname=" + escape(o.fsname()));
        if (o.subtype() != null && !o.subtype().isEmpty()) l.add("subtype=" + escape(o.subtype()));
        l.add("auto_unmount");
        return String.join(",", l);
    }

    private static final long MS_NOATIME = 1024;

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace(",", "\\,");
    }

    /** fusermount3 on $PATH, else where Debian and most others install it. */
    static String program() {
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) for (String d : path.split(":")) if (!d.isEmpty()) dirs.add(d);
        dirs.addAll(List.of("/usr/bin", "/bin", "/usr/local/bin"));
        for (String d : dirs) {
            File f = new File(d, PROGRAM);
            if (f.isFile() && f.canExecute()) return Linux.fromUtf8(f.getAbsolutePath());
        }
        return null;
    }

    private static boolean initialUserNamespace() {
        try {
            return Files.readString(Path.of("/proc/self/uid_map")).trim().matches("0\\s+0\\s+4294967295");
        } catch (IOException e) {
            return true;
        }
    }
}
