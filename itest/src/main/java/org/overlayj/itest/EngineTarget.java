package org.overlayj.itest;

import org.overlayj.core.Attr;
import org.overlayj.core.Creds;
import org.overlayj.core.DirEntry;
import org.overlayj.core.Node;
import org.overlayj.core.OpenFile;
import org.overlayj.core.Overlay;
import org.overlayj.core.SetAttr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Drives {@link Overlay} directly, with no door in between: a path becomes a Node by lookups from the root, and
 * every call runs as root, or as the caller of an {@link Op.As} (umask included). What the kernel does in the VFS before reaching overlayfs (EISDIR on writing a
 * directory, ENOTDIR on a file parent, following a final symlink for chmod/truncate) is done here, because the
 * doors do it too.
 */
public final class EngineTarget implements Target, TreeView {
    private static final Creds ROOT = Creds.ROOT;
    /** Who makes the op running now: root, or an {@link Op.As}'s caller while it runs (the view is always root's). */
    private Creds c = ROOT;
    private final String name;
    private final LayerSet layers;
    private final MountConfig cfg;
    private Overlay ov;
    private boolean closed;
    /** Files held open across ops ({@link Op.Hold}), by slot. */
    private final java.util.Map<Integer, OpenFile> held = new java.util.TreeMap<>();
    /** Handles taken ({@link Op.TakeHandle}), by slot: the engine's bytes are the kernel's. */
    private final java.util.Map<Integer, byte[]> handles = new java.util.TreeMap<>();

    public EngineTarget(String name, LayerSet layers, MountConfig cfg) throws ErrnoException {
        this.name = name;
        this.layers = layers;
        this.cfg = cfg;
        this.ov = Overlay.mount(cfg.engineOptions(layers));
    }

    @Override public String name() { return name; }

    @Override public LayerSet layers() { return layers; }

    @Override public TreeView view() { return this; }

    public Overlay overlay() { return ov; }

    // --- paths ----------------------------------------------------------------------------------------------------
    private Node resolve(String path) throws ErrnoException {
        Node n = ov.root();
        if (path.equals("/")) return n;
        for (String comp : path.substring(1).split("/")) {
            if (!ov.getattr(n).isDir()) throw new ErrnoException(Errno.ENOTDIR, path);
            n = ov.lookup(n, comp, c);
        }
        return n;
    }

    /** Resolves and follows a final symlink, as path-walking system calls without NOFOLLOW do. */
    private Node resolveFollow(String path) throws ErrnoException {
        String p = path;
        for (int hops = 0; hops < 8; hops++) {
            Node n = resolve(p);
            if (!ov.getattr(n).isLink()) return n;
            String t = ov.readlink(n);
            p = t.startsWith("/") ? null : normalize(parentOf(p) + "/" + t);
            if (p == null) throw new ErrnoException(Errno.EXDEV, "absolute symlink leaves the overlay: " + t);
        }
        throw new ErrnoException(Errno.ELOOP, path);
    }

    private static String normalize(String p) {
        List<String> parts = new ArrayList<>();
        for (String c : p.split("/")) {
            if (c.isEmpty() || c.equals(".")) continue;
            if (c.equals("..")) { if (!parts.isEmpty()) parts.removeLast(); } else parts.add(c);
        }
        return "/" + String.join("/", parts);
    }

    private static String parentOf(String path) {
        int i = path.lastIndexOf('/');
        return i <= 0 ? "/" : path.substring(0, i);
    }

    private static String leaf(String path) { return path.substring(path.lastIndexOf('/') + 1); }

    private Node dirOf(String path) throws ErrnoException {
        Node d = resolve(parentOf(path));
        if (!ov.getattr(d).isDir()) throw new ErrnoException(Errno.ENOTDIR, path);
        return d;
    }

    // --- ops ------------------------------------------------------------------------------------------------------
    @Override public Outcome apply(Op op) {
        try {
            return run(op);
        } catch (ErrnoException e) {
            return Outcome.error(e.errno());
        }
    }

    private Outcome run(Op op) throws ErrnoException {
        switch (op) {
            case Op.As o -> {
                c = new Creds(o.who().uid(), o.who().gid(), o.who().groupArray(), Op.CALLER_UMASK);
                try {
                    return run(o.op());
                } finally {
                    c = ROOT;
                }
            }
            case Op.SetAcl o -> {
                Node n = resolve(o.path());
                if (o.spec().isEmpty()) ov.removexattr(n, o.xattrName(), c);
                else ov.setxattr(n, o.xattrName(), AclSpec.encode(o.spec()), 0, c);
            }
            case Op.Touch o -> ov.setattr(resolve(o.path()), SetAttr.times(0L, SetAttr.NOW, 0L, SetAttr.NOW), c);
            case Op.Chattr o -> {
                // chattr opens the object read-only first (O_NOFOLLOW: a symlink is ELOOP; the generator aims at
                // regular files and directories only)
                Node n = resolve(o.path());
                OpenFile f = ov.getattr(n).isDir() ? null : ov.open(n, Linux.O_RDONLY | Linux.O_NONBLOCK, c);
                try {
                    ov.setFlags(n, (ov.getFlags(n) | o.add()) & ~o.remove(), c);
                    return Outcome.ok("flags=" + Op.letters(ov.getFlags(n) & Op.FLAGS_SHOWN));
                } finally {
                    if (f != null) ov.release(f);
                }
            }
            case Op.Fallocate o -> {
                Node n = resolveFollow(o.path());
                OpenFile f = ov.open(n, Linux.O_WRONLY | (o.append() ? Linux.O_APPEND : 0) | Linux.O_NONBLOCK, c);
                try {
                    return Outcome.ok("size=" + ov.fallocate(f, o.mode(), o.offset(), o.length()).size());
                } finally {
                    ov.release(f);
                }
            }
            // the VFS keeps only permission bits and sticky for mkdir (setgid comes from the parent, if at all)
            case Op.Mkdir o -> ov.mkdir(dirOf(o.path()), leaf(o.path()), o.mode() & 01777, c);
            case Op.Create o -> {
                // open(O_CREAT|O_EXCL|O_WRONLY): the descriptor writes whatever mode the new file got (0444 too)
                OpenFile f = ov.createOpen(dirOf(o.path()), leaf(o.path()), 0100000 | o.mode(), Linux.O_WRONLY, c).file();
                try {
                    byte[] data = Op.Content.bytes(o.size(), o.fill());
                    if (data.length > 0) killPrivs(f.node());   // a non-root writer's 04755 file loses set-user-ID
                    for (int off = 0; off < data.length; ) {
                        int w = ov.write(f, off, data, off, data.length - off);
                        if (w <= 0) throw new ErrnoException(Errno.EIO, "short write");
                        off += w;
                    }
                } finally {
                    ov.release(f);
                }
            }
            case Op.Write o -> writeAt(resolveFollow(o.path()), o.offset(), Op.Content.bytes(o.size(), o.fill()), false);
            case Op.Append o -> writeAt(resolveFollow(o.path()), -1, Op.Content.bytes(o.size(), o.fill()), true);
            case Op.Overwrite o -> {
                Node n = resolveFollow(o.path());
                if (ov.getattr(n).isDir()) throw new ErrnoException(Errno.EISDIR, "open");
                OpenFile f = ov.open(n, Linux.O_WRONLY | Linux.O_TRUNC, c);
                try {
                    killPrivs(n);
                    byte[] data = Op.Content.bytes(o.size(), o.fill());
                    for (int off = 0; off < data.length; ) {
                        int w = ov.write(f, off, data, off, data.length - off);
                        if (w <= 0) throw new ErrnoException(Errno.EIO, "short write");
                        off += w;
                    }
                } finally {
                    ov.release(f);
                }
            }
            case Op.Truncate o -> {
                Node n = resolveFollow(o.path());
                Attr a = ov.getattr(n);
                if (a.isDir()) throw new ErrnoException(Errno.EISDIR, o.path());
                if (!a.isReg()) throw new ErrnoException(Errno.EINVAL, o.path());
                ov.setattr(n, SetAttr.truncate(o.size()), c);
                killPrivs(n);
            }
            case Op.Chmod o -> ov.setattr(resolveFollow(o.path()), SetAttr.chmod(o.mode()), c);
            case Op.Chown o -> {
                // chown(2) of a non-directory makes the VFS drop setuid, and setgid when group-executable, even
                // for root and even for -1:-1; it reaches the filesystem (and a FUSE door) as part of the setattr
                Node n = resolve(o.path());
                Attr a = ov.getattr(n);
                Integer mode = null;
                if (!a.isDir()) {
                    int m = a.mode() & 07777;
                    int kill = 04000 | ((m & 0010) != 0 ? 02000 : 0);
                    if ((m & kill) != 0) mode = m & ~kill;
                }
                ov.setattr(n, new SetAttr(mode, o.uid() < 0 ? null : o.uid(), o.gid() < 0 ? null : o.gid(),
                        null, null, null, null, null), c);
            }
            case Op.Utimes o -> ov.setattr(resolve(o.path()), SetAttr.times(o.aSec(), o.aNsec(), o.mSec(), o.mNsec()), c);
            case Op.SetXattr o -> ov.setxattr(resolve(o.path()), o.name(), Linux.bytesOf(o.value()), o.flags(), c);
            case Op.RemoveXattr o -> ov.removexattr(resolve(o.path()), o.name(), c);
            case Op.GetXattr o -> {
                return Outcome.value(ov.getxattr(resolve(o.path()), o.name(), c));
            }
            case Op.Symlink o -> ov.symlink(dirOf(o.path()), leaf(o.path()), o.target(), c);
            case Op.Link o -> link(resolve(o.from()), o.path());
            case Op.Unlink o -> ov.unlink(dirOf(o.path()), leaf(o.path()), c);
            case Op.LinkGroup o -> {
                for (int i = 1; i <= o.count(); i++) link(resolve(o.path()), o.path() + "." + i);
                for (int i = o.count(); i >= 2; i--) ov.unlink(dirOf(o.path()), leaf(o.path()) + "." + i, c);
                return Outcome.ok("nlink=" + ov.getattr(resolve(o.path())).nlink());
            }
            case Op.Rmdir o -> ov.rmdir(dirOf(o.path()), leaf(o.path()), c);
            case Op.Rename o -> ov.rename(dirOf(o.path()), leaf(o.path()), dirOf(o.to()), leaf(o.to()), o.flags(), c);
            case Op.Read o -> {
                byte[] b = read(o.path());
                return Outcome.ok("len=" + b.length + " sha=" + Snapshot.hash(b));
            }
            case Op.Readdir o -> {
                StringBuilder s = new StringBuilder();
                for (Entry e : list(o.path())) s.append(Linux.toUtf8(e.name())).append('/').append(e.type()).append(' ');
                return Outcome.ok(s.toString().trim());
            }
            case Op.Hold o -> {
                Node n = resolveFollow(o.path());
                if (o.write() && ov.getattr(n).isDir()) throw new ErrnoException(Errno.EISDIR, "open");
                OpenFile f = ov.open(n, (o.write() ? Linux.O_RDWR : Linux.O_RDONLY) | Linux.O_NONBLOCK, c);
                OpenFile was = held.put(o.slot(), f);
                if (was != null) ov.release(was);
            }
            case Op.ReadHeld o -> {
                return Outcome.ok(described(heldFile(o.slot())));
            }
            case Op.WriteHeld o -> {
                OpenFile f = heldFile(o.slot());   // a directory is held read-only: EBADF, as the VFS says first
                byte[] data = Op.Content.bytes(o.size(), o.fill());
                killPrivs(f.node());
                for (int off = 0; off < data.length; ) off += ov.write(f, o.offset() + off, data, off, data.length - off);
            }
            case Op.Reopen o -> {
                OpenFile f = ov.open(heldFile(o.slot()).node(), (o.write() ? Linux.O_RDWR : Linux.O_RDONLY), c);
                try {
                    return Outcome.ok(described(f));
                } finally {
                    ov.release(f);
                }
            }
            case Op.Release o -> {
                OpenFile f = held.remove(o.slot());
                if (f == null) throw new ErrnoException(Errno.EBADF, "no descriptor #" + o.slot());
                ov.release(f);
            }
            case Op.TakeHandle o -> handles.put(o.slot(), ov.encodeHandle(resolve(o.path())));
            case Op.OpenHandle o -> {
                return Outcome.ok(openHandle(o.slot()));
            }
            case Op.DropCaches o -> {
                ov.evictAll();   // the kernel's inodes without open files go, and what they kept in memory
                return Outcome.ok(openHandles());
            }
            case Op.Rotate o -> {
                releaseAll();
                ov.close();
                try {
                    layers.rotate();
                } catch (java.io.IOException e) {
                    throw new IllegalStateException(name + ": rotating the layers failed", e);
                }
                ov = Overlay.mount(cfg.engineOptions(layers));
            }
            case Op.Remount o -> {
                releaseAll();
                ov.close();
                ov = Overlay.mount(cfg.engineOptions(layers));
                return Outcome.ok(openHandles());
            }
        }
        return Outcome.OK;
    }

    /** Every handle taken, opened, as MountedTarget does after a drop_caches or a remount. */
    private String openHandles() {
        return Target.openAll(handles.keySet(), this::openHandle);
    }

    private String openHandle(int slot) throws ErrnoException {
        byte[] h = handles.get(slot);
        if (h == null) throw new ErrnoException(Errno.EBADF, "no handle h" + slot);
        Node n = ov.decodeHandle(h);
        if (!ov.getattr(n).isReg()) return described(n, null, false);
        OpenFile f = ov.open(n, Linux.O_RDONLY, c);
        try {
            return described(f.node(), f, false);
        } finally {
            ov.release(f);
        }
    }

    private OpenFile heldFile(int slot) throws ErrnoException {
        OpenFile f = held.get(slot);
        if (f == null) throw new ErrnoException(Errno.EBADF, "no descriptor #" + slot);
        return f;
    }

    private void releaseAll() {
        for (OpenFile f : held.values()) {
            try {
                ov.release(f);
            } catch (ErrnoException e) {
                // closing: nothing to report
            }
        }
        held.clear();
    }

    private String described(OpenFile f) throws ErrnoException {
        return described(f.node(), f, true);
    }

    /** As MountedTarget#described: type, mode, links, and a regular file's size and data read through {@code f}. */
    private String described(Node n, OpenFile f, boolean nlink) throws ErrnoException {
        Attr a = ov.getattr(n);
        StringBuilder s = new StringBuilder("type=0").append(Integer.toOctalString(a.mode() & 0170000))
                .append(" mode=0").append(Integer.toOctalString(a.mode() & 07777));
        if (nlink) s.append(" nlink=").append(a.nlink());
        if (a.isReg() && f != null) {
            s.append(" size=").append(a.size());
            byte[] b = readAll(f);
            s.append(" len=").append(b.length).append(" sha=").append(Snapshot.hash(b));
        }
        return s.toString();
    }

    /**
     * A write or truncate by a caller without CAP_FSETID clears set-user-ID (and set-group-ID with group-execute):
     * the VFS's file_remove_privs, which a FUSE door is asked for with a flag.
     */
    private void killPrivs(Node n) throws ErrnoException {
        if (!c.isRoot()) ov.killPrivs(n, () -> c);
    }

    /**
     * fs.protected_hardlinks=1 (the VFS's may_linkat, before the filesystem is asked): a caller that does not own
     * the file may link only a regular file that is not set-user-ID, not executable set-group-ID, and that it may
     * read and write.
     */
    /**
     * link(2) in the VFS's order: the source must exist (the caller resolved it), the new name must not (EEXIST,
     * from filename_create), and only then "no directories" and fs.protected_hardlinks (may_linkat), which the
     * VFS checks before the filesystem is asked.
     */
    private void link(Node src, String path) throws ErrnoException {
        Node dir = dirOf(path);
        try {
            ov.lookup(dir, leaf(path), c);
            throw new ErrnoException(Errno.EEXIST, path);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENOENT) throw e;
        }
        if (ov.getattr(src).isDir()) throw new ErrnoException(Errno.EPERM, path);
        protectedHardlink(src);
        ov.link(src, dir, leaf(path), c);
    }

    private void protectedHardlink(Node src) throws ErrnoException {
        if (c.isRoot() || !PROTECTED_HARDLINKS) return;
        Attr a = ov.getattr(src);
        if (a.uid() == c.uid()) return;
        int m = a.mode();
        boolean safe = a.isReg() && (m & 04000) == 0 && (m & 02010) != 02010;
        if (safe) {
            try {
                ov.access(src, 6, c);
                return;
            } catch (ErrnoException e) {
                // not both readable and writable: refused below
            }
        }
        throw new ErrnoException(Errno.EPERM, "protected_hardlinks");
    }

    private static final boolean PROTECTED_HARDLINKS = readSysctl("/proc/sys/fs/protected_hardlinks") == 1;

    private static int readSysctl(String p) {
        try {
            return Integer.parseInt(java.nio.file.Files.readString(java.nio.file.Path.of(p)).trim());
        } catch (java.io.IOException | NumberFormatException e) {
            return 0;
        }
    }

    /** offset -1 appends at the current size. */
    private void writeAt(Node n, long offset, byte[] data, boolean append) throws ErrnoException {
        if (ov.getattr(n).isDir()) throw new ErrnoException(Errno.EISDIR, "write");
        OpenFile f = ov.open(n, Linux.O_WRONLY | (append ? Linux.O_APPEND : 0), c);
        try {
            killPrivs(n);
            long pos = append ? ov.getattr(n).size() : offset;
            int off = 0;
            while (off < data.length) {
                int w = ov.write(f, pos + off, data, off, data.length - off);
                if (w <= 0) throw new ErrnoException(Errno.EIO, "short write");
                off += w;
            }
        } finally {
            ov.release(f);
        }
    }

    // --- TreeView -------------------------------------------------------------------------------------------------
    @Override public List<Entry> list(String dir) throws ErrnoException {
        Node d = resolve(dir);
        if (!ov.getattr(d).isDir()) throw new ErrnoException(Errno.ENOTDIR, dir);
        List<Entry> out = new ArrayList<>();
        long cookie = 0;
        while (true) {
            List<DirEntry> page = ov.readdir(d, cookie, 64, c);
            if (page.isEmpty()) return out;
            for (DirEntry e : page) {
                cookie = e.cookie();
                if (!e.name().equals(".") && !e.name().equals("..")) out.add(new Entry(e.name(), e.ino(), e.type()));
            }
        }
    }

    @Override public Meta stat(String path) throws ErrnoException {
        Attr a = ov.getattr(resolve(path));
        return new Meta(a.mode(), a.ino(), a.nlink(), a.uid(), a.gid(), a.size(), a.rdev(),
                a.atimeSec(), a.atimeNsec(), a.mtimeSec(), a.mtimeNsec());
    }

    @Override public SortedMap<String, byte[]> xattrs(String path) throws ErrnoException {
        Node n = resolve(path);
        SortedMap<String, byte[]> m = new TreeMap<>();
        for (String x : ov.listxattr(n, c)) {
            try {
                m.put(x, ov.getxattr(n, x, c));
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENODATA) throw e;
            }
        }
        return m;
    }

    @Override public String readlink(String path) throws ErrnoException { return ov.readlink(resolve(path)); }

    /** Everything an open file reads from offset 0 on. */
    private byte[] readAll(OpenFile f) throws ErrnoException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        long pos = 0;
        while (true) {
            int r = ov.read(f, pos, buf, 0, buf.length);
            if (r <= 0) break;
            out.write(buf, 0, r);
            pos += r;
        }
        return out.toByteArray();
    }

    @Override public byte[] read(String path) throws ErrnoException {
        Node n = resolveFollow(path);
        OpenFile f = ov.open(n, Linux.O_RDONLY | Linux.O_NONBLOCK, c);
        try {
            if (ov.getattr(n).isDir()) throw new ErrnoException(Errno.EISDIR, path);
            return readAll(f);
        } finally {
            ov.release(f);
        }
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        releaseAll();
        ov.close();
    }

    @Override public String toString() { return name; }
}
