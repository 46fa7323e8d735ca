package org.overlayj.core.config;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import org.overlayj.core.config.OverlayOptions.RedirectDir;
import org.overlayj.core.config.OverlayOptions.Xino;

/**
 * The overlay module parameters that set option defaults (/sys/module/overlay/parameters). Options the user does
 * not give take these values, exactly as the kernel's mount does, so a mount string means the same to overlayj
 * and to the kernel of the machine it runs on.
 */
public record ModuleDefaults(boolean redirectDir, boolean redirectAlwaysFollow, boolean index, boolean nfsExport,
                             boolean metacopy, boolean xinoAuto) {

    /** The parameters of the kernel overlayj is developed against (6.18, distribution config). */
    public static final ModuleDefaults BUILTIN = new ModuleDefaults(false, true, false, false, false, false);

    private static final String PARAMS = "/sys/module/overlay/parameters";

    /**
     * The parameters of the running kernel's overlay module, or {@link #BUILTIN} where one cannot be read (module
     * not loaded, no sysfs).
     */
    public static ModuleDefaults current() {
        ModuleDefaults b = BUILTIN;
        return new ModuleDefaults(read("redirect_dir", b.redirectDir), read("redirect_always_follow",
                b.redirectAlwaysFollow), read("index", b.index), read("nfs_export", b.nfsExport),
                read("metacopy", b.metacopy), read("xino_auto", b.xinoAuto));
    }

    /**
     * Read at every mount, as the kernel does (a parameter may be changed at any time), through the native calls:
     * Files.readString took five system calls and a decoder per parameter, and a resident server reads them for
     * every mount it makes.
     */
    private static boolean read(String name, boolean fallback) {
        byte[] b = new byte[8];
        int n;
        try {
            int fd = Linux.open(PARAMS + "/" + name, Linux.O_RDONLY | Linux.O_CLOEXEC, 0);
            try {
                n = Linux.pread(fd, b, 0, b.length, 0);
            } finally {
                Linux.closeQuietly(fd);
            }
        } catch (ErrnoException | RuntimeException e) {
            return fallback;
        }
        return n > 0 && (b[0] == 'Y' || b[0] == '1') && (n == 1 || b[1] == '\n');
    }

    /** redirect_dir when not given: on if the module says so, else follow or nofollow per redirect_always_follow. */
    public RedirectDir redirectDefault() {
        return redirectDir ? RedirectDir.ON : redirectOff();
    }

    /** What "redirect_dir=off" means: follow when redirect_always_follow is set, else nofollow. */
    public RedirectDir redirectOff() {
        return redirectAlwaysFollow ? RedirectDir.FOLLOW : RedirectDir.NOFOLLOW;
    }

    public Xino xinoDefault() {
        return xinoAuto ? Xino.AUTO : Xino.OFF;
    }
}
