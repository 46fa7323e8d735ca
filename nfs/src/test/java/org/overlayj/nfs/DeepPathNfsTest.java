package org.overlayj.nfs;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.tools.Fsck;
import org.overlayj.core.tools.IndexReport;
import org.overlayj.core.tools.LayerSet;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.xdr.*;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Paths longer than PATH_MAX through the NFS door (issue 19, bug 1): 20 nested MKDIRs of 250-byte names succeed
 * (the 17th was NFS3ERR_NAMETOOLONG; ganesha and the kernel overlay make all 20), files at the deepest level are
 * created, written, read and renamed; a lower tree deeper than PATH_MAX is looked up, read and copied up; and the
 * handles of all of them still resolve after a restart (cold caches: a deep directory's path is found through its
 * ancestors, a deep file's by the layer scan). Then the kernel overlay shows the same bytes.
 */
class DeepPathNfsTest {
    private static final String N = "d".repeat(250);
    private static final int DEPTH = 20;
    private Path root, lower, upper, work, mnt;
    private Overlay overlay;
    private NfsServer server;
    private boolean mounted;

    @BeforeEach void layers() throws Exception {
        root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")),
                "overlayj-test-nfs-deep-");
        lower = Files.createDirectories(root.resolve("lower"));
        upper = Files.createDirectories(root.resolve("upper"));
        work = Files.createDirectories(root.resolve("work"));
        mnt = Files.createDirectories(root.resolve("mnt"));
        py("""
                os.chdir(P)
                os.mkdir('deep')
                os.chdir('deep')
                for i in range(%d):
                    os.mkdir(N)
                    os.chdir(N)
                open('lowerfile', 'w').write('deep lower data\\n')
                """.formatted(DEPTH), lower);
    }

    @AfterEach void cleanup() throws Exception {
        try {
            stopServer();
        } finally {
            try {
                if (mounted) Linux.umount(mnt.toString(), Linux.MNT_DETACH);
            } finally {
                // rm walks by directory fds: any depth (NIO's walk stops at PATH_MAX)
                new ProcessBuilder("rm", "-rf", "--one-file-system", root.toString()).inheritIO().start().waitFor();
            }
        }
    }

    private static String py(String code, Path arg) throws Exception {
        Process p = new ProcessBuilder("python3", "-c", "import os, sys\nP = sys.argv[1]\nN = 'd' * 250\n" + code,
                arg.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) fail("python3: " + out);
        return out.strip();
    }

    private OverlayOptions options() {
        return new OverlayOptions(List.of(lower.toString()), upper.toString(), work.toString(),
                OverlayOptions.RedirectDir.NOFOLLOW, true, true, OverlayOptions.Uuid.AUTO,
                OverlayOptions.Xino.OFF, false, false, false, List.of());
    }

    private int startServer() throws Exception {
        overlay = Overlay.mount(options());
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

    @Test void twentyNestedMkdirsAndDeepLowerTrees() throws Exception {
        nfs_fh3 newDir, file, lowerDir, lowerFile;
        try (NfsCalls n = new NfsCalls(startServer(), 0, 0)) {
            nfs_fh3 r = n.root("/");
            nfs_fh3 d = n.mkdir(r, "new");
            for (int i = 0; i < DEPTH; i++) {
                MKDIR3args a = new MKDIR3args();
                a.where = NfsCalls.where(d, N);
                a.attributes = NfsCalls.sattr(0755);
                CREATE3res res = n.c.nfs(Nfs3.NFSPROC3_MKDIR_3, a, new CREATE3res());
                assertEquals(nfsstat3.NFS3_OK, res.status, "MKDIR number " + (i + 1) + " of " + DEPTH);
                d = res.resok.obj.handle;
            }
            newDir = d;
            nfs_fh3 f = n.create(newDir, "f");
            n.write(f, 0, "written at depth 20\n".getBytes(StandardCharsets.UTF_8), stable_how.FILE_SYNC);
            n.rename(newDir, "f", newDir, "g");
            file = n.lookup(newDir, "g");
            assertEquals("written at depth 20\n", s(n.readAll(file)));
            assertEquals(List.of("g"), List.copyOf(n.readdirplus(newDir).keySet()));
            // a name longer than NAME_MAX is still refused, at any depth
            MKDIR3args a = new MKDIR3args();
            a.where = NfsCalls.where(newDir, "n".repeat(256));
            a.attributes = NfsCalls.sattr(0755);
            assertEquals(nfsstat3.NFS3ERR_NAMETOOLONG, n.c.nfs(Nfs3.NFSPROC3_MKDIR_3, a, new CREATE3res()).status);

            d = n.lookup(r, "deep");
            for (int i = 0; i < DEPTH; i++) d = n.lookup(d, N);
            lowerDir = d;
            lowerFile = n.lookup(lowerDir, "lowerfile");
            assertEquals("deep lower data\n", s(n.readAll(lowerFile)));
        }
        stopServer();

        // Cold caches: every handle is decoded from the layers again.
        try (NfsCalls n = new NfsCalls(startServer(), 0, 0)) {
            assertEquals(ftype3.NF3DIR, n.getattr(newDir).type);
            assertEquals("written at depth 20\n", s(n.readAll(file)));
            assertEquals(List.of("g"), List.copyOf(n.readdirplus(newDir).keySet()));
            assertEquals(ftype3.NF3DIR, n.getattr(lowerDir).type);
            assertEquals("deep lower data\n", s(n.readAll(lowerFile)));
            // a WRITE copies the deep lower file (and its 21 parents) up
            n.write(lowerFile, 16, "appended over NFS\n".getBytes(StandardCharsets.UTF_8), stable_how.FILE_SYNC);
            n.create(lowerDir, "created");
            assertEquals(List.of("created", "lowerfile"),
                    n.readdirplus(lowerDir).keySet().stream().sorted().toList());
        }
        stopServer();

        // The kernel's view of the same layers.
        Linux.mount("overlay", mnt.toString(), "overlay", 0, "lowerdir=" + lower + ",upperdir=" + upper
                + ",workdir=" + work + ",index=on,nfs_export=on");
        mounted = true;
        String seen = py("""
                os.chdir(P)
                os.chdir('new')
                for i in range(%d): os.chdir(N)
                print(sorted(os.listdir('.')), repr(open('g').read()))
                os.chdir(P)
                os.chdir('deep')
                for i in range(%d): os.chdir(N)
                print(sorted(os.listdir('.')), repr(open('lowerfile').read()))
                """.formatted(DEPTH, DEPTH), mnt);
        assertEquals("['g'] 'written at depth 20\\n'\n"
                + "['created', 'lowerfile'] 'deep lower data\\nappended over NFS\\n'", seen);
        Linux.umount(mnt.toString(), 0);
        mounted = false;
        // The offline tools walk the same layers (fsck by lookup, the index check by the entries' handles).
        try (LayerSet ls = LayerSet.open(options())) {
            assertEquals(List.of(), Fsck.check(ls).findings());
            IndexReport index = IndexReport.scan(ls);
            assertTrue(index.clean(), index.entries().toString());
            assertTrue(index.entries().stream().anyMatch(e -> e.upperPaths().stream().anyMatch(
                    p -> p.length() > Linux.PATH_MAX)), "an index entry of a deep directory: " + index.entries());
        }
        assertEquals("deep lower data", py("""
                os.chdir(P)
                os.chdir('deep')
                for i in range(%d): os.chdir(N)
                print(open('lowerfile').read())
                """.formatted(DEPTH), lower), "the lower layer is untouched");
    }
}
