package org.overlayj.fuse;

/**
 * A lookup answer (struct fuse_entry_out): the nodeid the kernel will use for the inode from now on, its
 * generation, and how long the kernel may cache the name and the attributes (nanoseconds).
 * Every entry sent to the kernel counts as one lookup the filesystem must keep until FORGET.
 */
public record FuseEntry(long nodeid, long generation, long entryValidNanos, long attrValidNanos, FuseAttr attr) {}
