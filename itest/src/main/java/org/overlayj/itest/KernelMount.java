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
        String mnt = mountOnly(layers, cfg, mountPoint);
        return new MountedTarget(name, layers, mountPoint, () -> unmount(mnt), was -> {
            was.run();
            mountOnly(layers, cfg, mountPoint);
            return () -> unmount(mnt);
        });
    }

    private static String mountOnly(LayerSet layers, MountConfig cfg, Path mountPoint) throws IOException {
        Files.createDirectories(mountPoint);
        String mnt = Linux.fromUtf8(mountPoint.toString());
        // EBUSY: the kernel's exclusive use of upper and work (index=on) is still held by an earlier mount of the
        // same layers that had to be detached lazily and is not gone yet (seen 3 times in 2,000 sequences on a
        // loaded machine). That is the oracle's bookkeeping, not an answer to compare: wait for it, a while.
        // Up to a minute: under a load of 10 on 2 cores, 10 s was not always enough (CI run of the merged helpers).
        for (int attempt = 1; ; attempt++) {
            try {
                Linux.mount("overlay", mnt, "overlay", 0, cfg.kernelOptions(layers));
                break;
            } catch (ErrnoException e) {
                if (e.errno() != org.overlayj.sys.Errno.EBUSY || attempt == 300) {
                    throw new IOException("kernel overlay mount failed (" + cfg.kernelOptions(layers) + "): "
                            + e.getMessage() + (attempt > 1 ? " after " + attempt + " attempts" : ""), e);
                }
                pause(200);
            }
        }
        return mnt;
    }

    /**
     * umount; while it is busy (a file of the mount still being released) try again for a few seconds, and only
     * then fall back to a lazy detach, so a test never leaves a mount behind.
     */
    static void unmount(String mnt) {
        for (int attempt = 1; ; attempt++) {
            try {
                Linux.umount(mnt, 0);
                return;
            } catch (ErrnoException e) {
                if (e.errno() == org.overlayj.sys.Errno.EBUSY && attempt < 25) {
                    pause(200);
                    continue;
                }
                try {
                    Linux.umount(mnt, Linux.MNT_DETACH);
                } catch (ErrnoException ignored) {
                    // not mounted any more
                }
                return;
            }
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
