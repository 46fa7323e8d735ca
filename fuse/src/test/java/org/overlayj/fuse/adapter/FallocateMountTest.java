package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * fallocate(1) on lower files through the FUSE door vs the kernel overlay (issue 21 item 11): preallocation, KEEP_SIZE,
 * PUNCH_HOLE and ZERO_RANGE work with copy-up; content, size and the upper copy's blocks are compared. (The FUSE
 * client itself refuses COLLAPSE_RANGE and INSERT_RANGE with EOPNOTSUPP; the engine does them, see FallocateTest.)
 */
class FallocateMountTest {
    private Path dir, mnt, kmnt;
    private Overlay overlay;
    private FuseServer server;
    static final List<String> CASES = List.of("alloc:-o 0 -l 1048576", "keep:-n -o 0 -l 1048576",
            "punch:-p -o 4096 -l 8192", "zero:-z -o 4096 -l 8192", "zerokeep:-z -n -o 60000 -l 20000");

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        Path lower = Files.createDirectory(dir.resolve("lower"));
        for (String d : List.of("u1", "w1", "u2", "w2", "mnt", "kmnt")) Files.createDirectory(dir.resolve(d));
        mnt = dir.resolve("mnt");
        kmnt = dir.resolve("kmnt");
        for (String c : CASES) {
            TestMounts.sh("sh", "-c", "seq 1 20000 | head -c 65536 > " + lower.resolve(c.substring(0, c.indexOf(':'))));
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

    private static String scenario(Path m, Path upper) throws Exception {
        StringBuilder script = new StringBuilder();
        for (String c : CASES) {
            String name = c.substring(0, c.indexOf(':'));
            script.append("r=$(fallocate ").append(c.substring(c.indexOf(':') + 1)).append(' ').append(m).append('/')
                    .append(name).append(" 2>&1 && echo ok); echo \"").append(name).append(": $r $(stat -c %s ")
                    .append(m).append('/').append(name).append(") $(md5sum < ").append(m).append('/').append(name)
                    .append(" | cut -c1-12) $(stat -c %b ").append(upper).append('/').append(name).append(")\"\n");
        }
        return TestMounts.sh("sh", "-c", script.toString());
    }

    @Test void modesAsOnTheKernelOverlay() throws Exception {
        String kernel = scenario(kmnt, dir.resolve("u2"));
        String ours = scenario(mnt, dir.resolve("u1"));
        assertEquals(kernel, ours);
        assertTrue(kernel.contains("punch: ok 65536"), kernel);
    }
}
