package org.overlayj.sys;

/** The fields of statx(2) overlayj uses. Times are seconds + nanoseconds. */
public record Stat(int mode, long ino, int nlink, int uid, int gid, long size, long blocks, int blksize,
                   long atimeSec, int atimeNsec, long mtimeSec, int mtimeNsec, long ctimeSec, int ctimeNsec,
                   int rdevMajor, int rdevMinor, int devMajor, int devMinor, long mntId) {

    public static final int S_IFMT = 0170000, S_IFSOCK = 0140000, S_IFLNK = 0120000, S_IFREG = 0100000,
            S_IFBLK = 0060000, S_IFDIR = 0040000, S_IFCHR = 0020000, S_IFIFO = 0010000;
    public static final int S_ISUID = 04000, S_ISGID = 02000, S_IXGRP = 00010;

    public int type() { return mode & S_IFMT; }
    public int perm() { return mode & 07777; }
    public boolean isDir() { return type() == S_IFDIR; }
    public boolean isReg() { return type() == S_IFREG; }
    public boolean isLink() { return type() == S_IFLNK; }
    public boolean isChr() { return type() == S_IFCHR; }
    /** A 0/0 character device: the overlay whiteout. */
    public boolean isWhiteout() { return isChr() && rdevMajor == 0 && rdevMinor == 0; }
    public long rdev() { return Linux.makedev(rdevMajor, rdevMinor); }
    public long dev() { return Linux.makedev(devMajor, devMinor); }
}
