package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseOpcode;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * FUSE over io_uring (issue 20 point 3): with the fuse module's enable_uring on, a mount takes the kernel's offer and
 * its requests come through the rings; with it off, or with the mount's uring option off, through the /dev/fuse
 * loop. The same workload (creates, reads, writes of 1 MiB requests, copy-up, readdir, rename, unlink, links, four
 * writers at once) runs on each and on the kernel overlay, and every output must be the kernel's.
 *
 * <p>enable_uring is global: the test sets it for its mounts only and puts the old value back, holding a lock file
 * meanwhile ({@link #LOCK}, which bench/overlay-bench.sh takes too) so that two runs on one machine do not undo each
 * other's setting. Mounts others make in that moment may negotiate io_uring too; that only changes their transport.
 */
class FuseUringTest {
    private static final Path PARAM = Path.of("/sys/module/fuse/parameters/enable_uring");
    static final Path LOCK = Path.of("/tmp/overlayj-enable_uring.lock");
    /** Runs in the mount ($1) and prints what it saw; $2 is the upper layer. */
    private static final String WORKLOAD = """
            set -e
            m=$1; u=$2
            cd "$m"
            umask 022         # the engine sets the server's (this JVM's) umask to 0, and children inherit it
            echo new > created; cat created
            for i in $(seq 1 40); do echo "file $i" > many$i; done
            cat lowerfile; echo appended >> lowerfile; cat lowerfile
            md5sum < big
            cp big bigcopy; md5sum < bigcopy
            dd if=big of=part bs=1M skip=1 count=1 2>/dev/null; md5sum < part
            ls d; echo more > d/added; ls d
            mkdir d2; mv created d2/renamed; mv d/sub d2/sub
            rm many1 many2 many3 lowerdel
            ln -s d2/renamed sym; ln d2/renamed hard; chmod 600 many4
            for j in 1 2 3 4; do (for i in $(seq 1 25); do echo "$j $i" > p$j-$i; cat p$j-$i > /dev/null; done) & done
            wait
            echo "--- merged"
            find . -mindepth 1 -printf '%p %y %m %n %l\\n' | sort
            find . -type f | sort | xargs md5sum
            echo "--- upper"
            find "$u" -mindepth 1 -printf '%P %y %m\\n' | sort
            """;

    private Path dir, lower;
    private final List<FuseServer> servers = new ArrayList<>();
    private final List<Overlay> overlays = new ArrayList<>();
    private final List<Path> mounts = new ArrayList<>();

    @BeforeEach void layers() throws Exception {
        TestMounts.requireFuse();
        if (!Files.exists(PARAM)) {
            String why = "the fuse module has no enable_uring parameter (Linux >= 6.14 with CONFIG_FUSE_IO_URING)";
            if ("true".equals(System.getenv("CI"))) fail(why);
            Assumptions.abort(why);
        }
        dir = TestMounts.tempDir();
        Linux.chmod(dir.toString(), 0755);
        lower = Files.createDirectory(dir.resolve("lower"));
        Files.writeString(lower.resolve("lowerfile"), "lower\n");
        Files.writeString(lower.resolve("lowerdel"), "to delete\n");
        Files.createDirectories(lower.resolve("d/sub"));
        Files.writeString(lower.resolve("d/a"), "a\n");
        Files.writeString(lower.resolve("d/sub/deep"), "deep\n");
        // 3 MiB and a bit: READs and WRITEs of a full 1 MiB payload, and a short last one
        TestMounts.sh("sh", "-c", "seq 1 600000 | head -c 3145851 > " + lower.resolve("big"));
    }

    @AfterEach void cleanup() throws Exception {
        try {
            for (FuseServer s : servers) s.close();
            for (Overlay o : overlays) o.close();
            for (Path m : mounts) TestMounts.rc("umount", "-l", m.toString());
        } finally {
            TestMounts.cleanup(null, dir);
        }
    }

    /** Mounts {@code names} (overlayj, with the uring option as given) while enable_uring is {@code on}. */
    private List<FuseServer> mountWhile(boolean on, String[] names, boolean[] uringOption) throws Exception {
        try (java.nio.channels.FileChannel lock = java.nio.channels.FileChannel.open(LOCK,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
             java.nio.channels.FileLock held = lock.lock()) {
            String saved = Files.readString(PARAM).trim();
            try {
                Files.writeString(PARAM, on ? "Y" : "N");
                List<FuseServer> made = new ArrayList<>();
                for (int i = 0; i < names.length; i++) made.add(overlayj(names[i], uringOption[i]));
                return made;
            } finally {
                Files.writeString(PARAM, saved);
            }
        }
    }

    /** A fresh upper and work dir over the shared lower layer: {upper, work, mountpoint}. */
    private Path[] dirs(String name) throws Exception {
        Path[] p = {dir.resolve(name + "-u"), dir.resolve(name + "-w"), dir.resolve(name + "-mnt")};
        for (Path x : p) Files.createDirectory(x);
        return p;
    }

    private FuseServer overlayj(String name, boolean uringOption) throws Exception {
        Path[] d = dirs(name);
        Overlay o = Overlay.mount(OverlayOptions.of(List.of(lower.toString()), d[0].toString(), d[1].toString()));
        overlays.add(o);
        FuseServer s = FuseServer.mount(d[2].toString(), FuseMountOptions.defaults("overlay").withUring(uringOption),
                new OverlayFileSystem(o));
        servers.add(s);
        return s;
    }

    private String run(String name) throws Exception {
        return TestMounts.sh("sh", "-c", WORKLOAD, "workload", dir.resolve(name + "-mnt").toString(),
                dir.resolve(name + "-u").toString());
    }

    private String kernel() throws Exception {
        Path[] d = dirs("kernel");
        TestMounts.sh("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower + ",upperdir=" + d[0]
                + ",workdir=" + d[1], d[2].toString());
        mounts.add(d[2]);
        return run("kernel");
    }

    private static List<String> ringThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.startsWith("fuse-ring-")).toList();
    }

    @Test void requestsComeThroughIoUringWhenOffered() throws Exception {
        String expected = kernel();
        // the switch: "loop" is offered io_uring and declines it
        List<FuseServer> made = mountWhile(true, new String[] {"ring", "loop"}, new boolean[] {true, false});
        FuseServer ring = made.get(0), loop = made.get(1);
        assertTrue(ring.uringOffered(), "the kernel offers io_uring while enable_uring is on");
        assertTrue(ring.uringInUse(), "and the server took it");
        assertTrue(loop.uringOffered());
        assertFalse(loop.uringInUse(), "uring=off keeps the /dev/fuse loop");

        assertEquals(expected, run("loop"));
        assertEquals(expected, run("ring"));
        // every request but INIT, FORGETs and INTERRUPTs (which the kernel still sends through /dev/fuse)
        long all = 0;
        for (int op = 0; op < 64; op++) {
            if (op != FuseOpcode.INIT && op != FuseOpcode.FORGET && op != FuseOpcode.BATCH_FORGET
                    && op != FuseOpcode.INTERRUPT) all += ring.requests(op);
        }
        assertTrue(ring.uringRequests() > 300, "requests came through the rings: " + ring.uringRequests());
        assertEquals(all, ring.uringRequests(), "all of them");
        assertEquals(0, loop.uringRequests());
        assertTrue(expected.contains("appended") && expected.contains("sym l"), expected);

        for (FuseServer s : servers) s.close();
        servers.clear();
        assertEquals(List.of(), ringThreads(), "the ring threads end with the mount");
    }

    @Test void theReadLoopServesWhenNotOffered() throws Exception {
        String expected = kernel();
        FuseServer s = mountWhile(false, new String[] {"plain"}, new boolean[] {true}).getFirst();
        assertFalse(s.uringOffered(), "enable_uring off: no offer");
        assertFalse(s.uringInUse());
        assertEquals(expected, run("plain"));
        assertEquals(0, s.uringRequests());
    }

    @Test void anAbortedConnectionEndsTheRingThreads() throws Exception {
        FuseServer s = mountWhile(true, new String[] {"abort"}, new boolean[] {true}).getFirst();
        assertTrue(s.uringInUse());
        Path mnt = dir.resolve("abort-mnt");
        assertEquals("lower\n", Files.readString(mnt.resolve("lowerfile")));
        long dev = Linux.stat(mnt.toString()).dev();
        Path connections = Path.of("/sys/fs/fuse/connections");
        boolean mountedHere = !Files.exists(connections.resolve(Integer.toString(Linux.minor(dev))));
        if (mountedHere) TestMounts.sh("mount", "-t", "fusectl", "fusectl", connections.toString());
        try {
            Files.writeString(connections.resolve(Linux.minor(dev) + "/abort"), "1");
        } finally {
            if (mountedHere) TestMounts.rc("umount", connections.toString());
        }
        assertTrue(s.awaitExit(60, TimeUnit.SECONDS), "the server ends when its connection is aborted");
        s.close();
        servers.remove(s);
        assertEquals(List.of(), ringThreads(), "no ring thread is left");
        mounts.add(mnt);
    }
}
