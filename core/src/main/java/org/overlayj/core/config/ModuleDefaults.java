package org.overlayj.core.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

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

    private static final Path PARAMS = Path.of("/sys/module/overlay/parameters");

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

    private static boolean read(String name, boolean fallback) {
        try {
            String v = Files.readString(PARAMS.resolve(name)).trim();
            return v.equals("Y") || v.equals("1");
        } catch (IOException | SecurityException e) {
            return fallback;
        }
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
