package org.overlayj.core.config;

import java.util.ArrayList;
import java.util.List;

/**
 * The overlay mount options, after parsing (kernel syntax, format doc §1.1–1.2) and after the kernel's defaults
 * and conflict rules were applied. Paths are byte strings (see org.overlayj.sys.Linux), absolute and unescaped.
 *
 * @param lowerDirs   lower layers, top first (lowerdir= left to right)
 * @param upperDir    null for a read-only overlay
 * @param workDir     null when there is no upper
 * @param explicit    which options the user gave explicitly (kernel conflict rules depend on it), in the order
 *                    they were first given; layer options appear as "lowerdir", "upperdir", "workdir"
 * @param fsync       fsync= mode; {@code volatileMode} is {@code fsync == VOLATILE}
 * @param defaultPermissions  the overlay does its own permission checks (default_permissions)
 * @param overrideCreds       layer access under the mounter's credentials (the kernel default; nooverride_creds)
 * @param given       the layer names exactly as the user wrote them (escapes kept, relative paths kept): the
 *                    kernel quotes these, not the resolved paths, in its messages
 * @param dataDirs    data-only lower layers (after "::" in lowerdir=, format doc §1.6), in order
 */
public record OverlayOptions(List<String> lowerDirs, String upperDir, String workDir,
                             RedirectDir redirectDir, boolean index, boolean nfsExport, Uuid uuid, Xino xino,
                             boolean metacopy, boolean userxattr, boolean volatileMode,
                             List<String> explicit,
                             Fsync fsync, boolean defaultPermissions, boolean overrideCreds, GivenNames given,
                             List<String> dataDirs) {

    public enum RedirectDir { ON, FOLLOW, NOFOLLOW, OFF }
    public enum Uuid { ON, AUTO, NULL, OFF }
    public enum Xino { ON, AUTO, OFF }
    public enum Fsync { AUTO, STRICT, VOLATILE }

    /** Layer names as given on the command line, for messages. */
    public record GivenNames(List<String> lowerDirs, String upperDir, String workDir, List<String> dataDirs) {
        public GivenNames {
            lowerDirs = List.copyOf(lowerDirs);
            dataDirs = dataDirs == null ? List.of() : List.copyOf(dataDirs);
        }

        public GivenNames(List<String> lowerDirs, String upperDir, String workDir) {
            this(lowerDirs, upperDir, workDir, List.of());
        }
    }

    public OverlayOptions {
        lowerDirs = List.copyOf(lowerDirs);
        explicit = List.copyOf(explicit);
        if (fsync == null) fsync = volatileMode ? Fsync.VOLATILE : Fsync.AUTO;
        // volatileMode is kept as a component for the engine; fsync is the authority when they disagree
        volatileMode = fsync == Fsync.VOLATILE;
        dataDirs = dataDirs == null ? List.of() : List.copyOf(dataDirs);
        if (given == null) given = new GivenNames(lowerDirs, upperDir, workDir, dataDirs);
    }

    /** All but the data-only layers. */
    public OverlayOptions(List<String> lowerDirs, String upperDir, String workDir,
                          RedirectDir redirectDir, boolean index, boolean nfsExport, Uuid uuid, Xino xino,
                          boolean metacopy, boolean userxattr, boolean volatileMode,
                          List<String> explicit,
                          Fsync fsync, boolean defaultPermissions, boolean overrideCreds, GivenNames given) {
        this(lowerDirs, upperDir, workDir, redirectDir, index, nfsExport, uuid, xino, metacopy, userxattr,
                volatileMode, explicit, fsync, defaultPermissions, overrideCreds, given, List.of());
    }

    /** The original twelve-component form; the rest at their defaults. */
    public OverlayOptions(List<String> lowerDirs, String upperDir, String workDir,
                          RedirectDir redirectDir, boolean index, boolean nfsExport, Uuid uuid, Xino xino,
                          boolean metacopy, boolean userxattr, boolean volatileMode,
                          List<String> explicit) {
        this(lowerDirs, upperDir, workDir, redirectDir, index, nfsExport, uuid, xino, metacopy, userxattr,
                volatileMode, explicit, volatileMode ? Fsync.VOLATILE : Fsync.AUTO, false, true, null, List.of());
    }

    public boolean hasUpper() { return upperDir != null; }

    /** Redirects are created on directory rename. */
    public boolean redirectCreate() { return redirectDir == RedirectDir.ON; }

    /** Redirects met during lookup are followed. */
    public boolean redirectFollow() { return redirectDir == RedirectDir.ON || redirectDir == RedirectDir.FOLLOW; }

    /** The xattr prefix of this overlay: "trusted.overlay." or, with userxattr, "user.overlay.". */
    public String xattrPrefix() { return userxattr ? "user.overlay." : "trusted.overlay."; }

    /** The overlay has a persistent uuid/fsid of its own (uuid=on or auto): the kernel's ovl_has_fsid. */
    public boolean hasFsid() { return uuid == Uuid.ON || uuid == Uuid.AUTO; }

    /** Real filesystem UUIDs go into fh blobs (all but uuid=off): the kernel's ovl_origin_uuid. */
    public boolean originUuid() { return uuid != Uuid.OFF; }

    /**
     * None of the features that forbid offline changes to lower layers is on (index, metacopy, redirect_dir=on,
     * xino=on): the kernel's ovl_allow_offline_changes.
     */
    public boolean allowOfflineChanges() {
        return !index && !metacopy && redirectDir != RedirectDir.ON && xino != Xino.ON;
    }

    /** The user gave this option explicitly (key as written, e.g. "index", "redirect_dir"). */
    public boolean isExplicit(String key) { return explicit.contains(key); }

    /** A copy with index and nfs_export turned off, as the kernel does when their requirements are missing. */
    /** The same options over other lower directories (the same layers reached another way). */
    public OverlayOptions withLowerDirs(List<String> lowers) {
        return new OverlayOptions(List.copyOf(lowers), upperDir, workDir, redirectDir, index, nfsExport, uuid, xino,
                metacopy, userxattr, volatileMode, explicit, fsync, defaultPermissions, overrideCreds, given, dataDirs);
    }

    public OverlayOptions withoutIndex() {
        return new OverlayOptions(lowerDirs, upperDir, workDir, redirectDir, false, false, uuid, xino, metacopy,
                userxattr, volatileMode, explicit, fsync, defaultPermissions, overrideCreds, given, dataDirs);
    }

    /** A copy with changed features; for the downgrades the mount-time checks make. */
    public OverlayOptions with(RedirectDir redirectDir, boolean index, boolean nfsExport, Uuid uuid, Xino xino,
                               boolean metacopy) {
        return new OverlayOptions(lowerDirs, upperDir, workDir, redirectDir, index, nfsExport, uuid, xino, metacopy,
                userxattr, volatileMode, explicit, fsync, defaultPermissions, overrideCreds, given, dataDirs);
    }

    /**
     * The options as the kernel shows them in /proc/mounts (ovl_show_options): layers, then every feature that
     * differs from the module default. Paths are shown as given.
     */
    public String show(ModuleDefaults defaults, boolean samefs) {
        List<String> out = new ArrayList<>();
        if (!given.lowerDirs().isEmpty()) {
            StringBuilder l = new StringBuilder("lowerdir=").append(String.join(":", given.lowerDirs()));
            for (String d : given.dataDirs()) l.append("::").append(d);
            out.add(l.toString());
        }
        if (upperDir != null) {
            out.add("upperdir=" + given.upperDir());
            out.add("workdir=" + given.workDir());
        }
        if (defaultPermissions) out.add("default_permissions");
        if (redirectDir != defaults.redirectDefault()) out.add("redirect_dir=" + name(redirectDir));
        if (index != defaults.index()) out.add("index=" + onOff(index));
        if (uuid != Uuid.AUTO) out.add("uuid=" + name(uuid));
        if (nfsExport != defaults.nfsExport()) out.add("nfs_export=" + onOff(nfsExport));
        if (xino != defaults.xinoDefault() && !samefs) out.add("xino=" + name(xino));
        if (metacopy != defaults.metacopy()) out.add("metacopy=" + onOff(metacopy));
        if (fsync != Fsync.AUTO) out.add("fsync=" + name(fsync));
        if (userxattr) out.add("userxattr");
        return String.join(",", out);
    }

    private static String onOff(boolean b) { return b ? "on" : "off"; }

    private static String name(Enum<?> e) { return e.name().toLowerCase(java.util.Locale.ROOT); }

    /** Simple options for tests: layers and index/nfs_export, everything else at the kernel default. */
    public static OverlayOptions of(List<String> lowerDirs, String upperDir, String workDir) {
        return new OverlayOptions(lowerDirs, upperDir, workDir, RedirectDir.NOFOLLOW, false, false, Uuid.AUTO,
                Xino.OFF, false, false, false, List.of());
    }
}
