package org.overlayj.core;

import java.util.Arrays;

/** Who asks: the caller's fsuid, fsgid and supplementary groups, as a door received them. */
public record Creds(int uid, int gid, int[] groups) {
    public static final Creds ROOT = new Creds(0, 0, new int[0]);

    public Creds {
        groups = groups == null ? new int[0] : groups.clone();
    }

    @Override public int[] groups() { return groups.clone(); }

    public boolean isRoot() { return uid == 0; }

    public boolean inGroup(int g) {
        if (g == gid) return true;
        for (int x : groups) if (x == g) return true;
        return false;
    }

    @Override public boolean equals(Object o) {
        return o instanceof Creds c && c.uid == uid && c.gid == gid && Arrays.equals(c.groups, groups);
    }

    @Override public int hashCode() { return uid * 31 + gid; }

    @Override public String toString() { return "Creds[uid=" + uid + ", gid=" + gid + ", groups=" + Arrays.toString(groups) + "]"; }
}
