package org.overlayj.itest;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The oracle: the kernel's {@code mount -t overlay} over a layer copy. */
public final class KernelMount {
    private KernelMount() {}

    public static MountedTarget mount(String name, LayerSet layers, MountConfig cfg, Path mountPoint) throws IOException {
        Files.createDirectories(mountPoint);
        String mnt = Linux.fromUtf8(mountPoint.toString());
        try {
            Linux.mount("overlay", mnt, "overlay", 0, cfg.kernelOptions(layers));
        } catch (ErrnoException e) {
            throw new IOException("kernel overlay mount failed (" + cfg.kernelOptions(layers) + "): " + e.getMessage(), e);
        }
        return new MountedTarget(name, layers, mountPoint, () -> unmount(mnt));
    }

    /** umount, falling back to a lazy detach so a test never leaves a mount behind. */
    static void unmount(String mnt) {
        try {
            Linux.umount(mnt, 0);
        } catch (ErrnoException e) {
            try {
                Linux.umount(mnt, Linux.MNT_DETACH);
            } catch (ErrnoException ignored) {
                // not mounted any more
            }
        }
    }
}
