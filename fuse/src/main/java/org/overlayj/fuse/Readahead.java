package org.overlayj.fuse;

import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The readahead window of a FUSE mount: the kernel's page cache reads ahead of a sequential reader by this much,
 * in READ requests of up to max_pages each.
 *
 * <p>INIT cannot raise it: the kernel offers its default (128 KiB) as max_readahead and keeps the smaller of that
 * and our answer. So a 1 MiB read(2) came as eight 128 KiB READs, each a round trip through the request loop.
 * The window is a setting of the mount's own backing device (/sys/class/bdi/MAJOR:MINOR, named after the mount's
 * anonymous device number), which root may raise after INIT; files opened from then on read ahead that far.
 */
final class Readahead {
    private Readahead() {}

    /** The sysfs file of the readahead window of the filesystem whose device number is {@code dev}. */
    static Path knob(long dev) {
        return Path.of("/sys/class/bdi", Linux.major(dev) + ":" + Linux.minor(dev), "read_ahead_kb");
    }

    /**
     * Sets the window of the filesystem mounted at {@code mountpoint} (which must be initialized: the stat waits
     * for INIT otherwise) to {@code kib} KiB. Returns false when it could not (not root, no sysfs): reads then
     * keep the kernel's default window, which is slower but no less correct.
     */
    static boolean set(String mountpoint, int kib) {
        try {
            Stat st = Linux.stat(mountpoint);
            Files.writeString(knob(st.dev()), Integer.toString(kib));
            return true;
        } catch (IOException | SecurityException e) {
            return false;
        }
    }

    /** The window of the filesystem mounted at {@code mountpoint} in KiB, or -1 if it cannot be read. */
    static int get(String mountpoint) {
        try {
            return Integer.parseInt(Files.readString(knob(Linux.stat(mountpoint).dev())).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }
}
