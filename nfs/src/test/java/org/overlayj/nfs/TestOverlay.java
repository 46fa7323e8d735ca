package org.overlayj.nfs;

import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.rpc.RpcTcpServer;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Layers under /tmp/overlayj-test-nfs-*, the engine mounted on them with index=on,nfs_export=on, and a server on
 * a free 127.0.0.1 port. Closing stops the server and removes everything.
 */
final class TestOverlay implements AutoCloseable {
    final Path root, lower, upper, work;
    final Overlay overlay;
    final NfsServer server;

    TestOverlay(String exportsText) throws Exception {
        this(exportsText, RpcTcpServer.Limits.defaults());
    }

    /** With these connection limits. */
    TestOverlay(String exportsText, RpcTcpServer.Limits limits) throws Exception {
        root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-nfs-");
        lower = Files.createDirectories(root.resolve("lower"));
        upper = Files.createDirectories(root.resolve("upper"));
        work = Files.createDirectories(root.resolve("work"));
        Files.writeString(lower.resolve("hello.txt"), "hello from the lower layer\n");
        Files.createDirectories(lower.resolve("dir/sub"));
        Files.writeString(lower.resolve("dir/a"), "a");
        for (int i = 0; i < 300; i++) Files.writeString(lower.resolve("dir/f" + i), "x" + i);
        Overlay o = null;
        NfsServer s = null;
        try {
            o = Overlay.mount(new OverlayOptions(List.of(lower.toString()), upper.toString(), work.toString(),
                    OverlayOptions.RedirectDir.NOFOLLOW, true, true, OverlayOptions.Uuid.AUTO,
                    OverlayOptions.Xino.OFF, false, false, false, List.of()));
            Exports exports = exportsText == null ? Exports.defaults() : Exports.parse(exportsText);
            s = NfsServer.start(o, exports,
                    new NfsServer.Config(new InetSocketAddress("127.0.0.1", 0), false, 4, 0, limits));
        } catch (Exception | Error e) {
            if (s != null) s.close();
            if (o != null) o.close();
            deleteTree(root);
            throw e;
        }
        overlay = o;
        server = s;
    }

    int port() { return server.address().getPort(); }

    /**
     * A file of {@code data} in the lower layer (made before the first lookup of it, so the engine finds it), on
     * disk; with {@code evict}, out of the page cache too (a cold file).
     */
    Path lowerFile(String name, byte[] data, boolean evict) throws IOException {
        Path p = lower.resolve(name);
        Files.write(p, data);
        int fd = Linux.open(p.toString(), Linux.O_RDONLY, 0);
        try {
            Linux.fsync(fd);
            if (evict) Linux.dropCachedPages(fd);
        } finally {
            Linux.close(fd);
        }
        return p;
    }

    @Override public void close() throws IOException {
        try {
            server.close();
        } finally {
            overlay.close();
            deleteTree(root);
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                try {
                    Files.deleteIfExists(x);
                } catch (IOException e) {
                    // work/work may hold a d--------- dir: make it deletable, then retry
                    x.toFile().setWritable(true);
                    Files.deleteIfExists(x);
                }
            }
        }
    }
}
