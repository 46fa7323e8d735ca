package org.overlayj.sys;

/**
 * struct fsxattr, the argument of FS_IOC_FSGETXATTR / FS_IOC_FSSETXATTR (xfs_io's chattr, {@code lsattr -p}): the
 * extended inode flags (FS_XFLAG_*), the extent size hints and the project id. 28 bytes: five u32 fields, then 8
 * bytes of padding that the kernel wants zero.
 */
public record Fsxattr(int xflags, int extsize, int nextents, int projid, int cowextsize) {
    public static final int SIZE = 28;

    public static final int FS_XFLAG_SYNC = 0x20, FS_XFLAG_IMMUTABLE = 0x08, FS_XFLAG_APPEND = 0x10,
            FS_XFLAG_NOATIME = 0x40, FS_XFLAG_NODUMP = 0x80;

    /** The struct as the kernel lays it out (native byte order); padding zero. */
    public byte[] bytes() {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(SIZE).order(java.nio.ByteOrder.nativeOrder());
        b.putInt(xflags).putInt(extsize).putInt(nextents).putInt(projid).putInt(cowextsize);
        return b.array();
    }

    /** Reads the struct from the first {@link #SIZE} bytes of {@code b}; EINVAL when it is shorter. */
    public static Fsxattr of(byte[] b) throws ErrnoException {
        if (b == null || b.length < SIZE) throw new ErrnoException(Errno.EINVAL, "fsxattr shorter than 28 bytes");
        java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.nativeOrder());
        return new Fsxattr(in.getInt(), in.getInt(), in.getInt(), in.getInt(), in.getInt());
    }

    public Fsxattr withXflags(int x) { return new Fsxattr(x, extsize, nextents, projid, cowextsize); }
}
