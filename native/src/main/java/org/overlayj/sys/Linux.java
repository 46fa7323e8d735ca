package org.overlayj.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The Linux calls the JDK lacks, through java.lang.foreign. Nothing overlay-specific lives here.
 *
 * <p>Paths, names, xattr names and symlink targets are <em>byte strings</em>: Java Strings holding one char per byte
 * (ISO-8859-1), so any name Linux allows round-trips unchanged. Convert user text with {@link #fromUtf8(String)}
 * at the edges (CLI, tests), never inside the engine.
 *
 * <p>Every failure throws {@link ErrnoException} with the errno of the call.
 */
public final class Linux {
    private Linux() {}

    // --- constants (x86-64) -------------------------------------------------------------------------------------
    public static final int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200,
            AT_SYMLINK_FOLLOW = 0x400, AT_EMPTY_PATH = 0x1000, AT_HANDLE_FID = 0x200;
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_ACCMODE = 3, O_CREAT = 0100, O_EXCL = 0200,
            O_NOCTTY = 0400, O_TRUNC = 01000, O_APPEND = 02000, O_NONBLOCK = 04000, O_DSYNC = 010000,
            O_LARGEFILE = 0100000, O_DIRECTORY = 0200000, O_NOFOLLOW = 0400000, O_NOATIME = 01000000,
            O_CLOEXEC = 02000000, O_SYNC = 04010000, O_PATH = 010000000, O_TMPFILE = 020200000;
    public static final int RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2, RENAME_WHITEOUT = 4;
    public static final int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    public static final long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    public static final int SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;
    public static final int MNT_FORCE = 1, MNT_DETACH = 2;
    public static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;
    public static final long FICLONE = 0x40049409L, FS_IOC_GETFLAGS = 0x80086601L, FS_IOC_SETFLAGS = 0x40086602L;
    public static final int MAX_HANDLE_SZ = 128;

    // --- linking -----------------------------------------------------------------------------------------------
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> ERRNO_SEG =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CAPTURE));

    private static MethodHandle fn(String name, FunctionDescriptor fd, boolean critical) {
        MemorySegment sym = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        return critical
                ? LINKER.downcallHandle(sym, fd, capture, Linker.Option.critical(true))
                : LINKER.downcallHandle(sym, fd, capture);
    }

    private static MethodHandle fn(String name, FunctionDescriptor fd) {
        return fn(name, fd, false);
    }

    private static final MethodHandle STATX = fn("statx",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle LGETXATTR = fn("lgetxattr",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle FGETXATTR = fn("fgetxattr",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle LSETXATTR = fn("lsetxattr",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FSETXATTR = fn("fsetxattr",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle LLISTXATTR = fn("llistxattr",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle FLISTXATTR = fn("flistxattr",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle LREMOVEXATTR = fn("lremovexattr",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle FREMOVEXATTR = fn("fremovexattr",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle MKNODAT = fn("mknodat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MKDIRAT = fn("mkdirat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SYMLINKAT = fn("symlinkat",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle READLINKAT = fn("readlinkat",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle LINKAT = fn("linkat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle UNLINKAT = fn("unlinkat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RENAMEAT2 = fn("renameat2",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle OPENAT = fn("openat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle CLOSE = fn("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle PREAD = fn("pread",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), true);
    private static final MethodHandle PWRITE = fn("pwrite",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), true);
    private static final MethodHandle READ = fn("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = fn("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITEV = fn("writev",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle COPY_FILE_RANGE = fn("copy_file_range",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle IOCTL_LONG = fn("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle IOCTL_PTR = fn("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle LSEEK = fn("lseek",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FTRUNCATE = fn("ftruncate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle TRUNCATE = fn("truncate",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle FSYNC = fn("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FDATASYNC = fn("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SYNCFS = fn("syncfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FALLOCATE = fn("fallocate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle UTIMENSAT = fn("utimensat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle FUTIMENS = fn("futimens",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle FCHMODAT = fn("fchmodat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHMOD = fn("fchmod", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHOWNAT = fn("fchownat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHOWN = fn("fchown",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle NAME_TO_HANDLE_AT = fn("name_to_handle_at",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle OPEN_BY_HANDLE_AT = fn("open_by_handle_at",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETDENTS64 = fn("getdents64",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle STATFS = fn("statfs", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle FSTATFS = fn("fstatfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle MOUNT = fn("mount",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle UMOUNT2 = fn("umount2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FLOCK = fn("flock", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle UMASK = fn("umask", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle GETEUID = fn("geteuid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETEGID = fn("getegid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle SETFSUID = fn("setfsuid", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SETFSGID = fn("setfsgid", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    // --- helpers -----------------------------------------------------------------------------------------------
    private static int errno() {
        return (int) ERRNO.get(ERRNO_SEG.get(), 0L);
    }

    private static ErrnoException fail(String call, String what) {
        int e = errno();
        return new ErrnoException(e, call + "(" + what + ")");
    }

    private static int check(int rc, String call, String what) throws ErrnoException {
        if (rc < 0) throw fail(call, what);
        return rc;
    }

    private static long check(long rc, String call, String what) throws ErrnoException {
        if (rc < 0) throw fail(call, what);
        return rc;
    }

    /** Encodes a byte string as a NUL-terminated C string. */
    private static MemorySegment cstr(Arena a, String s) {
        int n = s.length();
        MemorySegment m = a.allocate(n + 1L);
        for (int i = 0; i < n; i++) m.set(JAVA_BYTE, i, (byte) s.charAt(i));
        m.set(JAVA_BYTE, n, (byte) 0);
        return m;
    }

    /** The bytes of a byte string. */
    public static byte[] bytesOf(String byteString) {
        return byteString.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A byte string from raw bytes. */
    public static String byteString(byte[] b) {
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    /** A byte string from raw bytes. */
    public static String byteString(byte[] b, int off, int len) {
        return new String(b, off, len, StandardCharsets.ISO_8859_1);
    }

    /** User text (UTF-8, as typed on a command line) to a byte string. */
    public static String fromUtf8(String text) {
        return byteString(text.getBytes(StandardCharsets.UTF_8));
    }

    /** A byte string to user text, for messages. */
    public static String toUtf8(String byteString) {
        return new String(bytesOf(byteString), StandardCharsets.UTF_8);
    }

    private static Object invoke(MethodHandle h, Object... args) {
        try {
            return h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new IllegalStateException("native call failed: " + t, t);
        }
    }

    // Calls go through exact invokes for speed on hot paths; invokeWithArguments only where it does not matter.

    public static long makedev(int major, int minor) {
        return ((long) (major & 0xfffff000) << 32) | ((long) (major & 0xfff) << 8)
                | ((long) (minor & 0xffffff00) << 12) | (minor & 0xff);
    }

    public static int major(long dev) {
        return (int) (((dev >>> 32) & 0xfffff000L) | ((dev >>> 8) & 0xfffL));
    }

    public static int minor(long dev) {
        return (int) (((dev >>> 12) & 0xffffff00L) | (dev & 0xffL));
    }

    // --- stat --------------------------------------------------------------------------------------------------
    private static final int STATX_BASIC_STATS = 0x7ff, STATX_MNT_ID = 0x1000;

    /** statx of a path, not following a final symlink. */
    public static Stat lstat(String path) throws ErrnoException {
        return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);
    }

    /** statx of a path, following symlinks. */
    public static Stat stat(String path) throws ErrnoException {
        return statx(AT_FDCWD, path, 0);
    }

    public static Stat fstat(int fd) throws ErrnoException {
        return statx(fd, "", AT_EMPTY_PATH);
    }

    /** lstat, or null when the name does not exist (ENOENT/ENOTDIR). */
    public static Stat lstatOrNull(String path) throws ErrnoException {
        try {
            return lstat(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT || e.errno() == Errno.ENOTDIR) return null;
            throw e;
        }
    }

    private static Stat statx(int dirfd, String path, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(256, 8);
            int rc;
            try {
                rc = (int) STATX.invokeExact(ERRNO_SEG.get(), dirfd, cstr(a, path), flags,
                        STATX_BASIC_STATS | STATX_MNT_ID, buf);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "statx", path);
            return new Stat(
                    buf.get(JAVA_SHORT, 28) & 0xffff,
                    buf.get(JAVA_LONG, 32),
                    buf.get(JAVA_INT, 16),
                    buf.get(JAVA_INT, 20),
                    buf.get(JAVA_INT, 24),
                    buf.get(JAVA_LONG, 40),
                    buf.get(JAVA_LONG, 48),
                    buf.get(JAVA_INT, 4),
                    buf.get(JAVA_LONG, 64), buf.get(JAVA_INT, 72),
                    buf.get(JAVA_LONG, 112), buf.get(JAVA_INT, 120),
                    buf.get(JAVA_LONG, 96), buf.get(JAVA_INT, 104),
                    buf.get(JAVA_INT, 128), buf.get(JAVA_INT, 132),
                    buf.get(JAVA_INT, 136), buf.get(JAVA_INT, 140),
                    buf.get(JAVA_LONG, 144));
        }
    }

    // --- xattrs ------------------------------------------------------------------------------------------------
    /** lgetxattr; throws ENODATA when the attribute is absent. */
    public static byte[] lgetxattr(String path, String name) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = cstr(a, path), n = cstr(a, name);
            int size = 256;
            while (true) {
                MemorySegment buf = a.allocate(size);
                long rc;
                try {
                    rc = (long) LGETXATTR.invokeExact(ERRNO_SEG.get(), p, n, buf, (long) size);
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
                if (rc >= 0) return buf.asSlice(0, rc).toArray(JAVA_BYTE);
                int e = errno();
                if (e != Errno.ERANGE) throw new ErrnoException(e, "lgetxattr(" + path + ", " + name + ")");
                if (size >= 65536) throw new ErrnoException(Errno.E2BIG, "lgetxattr(" + path + ", " + name + ")");
                size = 65536;
            }
        }
    }

    /** lgetxattr, or null when the attribute is absent (ENODATA) or the fs has no xattrs (ENOTSUP). */
    public static byte[] lgetxattrOrNull(String path, String name) throws ErrnoException {
        try {
            return lgetxattr(path, name);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENODATA || e.errno() == Errno.EOPNOTSUPP) return null;
            throw e;
        }
    }

    /**
     * lgetxattr reading at most {@code max} bytes: ERANGE when the value is longer. Mirrors how the kernel reads
     * single-byte markers such as {@code opaque} (a longer value is not the marker).
     */
    public static byte[] lgetxattrLimited(String path, String name, int max) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Math.max(1, max));
            long rc;
            try {
                rc = (long) LGETXATTR.invokeExact(ERRNO_SEG.get(), cstr(a, path), cstr(a, name), buf, (long) max);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "lgetxattr", path + ", " + name);
            return buf.asSlice(0, rc).toArray(JAVA_BYTE);
        }
    }

    public static byte[] fgetxattr(int fd, String name) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = cstr(a, name);
            MemorySegment buf = a.allocate(65536);
            long rc;
            try {
                rc = (long) FGETXATTR.invokeExact(ERRNO_SEG.get(), fd, n, buf, 65536L);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "fgetxattr", name);
            return buf.asSlice(0, rc).toArray(JAVA_BYTE);
        }
    }

    public static void lsetxattr(String path, String name, byte[] value, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Math.max(1, value.length));
            MemorySegment.copy(value, 0, v, JAVA_BYTE, 0, value.length);
            int rc;
            try {
                rc = (int) LSETXATTR.invokeExact(ERRNO_SEG.get(), cstr(a, path), cstr(a, name), v,
                        (long) value.length, flags);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "lsetxattr", path + ", " + name);
        }
    }

    public static void fsetxattr(int fd, String name, byte[] value, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Math.max(1, value.length));
            MemorySegment.copy(value, 0, v, JAVA_BYTE, 0, value.length);
            int rc;
            try {
                rc = (int) FSETXATTR.invokeExact(ERRNO_SEG.get(), fd, cstr(a, name), v, (long) value.length, flags);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "fsetxattr", name);
        }
    }

    /** llistxattr: names in the order the fs gives them. */
    public static List<String> llistxattr(String path) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = cstr(a, path);
            long size;
            try {
                size = (long) LLISTXATTR.invokeExact(ERRNO_SEG.get(), p, MemorySegment.NULL, 0L);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            if (size < 0) {
                if (errno() == Errno.EOPNOTSUPP) return List.of();
                throw fail("llistxattr", path);
            }
            for (int attempt = 0; ; attempt++) {
                MemorySegment buf = a.allocate(Math.max(1, size + 256));
                long rc;
                try {
                    rc = (long) LLISTXATTR.invokeExact(ERRNO_SEG.get(), p, buf, size + 256);
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
                if (rc >= 0) return splitNames(buf, rc);
                if (errno() != Errno.ERANGE || attempt > 3) throw fail("llistxattr", path);
                size = size * 2 + 4096;
            }
        }
    }

    public static List<String> flistxattr(int fd) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(65536);
            long rc;
            try {
                rc = (long) FLISTXATTR.invokeExact(ERRNO_SEG.get(), fd, buf, 65536L);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "flistxattr", "fd " + fd);
            return splitNames(buf, rc);
        }
    }

    private static List<String> splitNames(MemorySegment buf, long len) {
        List<String> out = new ArrayList<>();
        byte[] b = buf.asSlice(0, len).toArray(JAVA_BYTE);
        int start = 0;
        for (int i = 0; i < b.length; i++) {
            if (b[i] == 0) {
                if (i > start) out.add(byteString(b, start, i - start));
                start = i + 1;
            }
        }
        return out;
    }

    public static void lremovexattr(String path, String name) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            int rc;
            try {
                rc = (int) LREMOVEXATTR.invokeExact(ERRNO_SEG.get(), cstr(a, path), cstr(a, name));
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "lremovexattr", path + ", " + name);
        }
    }

    public static void fremovexattr(int fd, String name) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            int rc;
            try {
                rc = (int) FREMOVEXATTR.invokeExact(ERRNO_SEG.get(), fd, cstr(a, name));
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "fremovexattr", name);
        }
    }

    // --- namespace ---------------------------------------------------------------------------------------------
    private static int callPath(MethodHandle h, String call, String what, Object... args) throws ErrnoException {
        int rc = (int) invoke(h, args);
        return check(rc, call, what);
    }

    public static void mknod(String path, int mode, long dev) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(MKNODAT, "mknod", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), mode, dev);
        }
    }

    /** Creates a 0/0 character device: an overlay whiteout. */
    public static void mkwhiteout(String path) throws ErrnoException {
        mknod(path, Stat.S_IFCHR, 0);
    }

    public static void mkdir(String path, int mode) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(MKDIRAT, "mkdir", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), mode);
        }
    }

    public static void symlink(String target, String linkPath) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(SYMLINKAT, "symlink", linkPath, ERRNO_SEG.get(), cstr(a, target), AT_FDCWD, cstr(a, linkPath));
        }
    }

    public static String readlink(String path) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(4097);
            long rc = (long) invoke(READLINKAT, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), buf, 4097L);
            check(rc, "readlink", path);
            return byteString(buf.asSlice(0, rc).toArray(JAVA_BYTE));
        }
    }

    /** Hard link (linkat, no flags: a symlink source is linked itself). */
    public static void link(String oldPath, String newPath) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(LINKAT, "link", oldPath + " -> " + newPath, ERRNO_SEG.get(), AT_FDCWD, cstr(a, oldPath),
                    AT_FDCWD, cstr(a, newPath), 0);
        }
    }

    /** Gives an O_TMPFILE (or any open fd) a name, through /proc/self/fd so no CAP_DAC_READ_SEARCH is needed. */
    public static void linkFd(int fd, String newPath) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(LINKAT, "linkat", "fd " + fd + " -> " + newPath, ERRNO_SEG.get(), AT_FDCWD,
                    cstr(a, "/proc/self/fd/" + fd), AT_FDCWD, cstr(a, newPath), AT_SYMLINK_FOLLOW);
        }
    }

    public static void unlink(String path) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(UNLINKAT, "unlink", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), 0);
        }
    }

    public static void rmdir(String path) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(UNLINKAT, "rmdir", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), AT_REMOVEDIR);
        }
    }

    /** renameat2 with RENAME_* flags. */
    public static void rename(String oldPath, String newPath, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(RENAMEAT2, "renameat2", oldPath + " -> " + newPath, ERRNO_SEG.get(), AT_FDCWD,
                    cstr(a, oldPath), AT_FDCWD, cstr(a, newPath), flags);
        }
    }

    // --- files -------------------------------------------------------------------------------------------------
    public static int open(String path, int flags, int mode) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            int rc;
            try {
                rc = (int) OPENAT.invokeExact(ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), flags | O_CLOEXEC, mode);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            return check(rc, "open", path);
        }
    }

    /** An unnamed regular file in directory {@code dir} (O_TMPFILE), to be named later with {@link #linkFd}. */
    public static int openTmpfile(String dir, int mode) throws ErrnoException {
        return open(dir, O_TMPFILE | O_RDWR, mode);
    }

    public static void close(int fd) throws ErrnoException {
        int rc;
        try {
            rc = (int) CLOSE.invokeExact(ERRNO_SEG.get(), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, "close", "fd " + fd);
    }

    /** Closes, ignoring errors: for cleanup paths. */
    public static void closeQuietly(int fd) {
        if (fd < 0) return;
        try {
            close(fd);
        } catch (ErrnoException ignored) {
            // cleanup only
        }
    }

    /** pread into a heap array (no copy: a critical call). Returns bytes read, 0 at EOF. */
    public static int pread(int fd, byte[] buf, int off, int len, long pos) throws ErrnoException {
        MemorySegment seg = MemorySegment.ofArray(buf).asSlice(off, len);
        long rc;
        try {
            rc = (long) PREAD.invokeExact(ERRNO_SEG.get(), fd, seg, (long) len, pos);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return (int) check(rc, "pread", "fd " + fd);
    }

    /** pwrite from a heap array (no copy). Returns bytes written. */
    public static int pwrite(int fd, byte[] buf, int off, int len, long pos) throws ErrnoException {
        MemorySegment seg = MemorySegment.ofArray(buf).asSlice(off, len);
        long rc;
        try {
            rc = (long) PWRITE.invokeExact(ERRNO_SEG.get(), fd, seg, (long) len, pos);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return (int) check(rc, "pwrite", "fd " + fd);
    }

    /** pread into any segment (heap or native). */
    public static long pread(int fd, MemorySegment seg, long pos) throws ErrnoException {
        long rc;
        try {
            rc = (long) PREAD.invokeExact(ERRNO_SEG.get(), fd, seg, seg.byteSize(), pos);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return check(rc, "pread", "fd " + fd);
    }

    /** pwrite from any segment (heap or native). */
    public static long pwrite(int fd, MemorySegment seg, long pos) throws ErrnoException {
        long rc;
        try {
            rc = (long) PWRITE.invokeExact(ERRNO_SEG.get(), fd, seg, seg.byteSize(), pos);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return check(rc, "pwrite", "fd " + fd);
    }

    /** read(2) into a native segment (blocking: use platform threads). */
    public static long read(int fd, MemorySegment buf) throws ErrnoException {
        long rc;
        try {
            rc = (long) READ.invokeExact(ERRNO_SEG.get(), fd, buf, buf.byteSize());
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return check(rc, "read", "fd " + fd);
    }

    /** write(2) from a native segment. */
    public static long write(int fd, MemorySegment buf) throws ErrnoException {
        long rc;
        try {
            rc = (long) WRITE.invokeExact(ERRNO_SEG.get(), fd, buf, buf.byteSize());
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return check(rc, "write", "fd " + fd);
    }

    /** writev(2) of native segments, in one call (one FUSE reply must be one write). */
    public static long writev(int fd, MemorySegment... parts) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment iov = a.allocate(16L * parts.length, 8);
            for (int i = 0; i < parts.length; i++) {
                iov.set(ADDRESS, 16L * i, parts[i]);
                iov.set(JAVA_LONG, 16L * i + 8, parts[i].byteSize());
            }
            long rc;
            try {
                rc = (long) WRITEV.invokeExact(ERRNO_SEG.get(), fd, iov, parts.length);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            return check(rc, "writev", "fd " + fd);
        }
    }

    /** copy_file_range with explicit offsets. Returns bytes copied (0 at EOF). */
    public static long copyFileRange(int fdIn, long offIn, int fdOut, long offOut, long len) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(JAVA_LONG), out = a.allocate(JAVA_LONG);
            in.set(JAVA_LONG, 0, offIn);
            out.set(JAVA_LONG, 0, offOut);
            long rc;
            try {
                rc = (long) COPY_FILE_RANGE.invokeExact(ERRNO_SEG.get(), fdIn, in, fdOut, out, len, 0);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            return check(rc, "copy_file_range", "fd " + fdIn + " -> fd " + fdOut);
        }
    }

    /** ioctl(FICLONE): share all of src's extents with dest (reflink). EOPNOTSUPP/EXDEV/EINVAL where unsupported. */
    public static void ficlone(int destFd, int srcFd) throws ErrnoException {
        int rc;
        try {
            rc = (int) IOCTL_LONG.invokeExact(ERRNO_SEG.get(), destFd, FICLONE, (long) srcFd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, "ioctl(FICLONE)", "fd " + srcFd + " -> fd " + destFd);
    }

    /** FS_IOC_GETFLAGS (chattr flags). */
    public static int getFlags(int fd) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            int rc;
            try {
                rc = (int) IOCTL_PTR.invokeExact(ERRNO_SEG.get(), fd, FS_IOC_GETFLAGS, v);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "ioctl(FS_IOC_GETFLAGS)", "fd " + fd);
            return v.get(JAVA_INT, 0);
        }
    }

    /** FS_IOC_SETFLAGS (chattr flags). */
    public static void setFlags(int fd, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            v.set(JAVA_INT, 0, flags);
            int rc;
            try {
                rc = (int) IOCTL_PTR.invokeExact(ERRNO_SEG.get(), fd, FS_IOC_SETFLAGS, v);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "ioctl(FS_IOC_SETFLAGS)", "fd " + fd);
        }
    }

    /** lseek; with SEEK_DATA/SEEK_HOLE, ENXIO means "no more data". */
    public static long lseek(int fd, long off, int whence) throws ErrnoException {
        long rc;
        try {
            rc = (long) LSEEK.invokeExact(ERRNO_SEG.get(), fd, off, whence);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return check(rc, "lseek", "fd " + fd);
    }

    public static void ftruncate(int fd, long len) throws ErrnoException {
        int rc;
        try {
            rc = (int) FTRUNCATE.invokeExact(ERRNO_SEG.get(), fd, len);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, "ftruncate", "fd " + fd);
    }

    public static void truncate(String path, long len) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            int rc;
            try {
                rc = (int) TRUNCATE.invokeExact(ERRNO_SEG.get(), cstr(a, path), len);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            check(rc, "truncate", path);
        }
    }

    public static void fsync(int fd) throws ErrnoException {
        int rc;
        try {
            rc = (int) FSYNC.invokeExact(ERRNO_SEG.get(), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, "fsync", "fd " + fd);
    }

    public static void fdatasync(int fd) throws ErrnoException {
        int rc;
        try {
            rc = (int) FDATASYNC.invokeExact(ERRNO_SEG.get(), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, "fdatasync", "fd " + fd);
    }

    public static void syncfs(int fd) throws ErrnoException {
        int rc;
        try {
            rc = (int) SYNCFS.invokeExact(ERRNO_SEG.get(), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, "syncfs", "fd " + fd);
    }

    public static void fallocate(int fd, int mode, long off, long len) throws ErrnoException {
        int rc;
        try {
            rc = (int) FALLOCATE.invokeExact(ERRNO_SEG.get(), fd, mode, off, len);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, "fallocate", "fd " + fd);
    }

    // --- attributes --------------------------------------------------------------------------------------------
    /**
     * utimensat; pass {@link #UTIME_NOW} or {@link #UTIME_OMIT} as nanoseconds for those meanings. With
     * {@code noFollow} a symlink's own times are set.
     */
    public static void utimens(String path, long aSec, long aNsec, long mSec, long mNsec, boolean noFollow)
            throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ts = a.allocate(32, 8);
            ts.set(JAVA_LONG, 0, aSec);
            ts.set(JAVA_LONG, 8, aNsec);
            ts.set(JAVA_LONG, 16, mSec);
            ts.set(JAVA_LONG, 24, mNsec);
            callPath(UTIMENSAT, "utimensat", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), ts,
                    noFollow ? AT_SYMLINK_NOFOLLOW : 0);
        }
    }

    public static void futimens(int fd, long aSec, long aNsec, long mSec, long mNsec) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ts = a.allocate(32, 8);
            ts.set(JAVA_LONG, 0, aSec);
            ts.set(JAVA_LONG, 8, aNsec);
            ts.set(JAVA_LONG, 16, mSec);
            ts.set(JAVA_LONG, 24, mNsec);
            int rc = (int) invoke(FUTIMENS, ERRNO_SEG.get(), fd, ts);
            check(rc, "futimens", "fd " + fd);
        }
    }

    /** chmod (follows symlinks, as Linux has no lchmod). */
    public static void chmod(String path, int mode) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(FCHMODAT, "chmod", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), mode, 0);
        }
    }

    public static void fchmod(int fd, int mode) throws ErrnoException {
        int rc = (int) invoke(FCHMOD, ERRNO_SEG.get(), fd, mode);
        check(rc, "fchmod", "fd " + fd);
    }

    /** lchown: -1 leaves a field as it is. */
    public static void lchown(String path, int uid, int gid) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(FCHOWNAT, "lchown", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), uid, gid,
                    AT_SYMLINK_NOFOLLOW);
        }
    }

    public static void fchown(int fd, int uid, int gid) throws ErrnoException {
        int rc = (int) invoke(FCHOWN, ERRNO_SEG.get(), fd, uid, gid);
        check(rc, "fchown", "fd " + fd);
    }

    // --- file handles ------------------------------------------------------------------------------------------
    /** name_to_handle_at(path, flags) not following a final symlink. Flags: 0 or {@link #AT_HANDLE_FID}. */
    public static FileHandle nameToHandle(String path, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fh = a.allocate(8 + MAX_HANDLE_SZ, 4);
            fh.set(JAVA_INT, 0, MAX_HANDLE_SZ);
            MemorySegment mnt = a.allocate(JAVA_INT);
            callPath(NAME_TO_HANDLE_AT, "name_to_handle_at", path, ERRNO_SEG.get(), AT_FDCWD, cstr(a, path), fh,
                    mnt, flags);
            int n = fh.get(JAVA_INT, 0);
            int type = fh.get(JAVA_INT, 4);
            return new FileHandle(type, fh.asSlice(8, n).toArray(JAVA_BYTE));
        }
    }

    /**
     * open_by_handle_at: {@code mountFd} is any fd on the filesystem the handle belongs to. Needs
     * CAP_DAC_READ_SEARCH. Use O_PATH for an fd that only names the object.
     */
    public static int openByHandle(int mountFd, FileHandle h, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            byte[] b = h.bytes();
            MemorySegment fh = a.allocate(8L + b.length, 4);
            fh.set(JAVA_INT, 0, b.length);
            fh.set(JAVA_INT, 4, h.type());
            MemorySegment.copy(b, 0, fh, JAVA_BYTE, 8, b.length);
            int rc = (int) invoke(OPEN_BY_HANDLE_AT, ERRNO_SEG.get(), mountFd, fh, flags | O_CLOEXEC);
            return check(rc, "open_by_handle_at", h.toString());
        }
    }

    /** The path an fd names now (readlink of /proc/self/fd/N); " (deleted)" when unlinked. */
    public static String fdPath(int fd) throws ErrnoException {
        return readlink("/proc/self/fd/" + fd);
    }

    // --- directories -------------------------------------------------------------------------------------------
    /** All entries of a directory, "." and ".." included, in getdents64 order. */
    public static List<DirEnt> readdir(String path) throws ErrnoException {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        try (Arena a = Arena.ofConfined()) {
            List<DirEnt> out = new ArrayList<>();
            MemorySegment buf = a.allocate(65536, 8);
            while (true) {
                long n;
                try {
                    n = (long) GETDENTS64.invokeExact(ERRNO_SEG.get(), fd, buf, 65536L);
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
                check(n, "getdents64", path);
                if (n == 0) return out;
                long pos = 0;
                while (pos < n) {
                    long ino = buf.get(JAVA_LONG, pos);
                    long off = buf.get(JAVA_LONG, pos + 8);
                    int reclen = buf.get(JAVA_SHORT, pos + 16) & 0xffff;
                    int type = buf.get(JAVA_BYTE, pos + 18) & 0xff;
                    long nameStart = pos + 19;
                    long end = nameStart;
                    while (buf.get(JAVA_BYTE, end) != 0) end++;
                    out.add(new DirEnt(byteString(buf.asSlice(nameStart, end - nameStart).toArray(JAVA_BYTE)),
                            ino, type, off));
                    pos += reclen;
                }
            }
        } finally {
            closeQuietly(fd);
        }
    }

    // --- filesystems -------------------------------------------------------------------------------------------
    public static StatFs statfs(String path) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment b = a.allocate(120, 8);
            callPath(STATFS, "statfs", path, ERRNO_SEG.get(), cstr(a, path), b);
            return new StatFs(b.get(JAVA_LONG, 0), b.get(JAVA_LONG, 8), b.get(JAVA_LONG, 16), b.get(JAVA_LONG, 24),
                    b.get(JAVA_LONG, 32), b.get(JAVA_LONG, 40), b.get(JAVA_LONG, 48), b.get(JAVA_INT, 56),
                    b.get(JAVA_INT, 60), b.get(JAVA_LONG, 64), b.get(JAVA_LONG, 72), b.get(JAVA_LONG, 80));
        }
    }

    public static void mount(String source, String target, String fstype, long flags, String data)
            throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(MOUNT, "mount", target, ERRNO_SEG.get(), cstr(a, source), cstr(a, target), cstr(a, fstype),
                    flags, data == null ? MemorySegment.NULL : cstr(a, data));
        }
    }

    public static void umount(String target, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            callPath(UMOUNT2, "umount2", target, ERRNO_SEG.get(), cstr(a, target), flags);
        }
    }

    public static final int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    /** flock(2); with LOCK_NB, EAGAIN (EWOULDBLOCK) when another holder has it. Works on directory fds. */
    public static void flock(int fd, int op) throws ErrnoException {
        int rc = (int) invoke(FLOCK, ERRNO_SEG.get(), fd, op);
        check(rc, "flock", "fd " + fd);
    }

    // --- process -----------------------------------------------------------------------------------------------
    public static int umask(int mask) {
        return (int) invoke(UMASK, ERRNO_SEG.get(), mask);
    }

    public static int geteuid() {
        return (int) invoke(GETEUID, ERRNO_SEG.get());
    }

    public static int getegid() {
        return (int) invoke(GETEGID, ERRNO_SEG.get());
    }

    /** setfsuid for the calling thread only; returns the previous value. */
    public static int setfsuid(int uid) {
        return (int) invoke(SETFSUID, ERRNO_SEG.get(), uid);
    }

    /** setfsgid for the calling thread only; returns the previous value. */
    public static int setfsgid(int gid) {
        return (int) invoke(SETFSGID, ERRNO_SEG.get(), gid);
    }

    // --- filesystem UUID (added for core.layer: the s_uuid the kernel overlay puts in fh blobs) ---------------
    /** FS_IOC_GETFSUUID = _IOR(0x15, 0, struct fsuuid2 { u8 len; u8 uuid[16]; }). */
    public static final long FS_IOC_GETFSUUID = 0x80111500L;

    /**
     * The filesystem's s_uuid through FS_IOC_GETFSUUID (Linux 6.5+), or null when the filesystem does not publish
     * one (ENOTTY: its s_uuid_len is 0, so its s_uuid is all zeros for overlay's purposes).
     */
    public static byte[] getFsUuid(int fd) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(17);
            v.set(JAVA_BYTE, 0, (byte) 16);
            int rc;
            try {
                rc = (int) IOCTL_PTR.invokeExact(ERRNO_SEG.get(), fd, FS_IOC_GETFSUUID, v);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            if (rc < 0 && errno() == 25 /* ENOTTY */) return null;
            check(rc, "ioctl(FS_IOC_GETFSUUID)", "fd " + fd);
            int len = v.get(JAVA_BYTE, 0) & 0xff;
            byte[] out = new byte[16];
            MemorySegment.copy(v, JAVA_BYTE, 1, out, 0, Math.min(len, 16));
            return out;
        }
    }
}
