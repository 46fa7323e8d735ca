package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseOpcode;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The calls made on an open file that the FUSE door once answered itself (issue 19, "the facade and the doors"):
 * SEEK_DATA / SEEK_HOLE, ftruncate, fallocate. One script runs on a kernel overlay and on overlayj over copies of
 * the same lower layer (metacopy=on, so a chown makes a sparse metadata-only copy), and their outputs must match:
 * the hole map of a sparse lower file, of its metadata-only copy and of its full copy-up; each fallocate mode's
 * outcome (errno, size, blocks, data, hole map); an ftruncate through a file opened for writing by its owner, who
 * then made it 0444, and path truncates by the owner and a stranger.
 */
class OpenFileCallsTest {
    private Path dir, mnt, kmnt;
    private Overlay overlay;
    private FuseServer server;
    /** The system's interpreter: users other than root may run it (not so a root-only pyenv shim). */
    private static final String PYTHON = "/usr/bin/python3";

    /** Runs as root on MNT (argv[1]); prints one line per observation. */
    private static final String SCRIPT = """
            import ctypes, errno, hashlib, os, sys
            m = sys.argv[1]
            libc = ctypes.CDLL(None, use_errno=True)
            libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
            def holes(fd):
                size, off, out = os.fstat(fd).st_size, 0, []
                while off < size:
                    try:
                        d = os.lseek(fd, off, os.SEEK_DATA)
                    except OSError as e:
                        out.append('none@%d:%s' % (off, errno.errorcode[e.errno])); break
                    h = os.lseek(fd, d, os.SEEK_HOLE)
                    out.append('%d-%d' % (d, h)); off = h
                try:
                    os.lseek(fd, size, os.SEEK_DATA); out.append('data@eof')
                except OSError as e:
                    out.append('eof:' + errno.errorcode[e.errno])
                return ' '.join(out)
            def content(fd):
                st = os.fstat(fd)
                return 'size=%d md5=%s' % (st.st_size, hashlib.md5(os.pread(fd, st.st_size, 0)).hexdigest()[:12])
            def layout(fd):
                return 'blocks=%d holes=[%s]' % (os.fstat(fd).st_blocks, holes(fd))
            def desc(fd):
                return content(fd) + ' ' + layout(fd)
            if len(sys.argv) > 2:
                fd = os.open(sys.argv[2], os.O_RDONLY); print('copied-up-layout', layout(fd)); sys.exit(0)
            fd = os.open(m + '/sparse', os.O_RDONLY); print('lower', desc(fd)); os.close(fd)
            os.chown(m + '/meta', 0, 100)
            fd = os.open(m + '/meta', os.O_RDONLY); print('metacopy', desc(fd)); os.close(fd)
            fd = os.open(m + '/up', os.O_RDWR)
            print('copied-up', content(fd)); print('copied-up-layout', layout(fd)); os.close(fd)
            K = 1024
            modes = [('alloc', 0, 256*K, 128*K), ('keep-size', 1, 256*K, 1024*K), ('punch', 3, 64*K, 64*K),
                     ('zero', 0x10, 64*K, 64*K), ('zero-keep', 0x11, 200*K, 200*K)]
            for name, mode, off, ln in modes:
                fd = os.open(m + '/fa-' + name, os.O_RDWR)
                rc = libc.fallocate(fd, mode, off, ln)
                print('fallocate', name, 'ok' if rc == 0 else errno.errorcode[ctypes.get_errno()], desc(fd))
                os.close(fd)
            for name, mode in [('collapse', 0x08), ('insert', 0x20), ('unshare', 0x40)]:
                fd = os.open(m + '/fa-' + name, os.O_RDWR)
                rc = libc.fallocate(fd, mode, 64*K, 64*K)
                print('fallocate-fuse-refuses', name, 'ok' if rc == 0 else errno.errorcode[ctypes.get_errno()], desc(fd))
                os.close(fd)
            fd = os.open(m + '/fa-ro', os.O_RDONLY)
            rc = libc.fallocate(fd, 1, 0, 4096)
            print('fallocate read-only', 'ok' if rc == 0 else errno.errorcode[ctypes.get_errno()])
            os.close(fd)
            """;

    /** Runs as uid 1000 (the owner of "own"), then uid 1001, on MNT. */
    private static final String OWNER = """
            import errno, os, sys
            p = sys.argv[1] + '/own'
            def attempt(what, f):
                try:
                    f(); print(what, 'ok')
                except OSError as e:
                    print(what, errno.errorcode[e.errno])
            fd = os.open(p, os.O_WRONLY)
            os.chmod(p, 0o444)
            attempt('ftruncate after chmod 0444', lambda: os.ftruncate(fd, 5))
            attempt('truncate by path', lambda: os.truncate(p, 2))
            os.close(fd)
            print('size', os.stat(p).st_size)
            # set-user-ID and set-group-ID of a file written by a user: what fallocate and ftruncate clear
            for name, call in [('suid-fallocate', lambda fd: os.posix_fallocate(fd, 0, 8192)),
                               ('suid-ftruncate', lambda fd: os.ftruncate(fd, 1))]:
                q = sys.argv[1] + '/' + name
                fd = os.open(q, os.O_WRONLY)
                call(fd)
                os.close(fd)
                st = os.stat(q)
                print(name, oct(st.st_mode), st.st_size)
            """;

    private static final String STRANGER = """
            import errno, os, sys
            p = sys.argv[1] + '/own'
            try:
                os.truncate(p, 1); print('stranger truncate ok')
            except OSError as e:
                print('stranger truncate', errno.errorcode[e.errno])
            print('size', os.stat(p).st_size)
            """;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        Linux.chmod(dir.toString(), 0755);            // uid 1000 reaches the mount points
        Path lower = Files.createDirectory(dir.resolve("lower"));
        for (String d : List.of("u1", "w1", "u2", "w2", "mnt", "kmnt")) Files.createDirectory(dir.resolve(d));
        mnt = dir.resolve("mnt");
        kmnt = dir.resolve("kmnt");
        // sparse files: data at [1M, 1M+64K) and [2M, 2M+4K), 3M long
        for (String f : List.of("sparse", "meta", "up")) {
            TestMounts.sh(PYTHON, "-c", "import os,sys\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_CREAT,0o644)\n"
                    + "os.pwrite(fd,b'a'*65536,1<<20)\nos.pwrite(fd,b'b'*4096,2<<20)\nos.ftruncate(fd,3<<20)",
                    lower.resolve(f).toString());
        }
        for (String f : List.of("alloc", "keep-size", "punch", "zero", "zero-keep", "collapse", "insert", "unshare",
                "ro")) {
            Files.write(lower.resolve("fa-" + f), "x".repeat(256 * 1024).getBytes());
        }
        Files.createDirectory(lower.resolve("lowerdir"));
        Files.writeString(lower.resolve("h1"), "linked data\n");
        Files.createLink(lower.resolve("h2"), lower.resolve("h1"));
        for (String f : List.of("suid-fallocate", "suid-ftruncate")) {
            Path p = lower.resolve(f);
            Files.writeString(p, "data\n");
            Linux.chmod(p.toString(), 06777);
        }
        Path own = lower.resolve("own");
        Files.writeString(own, "hello world\n");
        Linux.lchown(own.toString(), 1000, 1000);
        Linux.chmod(own.toString(), 0644);
        String opts = "lowerdir=" + lower + ",upperdir=" + dir.resolve("u1") + ",workdir=" + dir.resolve("w1")
                + ",metacopy=on,redirect_dir=on";
        overlay = Overlay.mount(MountOptions.parse(opts, "/", ModuleDefaults.BUILTIN).overlay());
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay"), new OverlayFileSystem(overlay));
        TestMounts.sh("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower + ",upperdir=" + dir.resolve("u2")
                + ",workdir=" + dir.resolve("w2") + ",metacopy=on,redirect_dir=on", kmnt.toString());
    }

    @AfterEach void unmount() throws Exception {
        try {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
        } finally {
            TestMounts.rc("umount", kmnt.toString());
            TestMounts.cleanup(mnt, dir);
        }
    }

    /**
     * Compared: everything but the block layout of the full copy-up (the kernel's copy-up writes whole 1 MiB
     * chunks from each data start, overlayj's keeps every hole: CopyUp's business, not this door's), whose hole
     * map must be the real upper file's; and the fallocate modes the kernel's FUSE module refuses itself
     * (COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE: EOPNOTSUPP before any request), which the kernel overlay does.
     */
    @Test void seekAndFallocateAsOnTheKernelOverlay() throws Exception {
        String kernel = TestMounts.sh(PYTHON, "-c", SCRIPT, kmnt.toString());
        long seeks = server.requests(FuseOpcode.LSEEK), fallocates = server.requests(FuseOpcode.FALLOCATE);
        String ours = TestMounts.sh(PYTHON, "-c", SCRIPT, mnt.toString());
        assertEquals(compared(kernel), compared(ours));
        // the script saw holes, and the engine answered them (not the kernel's FUSE fallback of a dense file)
        assertTrue(kernel.contains("lower size=3145728 md5=3c93838e4ca8 blocks=136 holes=[1048576-1114112 "
                + "2097152-2101248"), kernel);
        assertTrue(server.requests(FuseOpcode.LSEEK) > seeks, "LSEEK reached the server");
        assertEquals(5, server.requests(FuseOpcode.FALLOCATE) - fallocates, "the five modes FUSE carries");
        String upper = TestMounts.sh(PYTHON, "-c", SCRIPT, mnt.toString(), dir.resolve("u1/up").toString());
        assertEquals(upper.trim(), line(ours, "copied-up-layout"));
        // opened read-only now that it is upper: a passthrough file (backing file), for which Linux 6.18 still
        // sends LSEEK (6 requests for this walk); a kernel that asks the backing file instead gets the same answer
        assertEquals(upper, TestMounts.sh(PYTHON, "-c", SCRIPT, mnt.toString(), mnt.resolve("up").toString()));
        // (UNSHARE_RANGE: ext4 has none, the kernel overlay answers what the upper fs does)
        for (String mode : List.of("collapse", "insert")) {
            assertTrue(line(kernel, "fallocate-fuse-refuses " + mode).contains(" ok "), kernel);
        }
        for (String mode : List.of("collapse", "insert", "unshare")) {
            assertTrue(line(ours, "fallocate-fuse-refuses " + mode).contains(" ENOTSUP "), ours);
        }
    }

    private static String compared(String out) {
        return out.lines().filter(l -> !l.startsWith("copied-up-layout") && !l.startsWith("fallocate-fuse-refuses"))
                .collect(java.util.stream.Collectors.joining("\n"));
    }

    private static String line(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).findFirst().orElse("(none: " + prefix + ")");
    }

    @Test void ftruncateThroughTheOpenFileAsOnTheKernelOverlay() throws Exception {
        String kernel = runAs(kmnt), ours = runAs(mnt);
        assertEquals(kernel, ours);
        assertTrue(kernel.contains("ftruncate after chmod 0444 ok") && kernel.contains("stranger truncate EACCES"),
                kernel);
    }

    /**
     * FSYNCDIR syncs the directory's upper inode (fsync of an fd on it), not the whole upper layer (syncfs), and
     * a lower-only directory not at all (the kernel's overlay syncs only an upper real directory). Seen by tracing
     * this JVM, where the FUSE server runs, with strace while a script fsyncs directories through the mount.
     */
    @Test void fsyncdirSyncsOneDirectory() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/strace"))) fail("this test needs strace (scripts/setup.sh)");
        Files.createDirectory(mnt.resolve("made"));
        Path log = dir.resolve("strace.log");
        long pid = ProcessHandle.current().pid();
        Process strace = new ProcessBuilder("strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,syncfs", "-o",
                log.toString(), "-p", Long.toString(pid)).redirectErrorStream(true)
                .redirectOutput(dir.resolve("strace.out").toFile()).start();
        java.util.Set<String> ours;
        try {
            waitTraced(strace);
            long before = server.requests(FuseOpcode.FSYNCDIR);
            TestMounts.sh(PYTHON, "-c", "import os, sys\nfor d in sys.argv[1:]:\n"
                    + "    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)",
                    mnt.resolve("made").toString(), mnt.resolve("lowerdir").toString());
            assertEquals(2, server.requests(FuseOpcode.FSYNCDIR) - before, "FSYNCDIR reached the server");
            try (var tasks = Files.list(Path.of("/proc/self/task"))) {
                ours = tasks.map(t -> t.getFileName().toString()).collect(java.util.stream.Collectors.toSet());
            }
        } finally {
            strace.destroy();
            strace.waitFor();
        }
        // strace -f follows the script too (a child of this JVM): only this JVM's threads count
        String all = Files.readString(log);
        List<String> calls = all.lines().filter(l -> ours.contains(l.split(" ", 2)[0])).toList();
        assertTrue(calls.stream().noneMatch(l -> l.contains("syncfs(")), all);
        assertEquals(1, calls.stream().filter(l -> l.contains("fsync(")).count(), all);
        assertFalse(Files.exists(dir.resolve("u1/lowerdir")), "the lower-only directory was copied up");
        // a directory removed while open syncs without an error, as on the kernel overlay
        String removed = "import os, sys\nd = sys.argv[1] + '/gone'\nos.mkdir(d)\n"
                + "fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)\nos.rmdir(d)\nos.fsync(fd)\nprint('synced')";
        assertEquals(TestMounts.sh(PYTHON, "-c", removed, kmnt.toString()), TestMounts.sh(PYTHON, "-c", removed,
                mnt.toString()));
    }

    /** Until strace traces every thread of this JVM (TracerPid set), or fails if strace ended first. */
    private static void waitTraced(Process strace) throws Exception {
        for (int i = 0; i < 500; i++) {
            if (!strace.isAlive()) fail("strace ended: " + strace.exitValue());
            boolean all = true;
            try (var tasks = Files.list(Path.of("/proc/self/task"))) {
                for (Path t : tasks.toList()) {
                    try {
                        String status = Files.readString(t.resolve("status"));
                        if (status.contains("TracerPid:\t0\n")) all = false;
                    } catch (java.io.IOException gone) {
                        // the thread ended meanwhile
                    }
                }
            }
            if (all) return;
            Thread.sleep(20);
        }
        fail("strace did not attach to every thread");
    }

    /** Lower hard links h1, h2: written through h1, then h2 looked up, then ftruncate through the fd of h1. */
    private static final String ALIASES = """
            import os, sys
            m = sys.argv[1]
            fd = os.open(m + '/h1', os.O_WRONLY)
            os.stat(m + '/h2')
            os.ftruncate(fd, 3)
            os.close(fd)
            for n in ('h1', 'h2'):
                st = os.stat(m + '/' + n)
                print(n, st.st_size, st.st_nlink, open(m + '/' + n).read())
            """;

    /**
     * The truncate goes to the inode the file was opened on: main's FUSE door truncated the node by its name, and
     * the engine's node of two lower hard links is placed at the alias looked up last (h2), so h2 was copied up
     * and truncated while h1's copy kept its data.
     */
    @Test void ftruncateReachesTheOpenedAlias() throws Exception {
        String kernel = TestMounts.sh(PYTHON, "-c", ALIASES, kmnt.toString());
        String ours = TestMounts.sh(PYTHON, "-c", ALIASES, mnt.toString());
        assertEquals(kernel, ours);
        assertEquals(List.of("h1"), upperNames("u2", "h"), "kernel");
        assertEquals(List.of("h1"), upperNames("u1", "h"), "overlayj");
    }

    private List<String> upperNames(String upper, String prefix) throws Exception {
        try (var s = Files.list(dir.resolve(upper))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix)).sorted().toList();
        }
    }

    private static String runAs(Path m) throws Exception {
        return TestMounts.sh("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", PYTHON, "-c", OWNER,
                m.toString())
                + TestMounts.sh("setpriv", "--reuid=1001", "--regid=1001", "--clear-groups", PYTHON, "-c",
                STRANGER, m.toString());
    }
}
