package org.overlayj.nfs;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.xdr.*;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The promise end to end: a handle of a lower file with hard-link aliases, taken by LOOKUP, still works
 * after the server and the engine are restarted (a new Overlay instance on the same layers): WRITE through it
 * copies the file up, and every alias shows the data. The handle of a deleted object is NFS3ERR_STALE. Then the
 * kernel's overlayfs (index=on,nfs_export=on) mounted on the same layers shows the tree NFS showed.
 */
class HandleRestartTest {
    private Path root, lower, upper, work, mnt;
    private Overlay overlay;
    private NfsServer server;
    private boolean mounted;

    @BeforeEach void layers() throws IOException {
        root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-nfs-restart-");
        lower = Files.createDirectories(root.resolve("lower"));
        upper = Files.createDirectories(root.resolve("upper"));
        work = Files.createDirectories(root.resolve("work"));
        mnt = Files.createDirectories(root.resolve("mnt"));
        Files.createDirectories(lower.resolve("a/b"));
        Files.createDirectories(lower.resolve("c"));
        Files.writeString(lower.resolve("a/data"), "old lower data\n");
        Files.createLink(lower.resolve("a/b/alias"), lower.resolve("a/data"));
        Files.createLink(lower.resolve("c/alias2"), lower.resolve("a/data"));
        Files.writeString(lower.resolve("c/doomed"), "to be removed\n");
        Files.writeString(lower.resolve("plain"), "plain\n");
    }

    @AfterEach void cleanup() throws IOException {
        try {
            stopServer();
        } finally {
            try {
                if (mounted) Linux.umount(mnt.toString(), Linux.MNT_DETACH);
            } catch (Exception ignored) {
                // best effort; deleting below then fails loudly if it is still mounted
            } finally {
                TestOverlay.deleteTree(root);
            }
        }
    }

    private int startServer() throws Exception {
        overlay = Overlay.mount(new OverlayOptions(List.of(lower.toString()), upper.toString(), work.toString(),
                OverlayOptions.RedirectDir.NOFOLLOW, true, true, OverlayOptions.Uuid.AUTO,
                OverlayOptions.Xino.OFF, false, false, false, List.of()));
        server = NfsServer.start(overlay, Exports.parse("/ 127.0.0.1(rw,no_root_squash,insecure)\n"),
                new NfsServer.Config(new InetSocketAddress("127.0.0.1", 0), false, 4, 0));
        return server.address().getPort();
    }

    private void stopServer() throws IOException {
        try {
            if (server != null) server.close();
        } finally {
            server = null;
            if (overlay != null) overlay.close();
            overlay = null;
        }
    }

    private static String s(byte[] b) { return new String(b, StandardCharsets.UTF_8); }

    private static nfs_fh3 walk(NfsCalls n, nfs_fh3 dir, String path) throws Exception {
        for (String p : path.split("/")) dir = n.lookup(dir, p);
        return dir;
    }

    @Test void oldHandlesWorkAfterARestartAndTheKernelSeesTheSameTree() throws Exception {
        nfs_fh3 data, doomed, scratch;
        try (NfsCalls n = new NfsCalls(startServer(), 0, 0)) {
            nfs_fh3 r = n.root("/");
            data = walk(n, r, "a/data");
            assertEquals(3, n.getattr(data).nlink);
            doomed = walk(n, r, "c/doomed");
            n.remove(walk(n, r, "c"), "doomed");
            scratch = n.create(r, "scratch");
            n.remove(r, "scratch");
            assertEquals(nfsstat3.NFS3ERR_STALE, n.getattrStatus(doomed));
        }
        // the lower file was only looked up: nothing of it is in the upper layer yet
        assertFalse(Files.exists(upper.resolve("a/data")));
        stopServer();

        Map<String, String> nfsTree;
        try (NfsCalls n = new NfsCalls(startServer(), 0, 0)) {
            byte[] fresh = "written through a handle from before the restart\n".getBytes(StandardCharsets.UTF_8);
            n.write(data, 0, fresh, stable_how.FILE_SYNC);
            nfs_fh3 r = n.root("/");
            for (String alias : new String[]{"a/data", "a/b/alias", "c/alias2"}) {
                nfs_fh3 h = walk(n, r, alias);
                assertEquals(s(fresh), s(n.readAll(h)), alias);
                assertEquals(3, n.getattr(h).nlink, alias);
                assertEquals(n.getattr(data).fileid, n.getattr(h).fileid, alias + " is the same inode");
            }
            assertEquals(s(fresh), s(n.readAll(data)));
            assertEquals(nfsstat3.NFS3ERR_STALE, n.getattrStatus(doomed));
            assertEquals(nfsstat3.NFS3ERR_STALE, n.getattrStatus(scratch));
            nfsTree = tree(n, r, "");
        }
        assertEquals("old lower data\n", Files.readString(lower.resolve("a/data")), "the lower layer is untouched");
        stopServer();

        // The kernel's view of the same layers.
        // a mark, not a line count: once the ring buffer is full its line count stops growing, and every new line
        // would be missed (the crash sweep had that bug)
        List<String> logBefore = dmesg();
        String mark = logBefore.isEmpty() ? "" : logBefore.getLast();
        Linux.mount("overlay", mnt.toString(), "overlay", 0, "lowerdir=" + lower + ",upperdir=" + upper
                + ",workdir=" + work + ",index=on,nfs_export=on");
        mounted = true;
        Map<String, String> kernelTree = new TreeMap<>();
        try (Stream<Path> s = Files.walk(mnt)) {
            for (Path p : s.toList()) {
                if (p.equals(mnt)) continue;
                kernelTree.put(mnt.relativize(p).toString(), describe(p));
            }
        }
        Linux.umount(mnt.toString(), 0);
        mounted = false;
        assertEquals(nfsTree, kernelTree);
        List<String> logAfter = dmesg();
        List<String> fresh = logAfter.subList(logAfter.lastIndexOf(mark) + 1, logAfter.size());
        for (String line : fresh) {
            assertFalse(line.contains("overlayfs") && line.matches("(?i).*(error|fail|stale|invalid|corrupt).*"),
                    "kernel complained: " + line);
        }
    }

    /** "type nlink size content" per path below {@code dir}, as NFS shows them. */
    private static Map<String, String> tree(NfsCalls n, nfs_fh3 dir, String prefix) throws Exception {
        Map<String, String> out = new TreeMap<>();
        for (Map.Entry<String, entryplus3> e : n.readdirplus(dir).entrySet()) {
            String path = prefix + e.getKey();
            nfs_fh3 h = e.getValue().name_handle.handle_follows ? e.getValue().name_handle.handle
                    : n.lookup(dir, e.getKey());
            fattr3 a = n.getattr(h);
            if (a.type == ftype3.NF3DIR) {
                out.put(path, "dir");
                out.putAll(tree(n, h, path + "/"));
            } else if (a.type == ftype3.NF3REG) {
                out.put(path, "file " + a.nlink + " " + a.size + " " + s(n.readAll(h)));
            } else {
                out.put(path, "type " + a.type);
            }
        }
        return out;
    }

    private static String describe(Path p) throws IOException {
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) return "dir";
        if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
            int nlink = (Integer) Files.getAttribute(p, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
            return "file " + nlink + " " + Files.size(p) + " " + Files.readString(p);
        }
        return "other";
    }

    private static List<String> dmesg() throws Exception {
        Process p = new ProcessBuilder("dmesg").redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), "dmesg: " + out);
            return out.lines().toList();
        } finally {
            p.destroyForcibly();
        }
    }
}
