package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseInit;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseOpcode;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HANDLE_KILLPRIV_V2: writes, truncates, O_TRUNC opens and chowns clear set-user-ID and set-group-ID exactly as on
 * the kernel overlay (one scenario on both, over the same lower layer, compared), and the kernel stops asking for
 * security.capability before every write once an inode was written. A FUSE differential sequence found the
 * chown(-1, -1) case (seed 8016: a 6755 file stayed 6755, the kernel overlay made it 0755).
 */
class KillPrivTest {
    private Path dir, lower, mnt, kmnt;
    private Overlay overlay;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        Linux.chmod(dir.toString(), 0755);            // uid 1000 reaches the mount points
        lower = Files.createDirectory(dir.resolve("lower"));
        for (String d : List.of("u1", "w1", "u2", "w2", "mnt", "kmnt")) Files.createDirectory(dir.resolve(d));
        mnt = dir.resolve("mnt");
        kmnt = dir.resolve("kmnt");
        Linux.chmod(lower.toString(), 0777);
        // name, mode, owner, group: files the scenario writes as uid 1000 (gid 1000, no other groups)
        Object[][] files = {
                {"suid-own", 04755, 1000, 1000}, {"suid-other", 04777, 0, 0}, {"sgid-x", 02775, 1000, 1000},
                {"sgid-nox-member", 02765, 1000, 1000}, {"sgid-nox-other", 02767, 0, 2000},
                {"both", 06777, 0, 0}, {"plain", 0777, 0, 0}};
        for (String op : List.of("w", "t", "o", "c", "again", "r", "n")) {
            for (Object[] f : files) {
                Path p = lower.resolve(op + "-" + f[0]);
                Files.writeString(p, "data\n");
                Linux.lchown(p.toString(), (int) f[2], (int) f[3]);
                Linux.chmod(p.toString(), (int) f[1]);
            }
        }
        overlay = Overlay.mount(OverlayOptions.of(List.of(lower.toString()), dir.resolve("u1").toString(),
                dir.resolve("w1").toString()));
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay"), new OverlayFileSystem(overlay));
        TestMounts.sh("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower + ",upperdir=" + dir.resolve("u2")
                + ",workdir=" + dir.resolve("w2"), kmnt.toString());
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

    /** The scenario, as uid 1000 with no supplementary groups (no CAP_FSETID), then a chown as root. */
    private List<String> scenario(Path m) throws Exception {
        String d = m.toString();
        String script = String.join("\n",
                "cd " + d,
                "for f in w-*; do echo more >> $f; done",
                "for f in t-*; do truncate -s 1 $f; done",
                "for f in o-*; do : > $f; done",
                // owner-held bits set again on a file already written (the kernel no longer asks for its
                // security.capability): the next write must clear them again
                "echo more >> again-suid-own; chmod 4755 again-suid-own; echo more >> again-suid-own",
                "echo more >> again-sgid-x; chmod 2775 again-sgid-x; echo more >> again-sgid-x");
        TestMounts.sh("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "sh", "-c", script);
        // as root: chown, a write (the VFS clears set-user-ID even then; the kernel sends FUSE an empty SETATTR
        // first), and chown(-1, -1) (also an empty SETATTR)
        TestMounts.sh("sh", "-c", "cd " + d + " && for f in c-*; do chown 1000:1000 $f; done"
                + " && for f in r-*; do echo more >> $f; done"
                + " && python3 -c 'import os, sys; [os.chown(f, -1, -1) for f in sys.argv[1:]]' n-*");
        List<String> out = new ArrayList<>();
        try (var s = Files.list(m)) {
            for (Path p : s.sorted().toList()) {
                out.add(p.getFileName() + " " + TestMounts.sh("stat", "-c", "%a %u:%g %s", p.toString()).trim());
            }
        }
        return out;
    }

    @Test void privilegesGoAsOnTheKernelOverlay() throws Exception {
        assertTrue(server.negotiated().has(FuseInit.HANDLE_KILLPRIV_V2), "negotiated");
        List<String> kernel = scenario(kmnt);
        List<String> ours = scenario(mnt);
        assertEquals(String.join("\n", kernel), String.join("\n", ours));
        assertTrue(kernel.contains("w-suid-own 755 1000:1000 10"), "the scenario did clear bits: " + kernel);
        assertTrue(kernel.contains("w-sgid-nox-member 2765 1000:1000 10"), "and kept some: " + kernel);
        // and the upper layer holds what the mount shows
        assertEquals("755", TestMounts.sh("stat", "-c", "%a", dir.resolve("u1/w-suid-own").toString()).trim());
    }

    @Test void writesAfterTheFirstNeedNoCapabilityLookup() throws Exception {
        Path f = mnt.resolve("w-plain");
        TestMounts.sh("sh", "-c", "echo first >> " + f);           // the copy-up, and the inode's first write
        long before = server.requests(FuseOpcode.GETXATTR);
        TestMounts.sh("sh", "-c", "for i in $(seq 1 50); do echo $i >> " + f + "; done");
        long asked = server.requests(FuseOpcode.GETXATTR) - before;
        assertTrue(asked <= 1, "security.capability asked " + asked + " times for 50 writes to one file");
        // the kernel asks before a write whether it reaches us or goes through a backing file (passthrough)
        List<String> lines = Files.readAllLines(f);
        assertEquals(List.of("first", "1", "50"), List.of(lines.get(lines.size() - 51), lines.get(lines.size() - 50),
                lines.getLast()));
    }
}
