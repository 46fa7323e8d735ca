package org.overlayj.nfs.exports;

import org.overlayj.core.Creds;

/**
 * The options of one client spec of an export (exports(5)): ro/rw, squash, anonuid/anongid, secure/insecure.
 * Options the door has no use for (sync, no_subtree_check, ...) are accepted by the parser and not kept.
 */
public record ExportOptions(boolean readOnly, Squash squash, int anonUid, int anonGid, boolean secure) {
    /** nfs-utils' nobody. */
    public static final int NOBODY = 65534;

    /** exports(5) defaults: ro, root_squash, secure, anon 65534. */
    public static final ExportOptions DEFAULTS = new ExportOptions(true, Squash.ROOT, NOBODY, NOBODY, true);

    /** The caller as the engine must see it after this export's squash rule. */
    public Creds squash(int uid, int gid, int[] groups) {
        return switch (squash) {
            case NONE -> new Creds(uid, gid, groups);
            case ALL -> new Creds(anonUid, anonGid, new int[0]);
            case ROOT -> {
                int[] g = groups == null ? new int[0] : groups.clone();
                for (int i = 0; i < g.length; i++) if (g[i] == 0) g[i] = anonGid;
                yield new Creds(uid == 0 ? anonUid : uid, gid == 0 ? anonGid : gid, g);
            }
        };
    }
}
