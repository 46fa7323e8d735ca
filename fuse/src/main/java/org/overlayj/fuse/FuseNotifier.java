package org.overlayj.fuse;

/**
 * Messages a filesystem sends the kernel unasked (FUSE_NOTIFY_*): what changed behind the kernel's caches, so that
 * names and attributes can be cached for long. A nodeid or name the kernel no longer caches is not an error.
 */
public interface FuseNotifier {
    /**
     * FUSE_NOTIFY_INVAL_INODE: the kernel drops the cached attributes of {@code nodeid}; with {@code off >= 0} also
     * its cached pages from {@code off} on ({@code len <= 0}: to the end), which for a directory is its cached
     * listing. Takes no inode lock in the kernel, so a request handler may send it before its reply.
     */
    void invalInode(long nodeid, long off, long len);

    /**
     * FUSE_NOTIFY_INVAL_ENTRY: the kernel drops the cached name {@code name} in directory {@code parent} (and the
     * parent's attributes). The kernel takes the parent's inode lock for it, which it may hold for the very request
     * that found the change: the message is sent from another thread and may arrive after the reply.
     */
    void invalEntryLater(long parent, String name);

    /** Sends nothing: for a filesystem used with no kernel behind it (tests). */
    FuseNotifier NONE = new FuseNotifier() {
        @Override public void invalInode(long nodeid, long off, long len) {}

        @Override public void invalEntryLater(long parent, String name) {}
    };
}
