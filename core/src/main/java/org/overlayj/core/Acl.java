package org.overlayj.core;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A POSIX access ACL as the layers store it ({@code system.posix_acl_access}: a little-endian version 2 header,
 * then 8-byte entries {tag u16, perm u16, id u32}), and the check the VFS makes with it for a caller that is not
 * the owner. The kernel overlay checks the ACL of the real inode that supplies the attributes (upper, else the top
 * lower), so the engine reads it from there ({@link Permissions}).
 */
record Acl(short[] tags, short[] perms, int[] ids) {
    static final String ACCESS = "system.posix_acl_access", DEFAULT = "system.posix_acl_default";
    static final int USER_OBJ = 1, USER = 2, GROUP_OBJ = 4, GROUP = 8, MASK = 0x10, OTHER = 0x20;
    private static final int VERSION = 2;

    /** Where a check finds the ACL when it needs one: the raw xattr value, or null when there is none. */
    @FunctionalInterface interface Source {
        byte[] get() throws ErrnoException;

        Source NONE = () -> null;
    }

    /** Parses a raw value; a value the kernel would refuse (bad size, version or tag) is EIO, as a damaged layer. */
    static Acl parse(byte[] v) throws ErrnoException {
        if (v.length < 4 || (v.length - 4) % 8 != 0) throw bad("size " + v.length);
        ByteBuffer b = ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt() != VERSION) throw bad("version");
        int n = (v.length - 4) / 8;
        short[] tags = new short[n], perms = new short[n];
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            tags[i] = b.getShort();
            perms[i] = b.getShort();
            ids[i] = b.getInt();
            switch (tags[i]) {
                case USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER -> { }
                default -> throw bad("tag " + tags[i]);
            }
        }
        return new Acl(tags, perms, ids);
    }

    private static ErrnoException bad(String what) {
        return new ErrnoException(Errno.EIO, "invalid " + ACCESS + " (" + what + ")");
    }

    /**
     * Whether the ACL grants {@code want} (r=4, w=2, x=1) to {@code c} on an object owned by {@code owner}:
     * the first entry that names the caller decides (a named user through the mask); among the owning group and
     * named groups, any matching entry that grants it (through the mask) does, and matching one that does not
     * denies; otherwise "other" decides. The VFS order, entry by entry (the kernel's posix_acl_permission).
     */
    boolean permits(int owner, int group, Creds c, int want) {
        boolean found = false;
        for (int i = 0; i < tags.length; i++) {
            switch (tags[i]) {
                case USER_OBJ -> {
                    if (c.uid() == owner) return (perms[i] & want) == want;
                }
                case USER -> {
                    if (c.uid() == ids[i]) return masked(i, want);
                }
                case GROUP_OBJ, GROUP -> {
                    if (c.inGroup(tags[i] == GROUP_OBJ ? group : ids[i])) {
                        found = true;
                        if ((perms[i] & want) == want) return masked(i, want);
                    }
                }
                case OTHER -> {
                    return !found && (perms[i] & want) == want;
                }
                default -> { }
            }
        }
        return false;
    }

    /**
     * What an object made with {@code mode} gets from its directory's default ACL {@code dflt} (the kernel's
     * posix_acl_create): its mode, and its access ACL, null when that says no more than the mode does.
     */
    record Inherited(int mode, byte[] access) {}

    static Inherited inherit(byte[] dflt, int mode) throws ErrnoException {
        Acl a = parse(dflt);
        short[] perms = a.perms.clone();
        int m = mode & 0777;
        boolean notEquiv = false;
        int groupObj = -1, mask = -1;
        for (int i = 0; i < perms.length; i++) {
            switch (a.tags[i]) {
                case USER_OBJ -> {
                    perms[i] &= (short) (m >> 6);
                    m &= (perms[i] << 6) | ~0700;
                }
                case USER, GROUP -> notEquiv = true;
                case GROUP_OBJ -> groupObj = i;
                case OTHER -> {
                    perms[i] &= (short) m;
                    m &= perms[i] | ~07;
                }
                case MASK -> {
                    mask = i;
                    notEquiv = true;
                }
                default -> { }
            }
        }
        int g = mask >= 0 ? mask : groupObj;
        if (g < 0) throw bad("no group entry");
        perms[g] &= (short) ((m >> 3) & 7);
        m &= (perms[g] << 3) | ~070;
        int newMode = (mode & ~0777) | (m & 0777);
        if (!notEquiv) return new Inherited(newMode, null);
        ByteBuffer b = ByteBuffer.allocate(dflt.length).order(ByteOrder.LITTLE_ENDIAN).putInt(VERSION);
        for (int i = 0; i < perms.length; i++) b.putShort(a.tags[i]).putShort(perms[i]).putInt(a.ids[i]);
        return new Inherited(newMode, b.array());
    }

    /** Entry {@code i} through the mask entry after it, when there is one. */
    private boolean masked(int i, int want) {
        for (int j = i + 1; j < tags.length; j++) {
            if (tags[j] == MASK) return (perms[i] & perms[j] & want) == want;
        }
        return (perms[i] & want) == want;
    }
}
