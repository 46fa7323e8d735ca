package org.overlayj.core;

/**
 * What getattr shows for an overlay object: st_ino is the overlay's stable inode number (format doc §6.5) and
 * nlink the union count for indexed objects (§5.5). Times are seconds + nanoseconds.
 */
public record Attr(long ino, int mode, int nlink, int uid, int gid, long rdev, long size, long blocks, int blksize,
                   long atimeSec, int atimeNsec, long mtimeSec, int mtimeNsec, long ctimeSec, int ctimeNsec,
                   long generation) {
    public int type() { return mode & 0170000; }
    public boolean isDir() { return type() == 0040000; }
    public boolean isReg() { return type() == 0100000; }
    public boolean isLink() { return type() == 0120000; }
}
