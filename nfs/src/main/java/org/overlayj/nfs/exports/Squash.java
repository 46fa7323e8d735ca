package org.overlayj.nfs.exports;

/** exports(5) user mapping: which callers become the anonymous uid/gid. */
public enum Squash {
    /** no_root_squash: every uid passes as sent. */
    NONE,
    /** root_squash (the default): uid 0 and gid 0 become anonuid/anongid. */
    ROOT,
    /** all_squash: every caller becomes anonuid/anongid. */
    ALL
}
