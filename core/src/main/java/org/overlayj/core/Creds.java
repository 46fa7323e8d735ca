package org.overlayj.core;

import java.util.Arrays;

/**
 * Who asks: the caller's fsuid, fsgid and supplementary groups, as a door received them, and the umask its
 * creations are made with: 0 when the door already applied it; otherwise the engine applies it unless the
 * directory has a default ACL, which replaces the umask (a FUSE door with POSIX_ACL gets unmasked modes).
 */
public record Creds(int uid, int gid, int[] groups, int umask) {
    public static final Creds ROOT = new Creds(0, 0, new int[0]);

    public Creds {
        groups = groups == null ? new int[0] : groups.clone();
        umask &= 0777;
    }

    public Creds(int uid, int gid, int[] groups) {
        this(uid, gid, groups, 0);
    }

    /** The same caller creating with {@code umask}. */
    public Creds withUmask(int umask) {
        return new Creds(uid, gid, groups, umask);
    }

    @Override public int[] groups() { return groups.clone(); }

    public boolean isRoot() { return uid == 0; }

    public boolean inGroup(int g) {
        if (g == gid) return true;
        for (int x : groups) if (x == g) return true;
        return false;
    }

    @Override public boolean equals(Object o) {
        return o instanceof Creds c && c.uid == uid && c.gid == gid && Arrays.equals(c.groups, groups) && c.umask == umask;
    }

    @Override public int hashCode() { return uid * 31 + gid; }

    @Override public String toString() { return "Creds[uid=" + uid + ", gid=" + gid + ", groups=" + Arrays.toString(groups)
            + (umask != 0 ? ", umask=0" + Integer.toOctalString(umask) : "") + "]"; }
}
