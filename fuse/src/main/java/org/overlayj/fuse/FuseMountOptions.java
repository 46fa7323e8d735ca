package org.overlayj.fuse;

/**
 * How the FUSE mount itself is made (not what the filesystem behind it is).
 *
 * @param fsname             the mount source shown in /proc/mounts
 * @param subtype            the type shown as "fuse.SUBTYPE"
 * @param allowOther         let users other than the mounter in (root mounts only)
 * @param defaultPermissions the kernel checks mode bits itself, as for a kernel filesystem
 * @param msFlags            mount(2) flags: MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME …
 * @param threads            request loop threads
 * @param uring              take FUSE over io_uring when the kernel offers it (see {@link FuseUring}); false: always
 *                           the /dev/fuse loop
 */
public record FuseMountOptions(String fsname, String subtype, boolean allowOther, boolean defaultPermissions,
                               long msFlags, int threads, boolean uring) {
    /**
     * With io_uring as {@link #uringByDefault()} says.
     */
    public FuseMountOptions(String fsname, String subtype, boolean allowOther, boolean defaultPermissions,
                            long msFlags, int threads) {
        this(fsname, subtype, allowOther, defaultPermissions, msFlags, threads, uringByDefault());
    }

    /**
     * Whether a mount takes io_uring when offered unless its options say: yes, unless the environment variable
     * {@code OVERLAYJ_FUSE_URING} or the system property {@code overlayj.fuse.uring} is {@code off}.
     */
    public static boolean uringByDefault() {
        String v = System.getProperty("overlayj.fuse.uring", System.getenv("OVERLAYJ_FUSE_URING"));
        return !"off".equals(v);
    }

    public static FuseMountOptions defaults(String fsname) {
        return new FuseMountOptions(fsname, "overlayj", true, true, 0, 4);
    }

    public FuseMountOptions withFlags(long flags) {
        return new FuseMountOptions(fsname, subtype, allowOther, defaultPermissions, flags, threads, uring);
    }

    public FuseMountOptions withUring(boolean on) {
        return new FuseMountOptions(fsname, subtype, allowOther, defaultPermissions, msFlags, threads, on);
    }

    /** The fs type string for mount(2). */
    public String fsType() {
        return subtype == null || subtype.isEmpty() ? "fuse" : "fuse." + subtype;
    }

    /** The data string for mount(2): the kernel's fuse options. */
    public String data(int fd, int uid, int gid) {
        StringBuilder b = new StringBuilder();
        b.append("fd=").append(fd).append(",rootmode=40000,user_id=").append(uid).append(",group_id=").append(gid);
        if (defaultPermissions) b.append(",default_permissions");
        if (allowOther) b.append(",allow_other");
        return b.toString();
    }
}
