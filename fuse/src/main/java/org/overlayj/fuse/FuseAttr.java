package org.overlayj.fuse;

/**
 * The attributes of one inode as the protocol carries them (struct fuse_attr). {@code rdev} is a Linux dev_t as
 * glibc's makedev builds it; the codec converts it to the kernel's 32-bit encoding.
 */
public record FuseAttr(long ino, long size, long blocks, long atime, int atimeNsec, long mtime, int mtimeNsec,
                       long ctime, int ctimeNsec, int mode, int nlink, int uid, int gid, long rdev, int blksize) {}
