package org.overlayj.fuse;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/** A tiny in-memory filesystem behind the raw protocol: enough to exercise the codec and the loop for real. */
final class MemFs implements RawFileSystem {
    static final long TTL = 1_000_000_000L;

    static final class Inode {
        final long ino;
        int mode, uid, gid, nlink = 1;
        long rdev;
        byte[] data = new byte[0];
        String target;
        final Map<String, Long> children = new TreeMap<>();
        final Map<String, byte[]> xattrs = new LinkedHashMap<>();
        long lookups;
        long mtime = System.currentTimeMillis() / 1000;

        Inode(long ino, int mode, int uid, int gid) {
            this.ino = ino;
            this.mode = mode;
            this.uid = uid;
            this.gid = gid;
        }
    }

    final Map<Long, Inode> inodes = new ConcurrentHashMap<>();
    final AtomicLong next = new AtomicLong(2);
    final AtomicLong forgets = new AtomicLong();
    /** The largest READ size the kernel asked for. */
    final java.util.concurrent.atomic.AtomicInteger largestRead = new java.util.concurrent.atomic.AtomicInteger();
    volatile FuseInit.Negotiated negotiated;

    MemFs() {
        Inode root = new Inode(ROOT_ID, 0040755, 0, 0);
        root.nlink = 2;
        inodes.put(ROOT_ID, root);
    }

    @Override public void init(FuseInit.Negotiated n) { negotiated = n; }

    synchronized long totalLookups() {
        long t = 0;
        for (Inode i : inodes.values()) if (i.ino != ROOT_ID) t += i.lookups;
        return t;
    }

    private Inode get(long id) throws ErrnoException {
        Inode i = inodes.get(id);
        if (i == null) throw new ErrnoException(Errno.ESTALE, "nodeid " + id);
        return i;
    }

    private Inode dir(long id) throws ErrnoException {
        Inode d = get(id);
        if ((d.mode & 0170000) != 0040000) throw new ErrnoException(Errno.ENOTDIR, "not a dir");
        return d;
    }

    private FuseAttr attr(Inode i) {
        long size = i.target != null ? i.target.length() : i.data.length;
        return new FuseAttr(i.ino, size, (size + 511) / 512, i.mtime, 0, i.mtime, 0, i.mtime, 0, i.mode, i.nlink,
                i.uid, i.gid, i.rdev, 4096);
    }

    private FuseEntry entry(Inode i) {
        i.lookups++;
        return new FuseEntry(i.ino, 1, TTL, TTL, attr(i));
    }

    @Override public synchronized FuseEntry lookup(FuseContext c, long parent, String name) throws ErrnoException {
        Long id = dir(parent).children.get(name);
        if (id == null) throw new ErrnoException(Errno.ENOENT, name);
        return entry(get(id));
    }

    @Override public synchronized void forget(long nodeid, long nlookup) {
        forgets.incrementAndGet();
        Inode i = inodes.get(nodeid);
        if (i == null) return;
        i.lookups -= nlookup;
        if (i.lookups < 0) throw new IllegalStateException("lookup count below zero for " + nodeid);
    }

    @Override public synchronized FuseAttrOut getattr(FuseContext c, long nodeid, long fh) throws ErrnoException {
        return new FuseAttrOut(attr(get(nodeid)), TTL);
    }

    @Override public synchronized FuseAttrOut setattr(FuseContext c, long nodeid, FuseSetAttr in)
            throws ErrnoException {
        Inode i = get(nodeid);
        if (in.has(FuseSetAttr.MODE)) i.mode = (i.mode & 0170000) | (in.mode() & 07777);
        if (in.has(FuseSetAttr.UID)) i.uid = in.uid();
        if (in.has(FuseSetAttr.GID)) i.gid = in.gid();
        if (in.has(FuseSetAttr.SIZE)) i.data = Arrays.copyOf(i.data, (int) in.size());
        if (in.has(FuseSetAttr.MTIME)) i.mtime = in.mtime();
        return new FuseAttrOut(attr(i), TTL);
    }

    @Override public synchronized String readlink(FuseContext c, long nodeid) throws ErrnoException {
        Inode i = get(nodeid);
        if (i.target == null) throw new ErrnoException(Errno.EINVAL, "not a symlink");
        return i.target;
    }

    private Inode make(FuseContext c, long parent, String name, int mode) throws ErrnoException {
        Inode d = dir(parent);
        if (d.children.containsKey(name)) throw new ErrnoException(Errno.EEXIST, name);
        Inode i = new Inode(next.getAndIncrement(), mode, c.uid(), c.gid());
        inodes.put(i.ino, i);
        d.children.put(name, i.ino);
        return i;
    }

    @Override public synchronized FuseEntry mknod(FuseContext c, long parent, String name, int mode, long rdev)
            throws ErrnoException {
        Inode i = make(c, parent, name, mode);
        i.rdev = rdev;
        return entry(i);
    }

    @Override public synchronized FuseEntry mkdir(FuseContext c, long parent, String name, int mode)
            throws ErrnoException {
        Inode i = make(c, parent, name, 0040000 | (mode & 07777));
        i.nlink = 2;
        return entry(i);
    }

    @Override public synchronized FuseEntry symlink(FuseContext c, long parent, String name, String target)
            throws ErrnoException {
        Inode i = make(c, parent, name, 0120777);
        i.target = target;
        return entry(i);
    }

    @Override public synchronized FuseEntry link(FuseContext c, long nodeid, long newParent, String newName)
            throws ErrnoException {
        Inode i = get(nodeid);
        Inode d = dir(newParent);
        if (d.children.containsKey(newName)) throw new ErrnoException(Errno.EEXIST, newName);
        d.children.put(newName, i.ino);
        i.nlink++;
        return entry(i);
    }

    @Override public synchronized void unlink(FuseContext c, long parent, String name) throws ErrnoException {
        Inode d = dir(parent);
        Long id = d.children.get(name);
        if (id == null) throw new ErrnoException(Errno.ENOENT, name);
        Inode i = get(id);
        if ((i.mode & 0170000) == 0040000) throw new ErrnoException(Errno.EISDIR, name);
        d.children.remove(name);
        i.nlink--;
    }

    @Override public synchronized void rmdir(FuseContext c, long parent, String name) throws ErrnoException {
        Inode d = dir(parent);
        Long id = d.children.get(name);
        if (id == null) throw new ErrnoException(Errno.ENOENT, name);
        if (!dir(id).children.isEmpty()) throw new ErrnoException(Errno.ENOTEMPTY, name);
        d.children.remove(name);
        get(id).nlink = 0;
    }

    @Override public synchronized void rename(FuseContext c, long parent, String name, long newParent,
                                              String newName, int flags) throws ErrnoException {
        Inode from = dir(parent), to = dir(newParent);
        Long id = from.children.get(name);
        if (id == null) throw new ErrnoException(Errno.ENOENT, name);
        Long old = to.children.get(newName);
        if ((flags & Linux.RENAME_NOREPLACE) != 0 && old != null) throw new ErrnoException(Errno.EEXIST, newName);
        if ((flags & Linux.RENAME_EXCHANGE) != 0) {
            if (old == null) throw new ErrnoException(Errno.ENOENT, newName);
            from.children.put(name, old);
            to.children.put(newName, id);
            return;
        }
        from.children.remove(name);
        to.children.put(newName, id);
    }

    @Override public FuseOpen open(FuseContext c, long nodeid, int flags) throws ErrnoException {
        synchronized (this) {
            Inode i = get(nodeid);
            if ((flags & Linux.O_TRUNC) != 0) i.data = new byte[0];
        }
        return new FuseOpen(nodeid * 10, 0);
    }

    @Override public synchronized Created create(FuseContext c, long parent, String name, int mode, int flags)
            throws ErrnoException {
        Inode i = make(c, parent, name, 0100000 | (mode & 07777));
        return new Created(entry(i), new FuseOpen(i.ino * 10, 0));
    }

    @Override public synchronized int read(FuseContext c, long nodeid, long fh, long offset, byte[] dst, int size)
            throws ErrnoException {
        if (fh != nodeid * 10) throw new ErrnoException(Errno.EBADF, "fh " + fh);
        largestRead.accumulateAndGet(size, Math::max);
        Inode i = get(nodeid);
        if (offset >= i.data.length) return 0;
        int n = (int) Math.min(size, i.data.length - offset);
        System.arraycopy(i.data, (int) offset, dst, 0, n);
        return n;
    }

    @Override public synchronized int write(FuseContext c, long nodeid, long fh, long offset, byte[] data, int off,
                                            int len) throws ErrnoException {
        Inode i = get(nodeid);
        if (offset + len > i.data.length) i.data = Arrays.copyOf(i.data, (int) (offset + len));
        System.arraycopy(data, off, i.data, (int) offset, len);
        return len;
    }

    @Override public void fsync(FuseContext c, long nodeid, long fh, boolean dataOnly) {}

    @Override public void fsyncdir(FuseContext c, long nodeid, long fh, boolean dataOnly) {}

    @Override public synchronized void readdir(FuseContext c, long nodeid, long fh, long offset, DirBuffer out)
            throws ErrnoException {
        Inode d = dir(nodeid);
        List<Object[]> all = new ArrayList<>();
        all.add(new Object[]{".", d.ino});
        all.add(new Object[]{"..", ROOT_ID});
        for (Map.Entry<String, Long> e : d.children.entrySet()) all.add(new Object[]{e.getKey(), e.getValue()});
        for (int k = (int) offset; k < all.size(); k++) {
            String name = (String) all.get(k)[0];
            Inode i = get((Long) all.get(k)[1]);
            int type = (i.mode & 0170000) >>> 12;
            if (!out.fits(name)) return;
            if (out.plus()) {
                boolean dots = name.equals(".") || name.equals("..");
                out.addPlus(name, i.ino, type, k + 1, dots ? null : entry(i));
            } else {
                out.add(name, i.ino, type, k + 1);
            }
        }
    }

    @Override public FuseStatFs statfs(FuseContext c, long nodeid) {
        return new FuseStatFs(1000, 500, 500, 100, 50, 4096, 255, 4096);
    }

    @Override public synchronized void setxattr(FuseContext c, long nodeid, String name, byte[] value, int flags)
            throws ErrnoException {
        Inode i = get(nodeid);
        if ((flags & Linux.XATTR_CREATE) != 0 && i.xattrs.containsKey(name)) throw new ErrnoException(Errno.EEXIST, name);
        if ((flags & Linux.XATTR_REPLACE) != 0 && !i.xattrs.containsKey(name)) throw new ErrnoException(Errno.ENODATA, name);
        i.xattrs.put(name, value.clone());
    }

    @Override public synchronized byte[] getxattr(FuseContext c, long nodeid, String name) throws ErrnoException {
        byte[] v = get(nodeid).xattrs.get(name);
        if (v == null) throw new ErrnoException(Errno.ENODATA, name);
        return v;
    }

    @Override public synchronized List<String> listxattr(FuseContext c, long nodeid) throws ErrnoException {
        return new ArrayList<>(get(nodeid).xattrs.keySet());
    }

    @Override public synchronized void removexattr(FuseContext c, long nodeid, String name) throws ErrnoException {
        if (get(nodeid).xattrs.remove(name) == null) throw new ErrnoException(Errno.ENODATA, name);
    }
}
