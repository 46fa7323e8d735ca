package org.overlayj.fuse;

/**
 * A lookup answer (struct fuse_entry_out): the nodeid the kernel will use for the inode from now on, its
 * generation, and how long the kernel may cache the name and the attributes (nanoseconds).
 * Every entry sent to the kernel counts as one lookup the filesystem must keep until FORGET.
 */
public record FuseEntry(long nodeid, long generation, long entryValidNanos, long attrValidNanos, FuseAttr attr) {
    private static final FuseAttr NO_ATTR = new FuseAttr(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /**
     * A LOOKUP answer for a name that does not exist, which the kernel may remember for {@code entryValidNanos}
     * (nodeid 0; an ENOENT error instead would be forgotten at once). No lookup is counted for it.
     */
    public static FuseEntry negative(long entryValidNanos) {
        return new FuseEntry(0, 0, entryValidNanos, 0, NO_ATTR);
    }
}
