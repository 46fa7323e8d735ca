package org.overlayj.itest;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A directory where an overlay is mounted (the kernel's, or an overlayj FUSE mount): ops go through system calls
 * on paths under it, and the errno of the failing call is the outcome.
 */
public class MountedTarget implements Target, TreeView {
    private final String name;
    private final LayerSet layers;
    /** The mount point as a byte string. */
    protected final String mnt;
    private Runnable unmount;
    private final Remounter remounter;
    private boolean closed;
    /** Descriptors held across ops ({@link Op.Hold}), by slot. */
    private final java.util.Map<Integer, Integer> held = new java.util.TreeMap<>();
    /** File handles taken ({@link Op.TakeHandle}), by slot: they outlive remounts. */
    private final java.util.Map<Integer, org.overlayj.sys.FileHandle> handles = new java.util.TreeMap<>();

    /** Unmounts and mounts the same layers again at the same place; returns how to unmount the new mount. */
    @FunctionalInterface
    public interface Remounter {
        Runnable remount(Runnable unmount) throws Exception;
    }

    public MountedTarget(String name, LayerSet layers, Path mountPoint, Runnable unmount) {
        this(name, layers, mountPoint, unmount, null);
    }

    public MountedTarget(String name, LayerSet layers, Path mountPoint, Runnable unmount, Remounter remounter) {
        this.name = name;
        this.layers = layers;
        this.mnt = Linux.fromUtf8(mountPoint.toString());
        this.unmount = unmount;
        this.remounter = remounter;
    }

    @Override public String name() { return name; }

    @Override public LayerSet layers() { return layers; }

    @Override public TreeView view() { return this; }

    private String p(String rel) { return rel.equals("/") ? mnt : mnt + rel; }

    @Override public Outcome apply(Op op) {
        try {
            return run(op);
        } catch (ErrnoException e) {
            return Outcome.error(e.errno());
        }
    }

    /** What a held descriptor, a reopen or a handle sees: type, size and links (fstat), and a file's data. */
    static String described(int fd) throws ErrnoException {
        return described(fd, true);
    }

    /**
     * As {@link #described(int)}, the link count left out when {@code nlink} is false: the kernel overlay counts an
     * indexed file's index entry once its inode was evicted and looked up again (format doc §5.5, the remount
     * quirk the cross-check also allows for), which a drop_caches before opening a handle does.
     */
    static String described(int fd, boolean nlink) throws ErrnoException {
        Stat st = Linux.fstat(fd);
        StringBuilder s = new StringBuilder("type=0").append(Integer.toOctalString(st.type()))
                .append(" mode=0").append(Integer.toOctalString(st.mode() & 07777));
        if (nlink) s.append(" nlink=").append(st.nlink());
        if (st.isReg()) {
            s.append(" size=").append(st.size());
            byte[] b = readAll(fd);
            s.append(" len=").append(b.length).append(" sha=").append(Snapshot.hash(b));
        }
        return s.toString();
    }

    static byte[] readAll(int fd) throws ErrnoException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        long pos = 0;
        while (true) {
            int n = Linux.pread(fd, buf, 0, buf.length, pos);
            if (n <= 0) break;
            out.write(buf, 0, n);
            pos += n;
        }
        return out.toByteArray();
    }

    private int heldFd(int slot) throws ErrnoException {
        Integer fd = held.get(slot);
        if (fd == null) throw new ErrnoException(Errno.EBADF, "no descriptor #" + slot);
        return fd;
    }

    private void releaseAll() {
        for (int fd : held.values()) Linux.closeQuietly(fd);
        held.clear();
    }

    /** echo 3 > /proc/sys/vm/drop_caches: clean dentries and inodes go, and with them a FUSE mount's nodeids. */
    static void dropCaches() throws ErrnoException {
        int fd = Linux.open("/proc/sys/vm/drop_caches", Linux.O_WRONLY | Linux.O_CLOEXEC, 0);
        try {
            Linux.pwrite(fd, new byte[] {'3'}, 0, 1, 0);
        } finally {
            Linux.close(fd);
        }
    }

    private Outcome runHeld(Op op) throws ErrnoException {
        switch (op) {
            case Op.Hold o -> {
                int fd = Linux.open(p(o.path()), (o.write() ? Linux.O_RDWR : Linux.O_RDONLY) | Linux.O_NONBLOCK
                        | Linux.O_CLOEXEC, 0);
                Integer was = held.put(o.slot(), fd);
                if (was != null) Linux.closeQuietly(was);
            }
            case Op.ReadHeld o -> {
                return Outcome.ok(described(heldFd(o.slot())));
            }
            case Op.WriteHeld o -> writeFully(heldFd(o.slot()), Op.Content.bytes(o.size(), o.fill()), o.offset());
            case Op.Reopen o -> {
                int fd = Linux.open("/proc/self/fd/" + heldFd(o.slot()),
                        (o.write() ? Linux.O_RDWR : Linux.O_RDONLY) | Linux.O_NONBLOCK | Linux.O_CLOEXEC, 0);
                try {
                    return Outcome.ok(described(fd));
                } finally {
                    Linux.closeQuietly(fd);
                }
            }
            case Op.Release o -> {
                Integer fd = held.remove(o.slot());
                if (fd == null) throw new ErrnoException(Errno.EBADF, "no descriptor #" + o.slot());
                Linux.close(fd);
            }
            case Op.TakeHandle o -> handles.put(o.slot(), Linux.nameToHandle(p(o.path()), 0));
            case Op.OpenHandle o -> {
                return Outcome.ok(openHandle(o.slot()));
            }
            case Op.DropCaches o -> {
                dropCaches();
                return Outcome.ok(openHandles());
            }
            case Op.Remount o -> {
                releaseAll();
                if (remounter == null) throw new ErrnoException(Errno.ENOSYS, "no remount for " + name);
                try {
                    unmount = remounter.remount(unmount);
                } catch (Exception e) {
                    throw new IllegalStateException(name + ": remount failed", e);
                }
                return Outcome.ok(openHandles());
            }
            default -> throw new IllegalArgumentException(op.toString());
        }
        return Outcome.OK;
    }

    /** Every handle taken, opened: "h0: ... h1: ESTALE ...". */
    private String openHandles() {
        return Target.openAll(handles.keySet(), this::openHandle);
    }

    /** open_by_handle_at of handle {@code slot}: what it names (see {@link #described(int, boolean)}). */
    private String openHandle(int slot) throws ErrnoException {
        org.overlayj.sys.FileHandle h = handles.get(slot);
        if (h == null) throw new ErrnoException(Errno.EBADF, "no handle h" + slot);
        int mfd = Linux.open(mnt, Linux.O_RDONLY | Linux.O_DIRECTORY | Linux.O_CLOEXEC, 0);
        int fd;
        try {
            fd = Linux.openByHandle(mfd, h, Linux.O_PATH | Linux.O_CLOEXEC);
        } finally {
            Linux.closeQuietly(mfd);
        }
        try {
            if (!Linux.fstat(fd).isReg()) return described(fd, false);
            int rfd = Linux.open("/proc/self/fd/" + fd, Linux.O_RDONLY | Linux.O_NONBLOCK | Linux.O_CLOEXEC, 0);
            try {
                return described(rfd, false);
            } finally {
                Linux.closeQuietly(rfd);
            }
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    private Outcome run(Op op) throws ErrnoException {
        switch (op) {
            case Op.As o -> {
                try {
                    return CallerThread.call(o.who(), Op.CALLER_UMASK, () -> apply(o.op()));
                } catch (Exception e) {
                    throw new IllegalStateException(name + ": running as " + o.who() + " failed", e);
                }
            }
            case Op.SetAcl o -> {
                if (o.spec().isEmpty()) Linux.lremovexattr(p(o.path()), o.xattrName());
                else Linux.lsetxattr(p(o.path()), o.xattrName(), AclSpec.encode(o.spec()), 0);
            }
            case Op.Touch o -> Linux.utimens(p(o.path()), 0, Linux.UTIME_NOW, 0, Linux.UTIME_NOW, true);
            case Op.Rotate o -> {
                releaseAll();
                if (remounter == null) throw new ErrnoException(Errno.ENOSYS, "no remount for " + name);
                Runnable was = unmount;
                try {
                    unmount = remounter.remount(() -> {
                        was.run();
                        try {
                            layers.rotate();
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    });
                } catch (Exception e) {
                    throw new IllegalStateException(name + ": rotating the layers failed", e);
                }
            }
            case Op.Chattr o -> {
                int fd = Linux.open(p(o.path()), Linux.O_RDONLY | Linux.O_NONBLOCK | Linux.O_NOFOLLOW | Linux.O_CLOEXEC, 0);
                try {
                    Linux.setFlags(fd, (Linux.getFlags(fd) | o.add()) & ~o.remove());
                    return Outcome.ok("flags=" + Op.letters(Linux.getFlags(fd) & Op.FLAGS_SHOWN));
                } finally {
                    Linux.close(fd);
                }
            }
            case Op.Fallocate o -> {
                int fd = Linux.open(p(o.path()), Linux.O_WRONLY | (o.append() ? Linux.O_APPEND : 0) | Linux.O_NONBLOCK
                        | Linux.O_CLOEXEC, 0);
                try {
                    Linux.fallocate(fd, o.mode(), o.offset(), o.length());
                    return Outcome.ok("size=" + Linux.fstat(fd).size());
                } finally {
                    Linux.close(fd);
                }
            }
            case Op.Mkdir o -> Linux.mkdir(p(o.path()), o.mode());
            case Op.Create o -> {
                int fd = Linux.open(p(o.path()), Linux.O_CREAT | Linux.O_EXCL | Linux.O_WRONLY | Linux.O_CLOEXEC, o.mode());
                try {
                    byte[] b = Op.Content.bytes(o.size(), o.fill());
                    writeFully(fd, b, 0);
                } finally {
                    Linux.close(fd);
                }
            }
            case Op.Write o -> {
                int fd = Linux.open(p(o.path()), Linux.O_WRONLY | Linux.O_NONBLOCK | Linux.O_CLOEXEC, 0);
                try {
                    writeFully(fd, Op.Content.bytes(o.size(), o.fill()), o.offset());
                } finally {
                    Linux.close(fd);
                }
            }
            case Op.Overwrite o -> {
                int fd = Linux.open(p(o.path()), Linux.O_WRONLY | Linux.O_TRUNC | Linux.O_NONBLOCK | Linux.O_CLOEXEC, 0);
                try {
                    writeFully(fd, Op.Content.bytes(o.size(), o.fill()), 0);
                } finally {
                    Linux.close(fd);
                }
            }
            case Op.Append o -> {
                int fd = Linux.open(p(o.path()), Linux.O_WRONLY | Linux.O_APPEND | Linux.O_NONBLOCK | Linux.O_CLOEXEC, 0);
                try (Arena a = Arena.ofConfined()) {
                    byte[] b = Op.Content.bytes(o.size(), o.fill());
                    MemorySegment seg = a.allocate(Math.max(1, b.length));
                    MemorySegment.copy(b, 0, seg, ValueLayout.JAVA_BYTE, 0, b.length);
                    Linux.write(fd, seg.asSlice(0, b.length));
                } finally {
                    Linux.close(fd);
                }
            }
            case Op.Truncate o -> Linux.truncate(p(o.path()), o.size());
            case Op.Chmod o -> Linux.chmod(p(o.path()), o.mode());
            case Op.Chown o -> Linux.lchown(p(o.path()), o.uid(), o.gid());
            case Op.Utimes o -> Linux.utimens(p(o.path()), o.aSec(), o.aNsec(), o.mSec(), o.mNsec(), true);
            case Op.SetXattr o -> Linux.lsetxattr(p(o.path()), o.name(), Linux.bytesOf(o.value()), o.flags());
            case Op.RemoveXattr o -> Linux.lremovexattr(p(o.path()), o.name());
            case Op.GetXattr o -> {
                return Outcome.value(Linux.lgetxattr(p(o.path()), o.name()));
            }
            case Op.Symlink o -> Linux.symlink(o.target(), p(o.path()));
            case Op.Link o -> Linux.link(p(o.from()), p(o.path()));
            case Op.Unlink o -> Linux.unlink(p(o.path()));
            case Op.LinkGroup o -> {
                for (int i = 1; i <= o.count(); i++) Linux.link(p(o.path()), p(o.path()) + "." + i);
                for (int i = o.count(); i >= 2; i--) Linux.unlink(p(o.path()) + "." + i);
                return Outcome.ok("nlink=" + Linux.lstat(p(o.path())).nlink());
            }
            case Op.Rmdir o -> Linux.rmdir(p(o.path()));
            case Op.Rename o -> Linux.rename(p(o.path()), p(o.to()), o.flags());
            case Op.Read o -> {
                byte[] b = read(o.path());
                return Outcome.ok("len=" + b.length + " sha=" + Snapshot.hash(b));
            }
            case Op.Readdir o -> {
                StringBuilder s = new StringBuilder();
                for (Entry e : list(o.path())) s.append(Linux.toUtf8(e.name())).append('/').append(e.type()).append(' ');
                return Outcome.ok(s.toString().trim());
            }
            case Op.Hold o -> { return runHeld(o); }
            case Op.ReadHeld o -> { return runHeld(o); }
            case Op.WriteHeld o -> { return runHeld(o); }
            case Op.Reopen o -> { return runHeld(o); }
            case Op.Release o -> { return runHeld(o); }
            case Op.TakeHandle o -> { return runHeld(o); }
            case Op.OpenHandle o -> { return runHeld(o); }
            case Op.DropCaches o -> { return runHeld(o); }
            case Op.Remount o -> { return runHeld(o); }
        }
        return Outcome.OK;
    }

    private static void writeFully(int fd, byte[] b, long pos) throws ErrnoException {
        int off = 0;
        while (off < b.length) {
            int n = Linux.pwrite(fd, b, off, b.length - off, pos + off);
            if (n <= 0) throw new ErrnoException(Errno.EIO, "short write");
            off += n;
        }
    }

    // --- TreeView ------------------------------------------------------------------------------------------------
    @Override public List<Entry> list(String dir) throws ErrnoException {
        List<Entry> out = new ArrayList<>();
        for (DirEnt e : Linux.readdir(p(dir))) {
            if (!e.isDotOrDotDot()) out.add(new Entry(e.name(), e.ino(), e.type()));
        }
        return out;
    }

    @Override public Meta stat(String path) throws ErrnoException {
        Stat s = Linux.lstat(p(path));
        return new Meta(s.mode(), s.ino(), s.nlink(), s.uid(), s.gid(), s.size(), s.rdev(),
                s.atimeSec(), s.atimeNsec(), s.mtimeSec(), s.mtimeNsec());
    }

    @Override public SortedMap<String, byte[]> xattrs(String path) throws ErrnoException {
        SortedMap<String, byte[]> m = new TreeMap<>();
        for (String n : Linux.llistxattr(p(path))) {
            byte[] v = Linux.lgetxattrOrNull(p(path), n);
            if (v != null) m.put(n, v);
        }
        return m;
    }

    @Override public String readlink(String path) throws ErrnoException { return Linux.readlink(p(path)); }

    /** O_NONBLOCK so that a FIFO never blocks the harness. */
    @Override public byte[] read(String path) throws ErrnoException {
        int fd = Linux.open(p(path), Linux.O_RDONLY | Linux.O_NONBLOCK | Linux.O_CLOEXEC, 0);
        try {
            return readAll(fd);
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        releaseAll();
        unmount.run();
    }

    @Override public String toString() { return name; }
}
