package org.overlayj.core.layer;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

/**
 * Ownership and mode kept in an xattr instead of the inode, as rootless storage on filesystems that cannot hold
 * other owners keeps them (containers/storage's {@code force_mask}, fuse-overlayfs's {@code xattr_permissions}):
 * {@code user.containers.override_stat} or the older {@code user.fuseoverlayfs.override_stat}, value
 * {@code UID:GID:MODE} (MODE in octal; the file type stays the inode's). As in fuse-overlayfs, a layer uses them
 * when its root directory carries one of them, and then every object of that layer that carries it shows its values.
 *
 * @param xattr the name this layer's objects carry, or null: the layer has no overrides
 */
public record OverrideStat(String xattr) {
    public static final String CONTAINERS = "user.containers.override_stat";
    public static final String FUSE_OVERLAYFS = "user.fuseoverlayfs.override_stat";
    public static final OverrideStat NONE = new OverrideStat(null);

    /** The owner and permission bits an object shows. */
    public record Values(int uid, int gid, int mode) {}

    /** What a layer whose root is {@code root} uses (containers/storage's name first, as fuse-overlayfs checks). */
    public static OverrideStat ofLayer(String root) {
        for (String x : new String[]{CONTAINERS, FUSE_OVERLAYFS}) {
            try {
                if (Linux.lgetxattrOrNull(root, x) != null) return new OverrideStat(x);
            } catch (ErrnoException e) {
                // unreadable: no overrides
            }
        }
        return NONE;
    }

    /** The values on one object of the layer, or null (none, or not of the form UID:GID:MODE). */
    public Values of(String path) throws ErrnoException {
        if (xattr == null) return null;
        return of(Linux.lgetxattrOrNull(path, xattr));
    }

    /** The values in {@code value}, this layer's xattr as read from an object (null: it has none). */
    public Values of(byte[] value) {
        return value == null ? null : parse(new String(value, java.nio.charset.StandardCharsets.ISO_8859_1));
    }

    static Values parse(String s) {
        String[] f = s.trim().split(":");
        if (f.length != 3) return null;
        try {
            long uid = Long.parseLong(f[0]), gid = Long.parseLong(f[1]);
            int mode = Integer.parseInt(f[2], 8);
            if (uid < 0 || gid < 0 || uid > 0xffff_ffffL || gid > 0xffff_ffffL) return null;
            return new Values((int) uid, (int) gid, mode & 07777);
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
