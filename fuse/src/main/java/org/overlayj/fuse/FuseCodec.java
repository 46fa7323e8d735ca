package org.overlayj.fuse;

import java.nio.ByteBuffer;

/** Encoders for the structs shared by several replies. Little-endian buffers, positioned at the write point. */
final class FuseCodec {
    private FuseCodec() {}

    static final int ATTR_SIZE = 88, ENTRY_OUT_SIZE = 40 + ATTR_SIZE, ATTR_OUT_SIZE = 16 + ATTR_SIZE,
            OPEN_OUT_SIZE = 16, STATFS_OUT_SIZE = 80;
    /** Notify codes (enum fuse_notify_code): a notification is an out header with unique 0 and the code as error. */
    static final int NOTIFY_INVAL_INODE = 2, NOTIFY_INVAL_ENTRY = 3;

    /** The kernel's 32-bit dev encoding (new_encode_dev): minor low byte, major, then the minor's upper bits. */
    static int encodeDev(long dev) {
        int major = (int) (((dev >>> 32) & 0xfffff000L) | ((dev >>> 8) & 0xfffL));
        int minor = (int) (((dev >>> 12) & 0xffffff00L) | (dev & 0xffL));
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
    }

    /** The inverse of {@link #encodeDev}: a glibc dev_t from the kernel's 32-bit encoding. */
    static long decodeDev(int enc) {
        long major = (enc & 0xfff00L) >>> 8;
        long minor = (enc & 0xffL) | ((enc >>> 12) & 0xfff00L);
        return ((major & 0xfffff000L) << 32) | ((major & 0xfffL) << 8)
                | ((minor & 0xffffff00L) << 12) | (minor & 0xffL);
    }

    static void putAttr(ByteBuffer b, FuseAttr a) {
        b.putLong(a.ino()).putLong(a.size()).putLong(a.blocks())
                .putLong(a.atime()).putLong(a.mtime()).putLong(a.ctime())
                .putInt(a.atimeNsec()).putInt(a.mtimeNsec()).putInt(a.ctimeNsec())
                .putInt(a.mode()).putInt(a.nlink()).putInt(a.uid()).putInt(a.gid())
                .putInt(encodeDev(a.rdev())).putInt(a.blksize()).putInt(0);
    }

    /** fuse_entry_out; a null entry is all zeros (nodeid 0: "no inode for this name"). */
    static void putEntry(ByteBuffer b, FuseEntry e) {
        if (e == null) {
            for (int i = 0; i < ENTRY_OUT_SIZE; i++) b.put((byte) 0);
            return;
        }
        b.putLong(e.nodeid()).putLong(e.generation())
                .putLong(e.entryValidNanos() / 1_000_000_000L).putLong(e.attrValidNanos() / 1_000_000_000L)
                .putInt((int) (e.entryValidNanos() % 1_000_000_000L))
                .putInt((int) (e.attrValidNanos() % 1_000_000_000L));
        putAttr(b, e.attr());
    }

    static void putAttrOut(ByteBuffer b, FuseAttr a, long validNanos) {
        b.putLong(validNanos / 1_000_000_000L).putInt((int) (validNanos % 1_000_000_000L)).putInt(0);
        putAttr(b, a);
    }

    static void putOpen(ByteBuffer b, FuseOpen o) {
        b.putLong(o.fh()).putInt(o.openFlags()).putInt(o.backingId());
    }

    /** FUSE_NOTIFY_INVAL_INODE: out header + struct fuse_notify_inval_inode_out {u64 ino; s64 off; s64 len}. */
    static byte[] invalInode(long nodeid, long off, long len) {
        ByteBuffer b = notification(NOTIFY_INVAL_INODE, 24);
        b.putLong(nodeid).putLong(off).putLong(len);
        return b.array();
    }

    /**
     * FUSE_NOTIFY_INVAL_ENTRY: out header + struct fuse_notify_inval_entry_out {u64 parent; u32 namelen; u32 flags}
     * + the name and its NUL (the kernel insists on the NUL being there).
     */
    static byte[] invalEntry(long parent, String name) {
        ByteBuffer b = notification(NOTIFY_INVAL_ENTRY, 16 + name.length() + 1);
        b.putLong(parent).putInt(name.length()).putInt(0);
        for (int i = 0; i < name.length(); i++) b.put((byte) name.charAt(i));
        b.put((byte) 0);
        return b.array();
    }

    private static ByteBuffer notification(int code, int body) {
        ByteBuffer b = ByteBuffer.allocate(FuseDispatcher.OUT_HEADER + body).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(FuseDispatcher.OUT_HEADER + body).putInt(code).putLong(0);
        return b;
    }

    static void putStatFs(ByteBuffer b, FuseStatFs s) {
        b.putLong(s.blocks()).putLong(s.bfree()).putLong(s.bavail()).putLong(s.files()).putLong(s.ffree())
                .putInt(s.bsize()).putInt(s.namelen()).putInt(s.frsize()).putInt(0);
        for (int i = 0; i < 6; i++) b.putInt(0);
    }
}
