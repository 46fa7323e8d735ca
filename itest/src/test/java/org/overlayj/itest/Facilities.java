package org.overlayj.itest;

import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the differential tests need; missing facilities fail the test (never skip it). */
final class Facilities {
    private Facilities() {}

    static void requireRootAndKernelOverlay() throws IOException {
        assertEquals(0, Linux.geteuid(), "the differential harness needs root (kernel overlay mounts, trusted.* xattrs)");
        boolean overlay = Files.readString(Path.of("/proc/filesystems")).lines().anyMatch(l -> l.endsWith("\toverlay"));
        if (!overlay) {
            // the module may just not be loaded yet
            try {
                new ProcessBuilder("modprobe", "overlay").start().waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            overlay = Files.readString(Path.of("/proc/filesystems")).lines().anyMatch(l -> l.endsWith("\toverlay"));
        }
        assertTrue(overlay, "the kernel overlay filesystem is not available");
        // Modes in the scripts are absolute; the kernel applies the umask to creates, the engine gets it from doors.
        Linux.umask(0);
    }

    static void requireFuse() {
        assertTrue(Files.exists(Path.of("/dev/fuse")), "/dev/fuse is missing");
    }
}
