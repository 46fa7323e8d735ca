package org.overlayj.itest;

import org.overlayj.sys.ErrnoException;

import java.util.List;
import java.util.SortedMap;

/**
 * Read access to a visible overlay tree by path, as a kernel mount, a FUSE mount or the engine gives it. The
 * snapshot code walks this, so every target is snapshotted by the same code.
 */
public interface TreeView {
    /** One listing entry ("." and ".." left out): its d_ino and DT_* type. */
    record Entry(String name, long ino, int type) {}

    /** The attributes the comparison looks at. Times are seconds + nanoseconds. */
    record Meta(int mode, long ino, int nlink, int uid, int gid, long size, long rdev,
                long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) {
        public int type() { return mode & 0170000; }
    }

    List<Entry> list(String dir) throws ErrnoException;

    Meta stat(String path) throws ErrnoException;

    /** Every xattr name the view lists, with its value. */
    SortedMap<String, byte[]> xattrs(String path) throws ErrnoException;

    String readlink(String path) throws ErrnoException;

    byte[] read(String path) throws ErrnoException;
}
