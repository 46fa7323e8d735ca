package org.overlayj.core.config;

import java.util.List;

/**
 * The overlay mount options, after parsing (kernel syntax, format doc §1.1–1.2) and after the kernel's defaults
 * and conflict rules were applied. Paths are byte strings (see org.overlayj.sys.Linux), absolute and unescaped.
 *
 * @param lowerDirs   lower layers, top first (lowerdir= left to right)
 * @param upperDir    null for a read-only overlay
 * @param workDir     null when there is no upper
 * @param explicit    which options the user gave explicitly (kernel conflict rules depend on it)
 */
public record OverlayOptions(List<String> lowerDirs, String upperDir, String workDir,
                             RedirectDir redirectDir, boolean index, boolean nfsExport, Uuid uuid, Xino xino,
                             boolean metacopy, boolean userxattr, boolean volatileMode,
                             List<String> explicit) {

    public enum RedirectDir { ON, FOLLOW, NOFOLLOW, OFF }
    public enum Uuid { ON, AUTO, NULL, OFF }
    public enum Xino { ON, AUTO, OFF }

    public OverlayOptions {
        lowerDirs = List.copyOf(lowerDirs);
        explicit = List.copyOf(explicit);
    }

    public boolean hasUpper() { return upperDir != null; }

    /** Redirects are created on directory rename. */
    public boolean redirectCreate() { return redirectDir == RedirectDir.ON; }

    /** Redirects met during lookup are followed. */
    public boolean redirectFollow() { return redirectDir == RedirectDir.ON || redirectDir == RedirectDir.FOLLOW; }

    /** The xattr prefix of this overlay: "trusted.overlay." or, with userxattr, "user.overlay.". */
    public String xattrPrefix() { return userxattr ? "user.overlay." : "trusted.overlay."; }

    /** A copy with index and nfs_export turned off, as the kernel does when their requirements are missing. */
    public OverlayOptions withoutIndex() {
        return new OverlayOptions(lowerDirs, upperDir, workDir, redirectDir, false, false, uuid, xino, metacopy,
                userxattr, volatileMode, explicit);
    }

    /** Simple options for tests: layers and index/nfs_export, everything else at the kernel default. */
    public static OverlayOptions of(List<String> lowerDirs, String upperDir, String workDir) {
        return new OverlayOptions(lowerDirs, upperDir, workDir, RedirectDir.NOFOLLOW, false, false, Uuid.AUTO,
                Xino.OFF, false, false, false, List.of());
    }
}
