package org.overlayj.nfs;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * COMMIT syncs the file's upper inode through the engine's own sync of a node, as the kernel's overlay syncs only
 * an upper real file (ovl_fsync): a lower-only file is not opened nor synced at all (main opened it as root and
 * synced the lower file). Seen by tracing this JVM, where the server runs, with strace.
 */
class CommitTest {
    private TestOverlay t;
    private RpcTestClient c;

    @BeforeEach void start() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/strace"))) fail("this test needs strace (scripts/setup.sh)");
        t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
        c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0));
    }

    @AfterEach void stop() throws Exception {
        try {
            if (c != null) c.close();
        } finally {
            if (t != null) t.close();
        }
    }

    @Test void commitSyncsOnlyAnUpperInode() throws Exception {
        nfs_fh3 root = c.rootHandle("/");
        LOOKUP3args la = new LOOKUP3args();
        la.what = new diropargs3();
        la.what.dir = root;
        la.what.name = "hello.txt".getBytes(StandardCharsets.UTF_8);
        LOOKUP3res lr = c.nfs(Nfs3.NFSPROC3_LOOKUP_3, la, new LOOKUP3res());
        assertEquals(nfsstat3.NFS3_OK, lr.status);
        nfs_fh3 hello = lr.resok.object;
        assertEquals(List.of(), fsyncsDuring(() -> assertEquals(nfsstat3.NFS3_OK, commit(hello))), "lower-only");
        WRITE3args w = new WRITE3args();
        w.file = hello;
        w.count = 5;
        w.stable = stable_how.UNSTABLE;
        w.data = "HELLO".getBytes(StandardCharsets.UTF_8);
        assertEquals(nfsstat3.NFS3_OK, c.nfs(Nfs3.NFSPROC3_WRITE_3, w, new WRITE3res()).status);
        assertEquals(1, fsyncsDuring(() -> assertEquals(nfsstat3.NFS3_OK, commit(hello))).size(), "copied up");
        assertEquals("HELLO from the lower layer\n", Files.readString(t.upper.resolve("hello.txt")));
    }

    private int commit(nfs_fh3 f) throws Exception {
        COMMIT3args a = new COMMIT3args();
        a.file = f;
        return c.nfs(Nfs3.NFSPROC3_COMMIT_3, a, new COMMIT3res()).status;
    }

    private interface Step {
        void run() throws Exception;
    }

    /** The fsync-family calls this JVM's threads made during {@code step}, as strace lines. */
    private List<String> fsyncsDuring(Step step) throws Exception {
        Path log = Files.createTempFile(t.root, "strace", ".log");
        Process strace = new ProcessBuilder("strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,syncfs,sync", "-o",
                log.toString(), "-p", Long.toString(ProcessHandle.current().pid()))
                .redirectErrorStream(true).redirectOutput(t.root.resolve("strace.out").toFile()).start();
        Set<String> ours;
        try {
            waitTraced(strace);
            step.run();
            ours = tasks();
        } finally {
            strace.destroy();
            strace.waitFor();
        }
        return Files.readAllLines(log).stream().filter(l -> ours.contains(l.split(" ", 2)[0]))
                .filter(l -> l.contains("sync")).toList();
    }

    private static Set<String> tasks() throws Exception {
        try (var s = Files.list(Path.of("/proc/self/task"))) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    /** Until strace traces every thread of this JVM (TracerPid set); fails if strace ended first. */
    private static void waitTraced(Process strace) throws Exception {
        for (int i = 0; i < 500; i++) {
            if (!strace.isAlive()) fail("strace ended: " + strace.exitValue());
            boolean all = true;
            for (String task : tasks()) {
                try {
                    if (Files.readString(Path.of("/proc/self/task", task, "status")).contains("TracerPid:\t0\n")) {
                        all = false;
                    }
                } catch (java.io.IOException gone) {
                    // the thread ended meanwhile
                }
            }
            if (all) return;
            Thread.sleep(20);
        }
        fail("strace did not attach to every thread");
    }
}
