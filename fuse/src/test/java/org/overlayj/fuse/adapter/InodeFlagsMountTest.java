package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Fsxattr;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Inode flags through the FUSE door vs the kernel overlay (issue 21 item 11; xfstests overlay/027, 030, 040, 075,
 * 076, 078): two copies of the same layers, whose lower holds immutable, append-only, noatime, sync and nodump files
 * and immutable / append-only directories (made with chattr), one mounted by the kernel, one by overlayj; the same
 * steps on both, each step's result compared: lsattr through the mount, copy-up keeping the flags (noatime and sync
 * on the upper inode, append-only and immutable in NS protattr), chattr through the mount, what immutable and
 * append-only refuse (write opens, truncate, chmod, chown, times, xattrs, link, unlink, rename, create in a
 * directory, fallocate) and allow (appends, touch of an append-only file, reads), the upper layers as they are left
 * (real flags and protattr), all of it again after a remount, and overlayj's layers mounted by the kernel.
 */
class InodeFlagsMountTest {
    private static final String OPTS = "index=on,nfs_export=on,redirect_dir=on";
    private static final int IMMUTABLE = 0x10, APPEND = 0x20, NOATIME = 0x80;
    private Path dir, kmnt, jmnt;
    private Overlay overlay;
    private FuseServer server;

    /** The lower layer, built the same twice (chattr needs root and a filesystem with flags: ext4, xfs, tmpfs). */
    private static void lower(Path l) throws Exception {
        TestMounts.sh("sh", "-c", "set -e; cd " + l + "; for f in f fi fa fA fS fd fia g; do echo data > $f; done; "
                + "for d in d di da dA; do mkdir $d; echo in > $d/x; mkdir $d/sub; done; "
                + "chattr +i fi; chattr +a fa; chattr +A fA; chattr +S fS; chattr +d fd; chattr +ia fia; "
                + "chattr +i di; chattr +a da; chattr +A dA");
    }

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        for (String side : List.of("k", "j")) {
            for (String d : List.of("lower", "upper", "work", "mnt")) Files.createDirectories(dir.resolve(side + "/" + d));
            lower(dir.resolve(side + "/lower"));
        }
        kmnt = dir.resolve("k/mnt");
        jmnt = dir.resolve("j/mnt");
        mountKernel("k", kmnt);
        mountOurs();
    }

    private String layers(String side) {
        Path s = dir.resolve(side);
        return "lowerdir=" + s.resolve("lower") + ",upperdir=" + s.resolve("upper") + ",workdir=" + s.resolve("work");
    }

    private void mountKernel(String side, Path at) throws Exception {
        TestMounts.sh("mount", "-t", "overlay", "overlay", "-o", layers(side) + "," + OPTS, at.toString());
    }

    private void mountOurs() throws Exception {
        overlay = Overlay.mount(MountOptions.parse(layers("j") + "," + OPTS, "/", ModuleDefaults.BUILTIN).overlay());
        server = FuseServer.mount(jmnt.toString(), FuseMountOptions.defaults("overlay"), new OverlayFileSystem(overlay));
    }

    private void unmountOurs() throws Exception {
        if (server != null) server.close();
        if (overlay != null) overlay.close();
        server = null;
        overlay = null;
    }

    @AfterEach void unmount() throws Exception {
        try {
            unmountOurs();
        } finally {
            for (int i = 0; i < 3; i++) TestMounts.rc("umount", kmnt.toString());
            TestMounts.rc("umount", jmnt.toString());
            TestMounts.rc("chattr", "-R", "-ia", dir.toString());   // else the files cannot be removed
            TestMounts.cleanup(jmnt, dir);
        }
    }

    // --- the steps --------------------------------------------------------------------------------------------

    private interface Step {
        Object run() throws Exception;
    }

    /** Runs the steps on mount {@code m}, one line each: the step and its result ("ok", a value or an errno). */
    private static String run(Path m, List<String> steps) throws Exception {
        StringBuilder out = new StringBuilder();
        for (String line : steps) {
            String[] w = line.split(" ");
            String p = m + "/" + w[1];
            String q = w.length > 2 ? m + "/" + w[2] : null;
            Step s = switch (w[0]) {
                case "get" -> () -> "0x" + Integer.toHexString(withFd(p, Linux::getFlags));
                case "fsx" -> () -> {
                    Fsxattr x = withFd(p, Linux::fsGetXattr);
                    return "x=0x" + Integer.toHexString(x.xflags()) + " proj=" + x.projid();
                };
                case "set" -> () -> withFd(p, fd -> {
                    Linux.setFlags(fd, Integer.decode(w[2]));
                    return null;
                });
                case "setproj" -> () -> withFd(p, fd -> {
                    Linux.fsSetXattr(fd, new Fsxattr(0, 0, 0, Integer.parseInt(w[2]), 0));
                    return null;
                });
                case "rdonly" -> () -> openClose(p, Linux.O_RDONLY);
                case "wronly" -> () -> openClose(p, Linux.O_WRONLY);
                case "rdwr" -> () -> openClose(p, Linux.O_RDWR);
                case "trunc" -> () -> openClose(p, Linux.O_WRONLY | Linux.O_TRUNC);
                case "appendtrunc" -> () -> openClose(p, Linux.O_WRONLY | Linux.O_APPEND | Linux.O_TRUNC);
                case "append" -> () -> {
                    int fd = Linux.open(p, Linux.O_WRONLY | Linux.O_APPEND, 0);
                    try {
                        return Linux.pwrite(fd, "x".getBytes(), 0, 1, 0);
                    } finally {
                        Linux.close(fd);
                    }
                };
                case "falloc" -> () -> {       // through an O_APPEND fd: an append-only file opens so
                    int fd = Linux.open(p, Linux.O_WRONLY | Linux.O_APPEND, 0);
                    try {
                        Linux.fallocate(fd, Integer.parseInt(w[2]), 0, 4096);
                        return null;
                    } finally {
                        Linux.close(fd);
                    }
                };
                case "truncate" -> () -> {
                    Linux.truncate(p, 0);
                    return null;
                };
                case "chmod" -> () -> {
                    Linux.chmod(p, 0600);
                    return null;
                };
                case "chown" -> () -> {
                    Linux.lchown(p, 1, 1);
                    return null;
                };
                case "chown0" -> () -> {         // changes nothing: copies up, protection and all
                    Linux.lchown(p, -1, -1);
                    return null;
                };
                case "utime0" -> () -> {
                    Linux.utimens(p, 0, 0, 0, 0, true);
                    return null;
                };
                case "touch" -> () -> {
                    Linux.utimens(p, 0, Linux.UTIME_NOW, 0, Linux.UTIME_NOW, true);
                    return null;
                };
                case "setx" -> () -> {
                    Linux.lsetxattr(p, "user.t", "v".getBytes(), 0);
                    return null;
                };
                case "rmx" -> () -> {
                    Linux.lremovexattr(p, "user.t");
                    return null;
                };
                case "link" -> () -> {
                    Linux.link(p, q);
                    return null;
                };
                case "rename" -> () -> {
                    Linux.rename(p, q, 0);
                    return null;
                };
                case "unlink" -> () -> {
                    Linux.unlink(p);
                    return null;
                };
                case "rmdir" -> () -> {
                    Linux.rmdir(p);
                    return null;
                };
                case "create" -> () -> {
                    Linux.close(Linux.open(p, Linux.O_CREAT | Linux.O_EXCL | Linux.O_WRONLY, 0644));
                    return null;
                };
                case "mkdir" -> () -> {
                    Linux.mkdir(p, 0755);
                    return null;
                };
                case "cat" -> () -> Files.readString(Path.of(p)).replace("\n", "|");
                case "chattr" -> () -> command("chattr", w[2], p);
                case "lsattr" -> () -> command("lsattr", "-d", p).split(" ")[0];
                default -> throw new IllegalArgumentException(line);
            };
            Object r;
            try {
                r = s.run();
                r = r == null ? "ok" : r;
            } catch (ErrnoException e) {
                r = Errno.name(e.errno());
            } catch (java.nio.file.NoSuchFileException e) {
                r = "ENOENT";
            }
            out.append(line).append(" => ").append(r).append('\n');
        }
        return out.toString();
    }

    /** A command's output, or its exit code when it fails (the result of a step, not a failure of the test). */
    private static String command(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        int rc = p.waitFor();
        return rc == 0 ? out : "exit " + rc;
    }

    private interface FdCall<T> {
        T call(int fd) throws ErrnoException;
    }

    private static <T> T withFd(String p, FdCall<T> call) throws ErrnoException {
        int fd = Linux.open(p, Linux.O_RDONLY | Linux.O_NONBLOCK | Linux.O_NOFOLLOW, 0);
        try {
            return call.call(fd);
        } finally {
            Linux.close(fd);
        }
    }

    private static Object openClose(String p, int flags) throws ErrnoException {
        Linux.close(Linux.open(p, flags, 0));
        return null;
    }

    /** Every object of an upper layer (index aside: its names are the lower file handles) with its flags. */
    private static String upperView(Path upper) throws Exception {
        return TestMounts.sh("sh", "-c", "cd " + upper + " && find . -path ./index -prune -o -print | sort | "
                + "while read f; do echo \"$f $(lsattr -d \"$f\" 2>/dev/null | cut -d' ' -f1) "
                + "$(getfattr --absolute-names -n trusted.overlay.protattr --only-values \"$f\" 2>/dev/null)\"; done");
    }

    private static final List<String> BEFORE = List.of(
            "get f", "get fi", "get fa", "get fA", "get fS", "get fd", "get fia", "get d", "get di", "get da",
            "get dA", "fsx fi", "fsx fA", "lsattr fia", "lsattr da",
            // a lower immutable file: refused before any copy-up
            "rdonly fi", "wronly fi", "rdwr fi", "trunc fi", "append fi", "truncate fi", "chmod fi", "chown fi",
            "utime0 fi", "touch fi", "setx fi", "rmx fi", "link fi fi.l", "rename fi fi.r", "unlink fi",
            "chown0 fi", "get fi", "wronly fi",
            // a lower append-only file: appends only
            "wronly fa", "rdwr fa", "trunc fa", "appendtrunc fa", "truncate fa", "chmod fa", "chown fa",
            "utime0 fa", "setx fa", "link fa fa.l", "rename fa fa.r", "unlink fa", "touch fa", "append fa",
            "cat fa", "falloc fa 0", "falloc fa 1", "falloc fa 3", "falloc fa 16", "get fa",
            // copy-up of the other flags (chown -1 -1 copies up and changes nothing)
            "chown0 fA", "chown0 fS", "chown0 fd", "chown0 fia", "get fA", "get fS", "get fd", "get fia",
            // directories
            "create di/new", "mkdir di/nd", "unlink di/x", "rename di/x di/y", "rename di/x d/y", "rename d/x di/y",
            "touch di/sub", "chmod di", "create da/new", "mkdir da/nd", "unlink da/new", "unlink da/x",
            "rename da/x da/y", "rename d/x da/y", "rename da/sub da/sub2", "touch da/sub", "rmdir di", "rmdir da",
            "touch dA/sub", "get dA", "get da", "get di",
            // chattr through the mount (overlay/040: never on the lower file)
            "set f 0x80010", "get f", "wronly f", "unlink f", "set f 0x80000", "wronly f", "set f 0x80020",
            "wronly f", "append f", "set f 0x80080", "get f", "set f 0x80040", "get f", "set f 0x80000",
            "chattr g +i", "lsattr g", "create g2", "chattr g2 +a", "lsattr g2", "append g2", "chattr g2 -a",
            "set d 0x80010", "create d/new", "set d 0x80000", "create d/new", "set fi 0x80000", "get fi",
            "wronly fi", "setproj g2 42", "fsx g", "fsx g2");

    private static final List<String> AFTER = List.of(
            "get fia", "get da", "get di", "get fa", "get fA", "get fS", "get g", "get g2", "get dA", "wronly fia",
            "append fa", "create da/n2", "create di/n2", "unlink g", "chattr g -i", "unlink g", "get fi", "lsattr fa");

    @Test void flagsAsOnTheKernelOverlay() throws Exception {
        String kernel = run(kmnt, BEFORE);
        String ours = run(jmnt, BEFORE);
        assertEquals(kernel, ours);
        // the oracle says what this test is about: a sanity check that the steps did what they should
        for (String l : List.of("wronly fi => EPERM", "get fia => 0x80030", "append fa => 1", "touch fa => ok",
                "create da/new => ok", "create di/new => EPERM", "get fA => 0x80080", "get fd => 0x80000",
                "unlink f => EPERM", "lsattr g => ----i---------e-------")) {
            assertTrue(kernel.contains(l + "\n"), l + " not in\n" + kernel);
        }
        assertEquals(upperView(dir.resolve("k/upper")), upperView(dir.resolve("j/upper")));
        assertEquals(TestMounts.sh("lsattr", "-R", dir.resolve("k/lower").toString()).replace("/k/", "/x/"),
                TestMounts.sh("lsattr", "-R", dir.resolve("j/lower").toString()).replace("/j/", "/x/"));

        // remount: the flags come back from the layers
        TestMounts.sh("umount", kmnt.toString());
        unmountOurs();
        mountKernel("k", kmnt);
        mountOurs();
        String kernelAfter = run(kmnt, AFTER);
        assertEquals(kernelAfter, run(jmnt, AFTER));
        assertTrue(kernelAfter.contains("get fia => 0x80030\n"), kernelAfter);
        assertEquals(upperView(dir.resolve("k/upper")), upperView(dir.resolve("j/upper")));

        // the layers overlayj wrote, mounted by the kernel, show what overlayj showed
        String view = TestMounts.sh("lsattr", "-R", jmnt.toString());
        unmountOurs();
        mountKernel("j", jmnt);
        assertEquals(view, TestMounts.sh("lsattr", "-R", jmnt.toString()));
    }
}
