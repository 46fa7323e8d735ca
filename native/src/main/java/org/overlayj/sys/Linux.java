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
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

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
            O_NOCTTY = 0400, O_TRUNC = 01000, O_APPEND = 02000, O_NONBLOCK = 04000, O_DSYNC = 010000, O_DIRECT = 040000,
            O_LARGEFILE = 0100000, O_DIRECTORY = 0200000, O_NOFOLLOW = 0400000, O_NOATIME = 01000000,
            O_CLOEXEC = 02000000, O_SYNC = 04010000, O_PATH = 010000000, O_TMPFILE = 020200000;
    public static final int RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2, RENAME_WHITEOUT = 4;
    public static final int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    public static final long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    public static final int SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;
    public static final int MNT_FORCE = 1, MNT_DETACH = 2;
    public static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;
    public static final long FICLONE = 0x40049409L, FS_IOC_GETFLAGS = 0x80086601L, FS_IOC_SETFLAGS = 0x40086602L,
            FS_IOC_FSGETXATTR = 0x801c581fL, FS_IOC_FSSETXATTR = 0x401c5820L;
    /** statx attributes (stx_attributes) that say how an inode is protected: chattr +i, chattr +a. */
    public static final long STATX_ATTR_IMMUTABLE = 0x10, STATX_ATTR_APPEND = 0x20;
    public static final int MAX_HANDLE_SZ = 128;

    // --- linking -----------------------------------------------------------------------------------------------
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /** How a downcall is linked: plain, critical (may take heap segments, must not block long), or variadic. */
    private sealed interface Kind permits Plain, Critical, Variadic {}
    private record Plain() implements Kind {}
    private record Critical() implements Kind {}
    /** A C variadic function: arguments from {@code first} on are passed the variadic way (x86-64: %al set). */
    private record Variadic(int first) implements Kind {}

    private static final Kind PLAIN = new Plain(), CRITICAL = new Critical();

    private static MethodHandle fn(String name, FunctionDescriptor fd, Kind kind) {
        MemorySegment sym = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        return switch (kind) {
            case Plain p -> LINKER.downcallHandle(sym, fd, capture);
            case Critical c -> LINKER.downcallHandle(sym, fd, capture, Linker.Option.critical(true));
            case Variadic v -> LINKER.downcallHandle(sym, fd, capture, Linker.Option.firstVariadicArg(v.first()));
        };
    }

    private static MethodHandle fn(String name, FunctionDescriptor fd) {
        return fn(name, fd, PLAIN);
    }

    // One holder class per function: a downcall handle is made when its function is first called, not when this
    // class is loaded. Making all sixty took 85-130 ms of a JVM's start (LambdaForms spun for each), paid by every
    // command even when it calls two of them; a server makes the rest on its prelink thread (see prelink()).
    // The handle stays a static final, so compiled callers still see a constant.
    private static final class Statx {
        static final MethodHandle H = fn("statx",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
    }
    private static final class Lgetxattr {
        static final MethodHandle H = fn("lgetxattr",
                FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    }
    private static final class Getxattr {
        static final MethodHandle H = fn("getxattr",
                FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    }
    private static final class Fgetxattr {
        static final MethodHandle H = fn("fgetxattr",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    }
    private static final class Lsetxattr {
        static final MethodHandle H = fn("lsetxattr",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    private static final class Fsetxattr {
        static final MethodHandle H = fn("fsetxattr",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    private static final class Llistxattr {
        static final MethodHandle H = fn("llistxattr", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
    }
    private static final class Listxattr {
        static final MethodHandle H = fn("listxattr", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
    }
    private static final class Flistxattr {
        static final MethodHandle H = fn("flistxattr", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class Lremovexattr {
        static final MethodHandle H = fn("lremovexattr", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    private static final class Fremovexattr {
        static final MethodHandle H = fn("fremovexattr", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }
    private static final class Mknodat {
        static final MethodHandle H = fn("mknodat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
    }
    private static final class Mkdirat {
        static final MethodHandle H = fn("mkdirat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Symlinkat {
        static final MethodHandle H = fn("symlinkat", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
    }
    private static final class Readlinkat {
        static final MethodHandle H = fn("readlinkat",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    }
    private static final class Linkat {
        static final MethodHandle H = fn("linkat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Unlinkat {
        static final MethodHandle H = fn("unlinkat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Renameat2 {
        static final MethodHandle H = fn("renameat2",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    }
    // openat(int, const char *, int, ...): the mode is a variadic argument.
    private static final class Openat {
        static final MethodHandle H = fn("openat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), new Variadic(3));
    }
    private static final class Close {
        static final MethodHandle H = fn("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    // Critical: heap arrays are passed without a copy. The GC waits while the call runs, which is fine for
    // page-cache I/O on local files; never use these on pipes, sockets or /dev/fuse.
    private static final class Pread {
        static final MethodHandle H = fn("pread",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), CRITICAL);
    }
    private static final class Pwrite {
        static final MethodHandle H = fn("pwrite",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), CRITICAL);
    }
    // The same calls for native memory, not critical: a read from a cold disk may block for long, and a critical
    // call holds up every safepoint (the garbage collector) meanwhile.
    private static final class PreadNative {
        static final MethodHandle H = fn("pread",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    }
    private static final class PwriteNative {
        static final MethodHandle H = fn("pwrite",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    }
    private static final class Mmap {
        static final MethodHandle H = fn("mmap",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    }
    private static final class Munmap {
        static final MethodHandle H = fn("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class Fadvise {
        static final MethodHandle H = fn("posix_fadvise",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT));
    }
    private static final class Madvise {
        static final MethodHandle H = fn("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    private static final class Read {
        static final MethodHandle H = fn("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class Write {
        static final MethodHandle H = fn("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class Writev {
        static final MethodHandle H = fn("writev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class CopyFileRange {
        static final MethodHandle H = fn("copy_file_range",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    // ioctl(int, unsigned long, ...): the argument is variadic.
    private static final class IoctlLong {
        static final MethodHandle H = fn("ioctl",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), new Variadic(2));
    }
    private static final class IoctlPtr {
        static final MethodHandle H = fn("ioctl",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), new Variadic(2));
    }
    private static final class Lseek {
        static final MethodHandle H = fn("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    }
    private static final class Ftruncate {
        static final MethodHandle H = fn("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    }
    private static final class Truncate {
        static final MethodHandle H = fn("truncate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class Fsync {
        static final MethodHandle H = fn("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Fdatasync {
        static final MethodHandle H = fn("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Syncfs {
        static final MethodHandle H = fn("syncfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Fallocate {
        static final MethodHandle H = fn("fallocate",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    }
    private static final class Utimensat {
        static final MethodHandle H = fn("utimensat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    }
    private static final class Futimens {
        static final MethodHandle H = fn("futimens", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }
    private static final class Fchmodat {
        static final MethodHandle H = fn("fchmodat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }
    private static final class Fchmod {
        static final MethodHandle H = fn("fchmod", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }
    private static final class Fchownat {
        static final MethodHandle H = fn("fchownat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    }
    private static final class Fchown {
        static final MethodHandle H = fn("fchown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    }
    private static final class NameToHandleAt {
        static final MethodHandle H = fn("name_to_handle_at",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT));
    }
    private static final class OpenByHandleAt {
        static final MethodHandle H = fn("open_by_handle_at",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Getdents64 {
        static final MethodHandle H = fn("getdents64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class Statfs {
        static final MethodHandle H = fn("statfs", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    private static final class Fstatfs {
        static final MethodHandle H = fn("fstatfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }
    private static final class Mount {
        static final MethodHandle H = fn("mount",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    }
    private static final class Umount2 {
        static final MethodHandle H = fn("umount2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Flock {
        static final MethodHandle H = fn("flock", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }
    private static final class Umask {
        static final MethodHandle H = fn("umask", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Geteuid {
        static final MethodHandle H = fn("geteuid", FunctionDescriptor.of(JAVA_INT));
    }
    private static final class Getegid {
        static final MethodHandle H = fn("getegid", FunctionDescriptor.of(JAVA_INT));
    }
    private static final class Setfsuid {
        static final MethodHandle H = fn("setfsuid", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Setfsgid {
        static final MethodHandle H = fn("setfsgid", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Setpriority {
        static final MethodHandle H = fn("setpriority", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    }

    // --- per-thread scratch memory ------------------------------------------------------------------------------
    /**
     * Native memory a thread reuses across calls: the errno capture slot and a bump area for C strings and small
     * structs. A confined arena per call costs more than the syscall for lstat, so hot calls take their buffers
     * from here instead. Each public method calls {@link #reset()} once, before any allocation, and must not call
     * another public method of this class while it still uses scratch memory (that call would reset it).
     * Memory comes from automatic arenas, so it goes away with the thread.
     */
    private static final class Scratch {
        // One arena per thread to start with: a thread that only ever lstats pays for one small allocation.
        private final Arena arena = Arena.ofAuto();
        final MemorySegment errno = arena.allocate(CAPTURE);
        /** statx's result as native-order words (see {@link Linux#statx}). */
        final long[] statxWords = new long[STATX_WORDS];
        private MemorySegment area = arena.allocate(1024, 16);
        private long used;

        Scratch reset() {
            used = 0;
            return this;
        }

        MemorySegment alloc(long size) {
            long at = (used + 15) & ~15L;
            if (at + size > area.byteSize()) {
                // Earlier slices stay valid: they keep their (automatic) arena reachable.
                area = Arena.ofAuto().allocate(Math.max(size, area.byteSize() * 2), 16);
                at = 0;
            }
            used = at + size;
            return area.asSlice(at, size);
        }

        /**
         * A byte string as a NUL-terminated C string. A NUL or a char above 0xff cannot be what the caller meant
         * (the first would cut the name, the second is not a byte string): EINVAL rather than a different name.
         */
        MemorySegment cstr(String s) throws ErrnoException {
            int n = s.length();
            for (int i = 0; i < n; i++) {
                char c = s.charAt(i);
                if (c == 0 || c > 0xff) {
                    throw new ErrnoException(Errno.EINVAL, (c == 0 ? "NUL in name: " : "not a byte string: ")
                            + s.replace('\0', '?'));
                }
            }
            MemorySegment m = alloc(n + 1L);
            MemorySegment.copy(s.getBytes(StandardCharsets.ISO_8859_1), 0, m, JAVA_BYTE, 0, n);
            m.set(JAVA_BYTE, n, (byte) 0);
            return m;
        }

        MemorySegment cstrOrNull(String s) throws ErrnoException {
            return s == null ? MemorySegment.NULL : cstr(s);
        }

        int errno() {
            return (int) ERRNO.get(errno, 0L);
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static Scratch scratch() {
        return SCRATCH.get().reset();
    }

    // --- helpers -----------------------------------------------------------------------------------------------
    private static ErrnoException fail(Scratch s, String call, String what) {
        return new ErrnoException(s.errno(), call + "(" + what + ")");
    }

    private static int check(Scratch s, int rc, String call, String what) throws ErrnoException {
        if (rc < 0) throw fail(s, call, what);
        return rc;
    }

    private static long check(Scratch s, long rc, String call, String what) throws ErrnoException {
        if (rc < 0) throw fail(s, call, what);
        return rc;
    }

    // As check, for a call on one descriptor: its "fd N" is made only when the call failed (a string built for every
    // read, write and close of a busy server was garbage and compiled code for nothing).
    private static int checkFd(Scratch s, int rc, String call, int fd) throws ErrnoException {
        if (rc < 0) throw fail(s, call, "fd " + fd);
        return rc;
    }

    private static long checkFd(Scratch s, long rc, String call, int fd) throws ErrnoException {
        if (rc < 0) throw fail(s, call, "fd " + fd);
        return rc;
    }

    // --- paths of any length --------------------------------------------------------------------------------------
    /** The kernel takes a path of fewer than PATH_MAX bytes (PATH_MAX with its NUL); a longer one is ENAMETOOLONG. */
    public static final int PATH_MAX = 4096;

    /** Room kept for "/proc/self/fd/N/" in front of a remainder that is handed to a call with no *at form. */
    private static final int PROC_FD_ROOM = 32;

    /**
     * A path too long for one call, opened up to its last part: {@code fd} (an O_PATH directory fd, closed by
     * {@link #close()}) and {@code rest}, relative to it and short enough for one call.
     */
    private record Far(int fd, String rest) implements AutoCloseable {
        /** The same object for a call that takes no directory fd: the kernel follows the fd's /proc link. */
        String procPath() {
            return "/proc/self/fd/" + fd + "/" + rest;
        }

        @Override public void close() {
            closeQuietly(fd);
        }
    }

    /**
     * Opens {@code path} (relative to {@code dirfd} unless absolute) up to its last part, in pieces each shorter
     * than {@code limit} bytes and cut at slashes. The kernel resolves each piece as it would have resolved the
     * whole path (symlinks inside followed, "..", mount points crossed), so a long path names what it would name
     * with no limit, and no path the engine builds fails for its length alone; a component longer than NAME_MAX
     * still gives ENAMETOOLONG, from the kernel. A trailing slash stays with the last part. Costs one openat per
     * piece, only for paths of PATH_MAX bytes or more.
     */
    private static Far far(int dirfd, String path, int limit) throws ErrnoException {
        int end = path.length();
        while (end > 0 && path.charAt(end - 1) == '/') end--;
        int pos = 0, fd = dirfd;
        boolean own = false;
        try {
            while (path.length() - pos >= limit) {
                int cut = path.lastIndexOf('/', Math.min(pos + limit - 1, end - 1));
                if (cut < pos) throw new ErrnoException(Errno.ENAMETOOLONG, "path of " + path.length() + " bytes: "
                        + abbreviated(path));
                String piece = cut == pos ? "/" : path.substring(pos, cut); // cut == pos: the root of an absolute path
                int next = openPiece(fd, piece, path);
                if (own) closeQuietly(fd);
                fd = next;
                own = true;
                pos = cut + 1;
                while (path.charAt(pos) == '/') pos++; // cut < end: a name follows
            }
            Far f = new Far(own ? fd : dupDir(fd, path), path.substring(pos));
            own = false;
            return f;
        } finally {
            if (own) closeQuietly(fd);
        }
    }

    private static Far far(int dirfd, String path) throws ErrnoException {
        return far(dirfd, path, PATH_MAX);
    }

    /** For calls with no *at form: a remainder that still fits behind "/proc/self/fd/N/". */
    private static Far farForProc(String path) throws ErrnoException {
        return far(AT_FDCWD, path, PATH_MAX - PROC_FD_ROOM);
    }

    /** Unreachable in practice (a path that needs no piece is not far); kept so a Far always owns its fd. */
    private static int dupDir(int dirfd, String path) throws ErrnoException {
        return openPiece(dirfd, ".", path);
    }

    private static int openPiece(int dirfd, String piece, String whole) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment p = s.cstr(piece);
        int rc;
        try {
            rc = (int) Openat.H.invokeExact(s.errno, dirfd, p, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "openat", "a piece of " + abbreviated(whole));
        return rc;
    }

    /** The head and length of a long path, for messages. */
    private static String abbreviated(String path) {
        return path.length() <= 200 ? path : path.substring(0, 100) + "...(" + path.length() + " bytes)..."
                + path.substring(path.length() - 60);
    }

    /** A downcall threw: only a bug in this class (a wrong handle type) gets here. */
    private static IllegalStateException bug(Throwable t) {
        return new IllegalStateException("native call failed: " + t, t);
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

    /** glibc's makedev: 12+20 bits of major, 8+24 bits of minor, both unsigned. */
    public static long makedev(int major, int minor) {
        long ma = Integer.toUnsignedLong(major), mi = Integer.toUnsignedLong(minor);
        return ((ma & 0xfffff000L) << 32) | ((ma & 0xfffL) << 8) | ((mi & 0xffffff00L) << 12) | (mi & 0xffL);
    }

    public static int major(long dev) {
        return (int) (((dev >>> 32) & 0xfffff000L) | ((dev >>> 8) & 0xfffL));
    }

    public static int minor(long dev) {
        return (int) (((dev >>> 12) & 0xffffff00L) | (dev & 0xffL));
    }

    // --- stat --------------------------------------------------------------------------------------------------
    private static final int STATX_BASIC_STATS = 0x7ff, STATX_MNT_ID = 0x1000;
    private static final long STATX_SIZE = 256;

    /** statx of a path, not following a final symlink. */
    public static Stat lstat(String path) throws ErrnoException {
        return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, false);
    }

    /** statx of a path, following symlinks. */
    public static Stat stat(String path) throws ErrnoException {
        return statx(AT_FDCWD, path, 0, false);
    }

    public static Stat fstat(int fd) throws ErrnoException {
        return statx(fd, "", AT_EMPTY_PATH, false);
    }

    /** lstat, or null when the name does not exist (ENOENT/ENOTDIR). Absence costs no exception. */
    public static Stat lstatOrNull(String path) throws ErrnoException {
        return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, true);
    }

    /** statx relative to {@code dirfd}, not following a final symlink. */
    public static Stat lstatat(int dirfd, String path) throws ErrnoException {
        return statx(dirfd, path, AT_SYMLINK_NOFOLLOW, false);
    }

    /** {@link #lstatat}, or null when the name does not exist (ENOENT/ENOTDIR). */
    public static Stat lstatatOrNull(int dirfd, String path) throws ErrnoException {
        return statx(dirfd, path, AT_SYMLINK_NOFOLLOW, true);
    }

    /**
     * The stx_attributes of a path that its filesystem reports (masked with stx_attributes_mask): e.g.
     * {@link #STATX_ATTR_IMMUTABLE}, {@link #STATX_ATTR_APPEND}. One statx, no open, where FS_IOC_GETFLAGS needs a
     * file descriptor. {@code follow}: follow a final symlink (a /proc/self/fd/N path), else not.
     */
    public static long statAttributes(String path, boolean follow) throws ErrnoException {
        int flags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
        if (path.length() >= PATH_MAX) {
            try (Far f = far(AT_FDCWD, path)) {
                return statxAttributes(f.fd(), f.rest(), flags);
            }
        }
        return statxAttributes(AT_FDCWD, path, flags);
    }

    private static long statxAttributes(int dirfd, String path, int flags) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), buf = s.alloc(STATX_SIZE);
        int rc;
        try {
            rc = (int) Statx.H.invokeExact(s.errno, dirfd, p, flags, 0, buf);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "statx", path);
        // stx_attributes at 8, stx_attributes_mask at 56
        return buf.get(JAVA_LONG, 8) & buf.get(JAVA_LONG, 56);
    }

    private static Stat statx(int dirfd, String path, int flags, boolean nullIfAbsent) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            Far f;
            try {
                f = far(dirfd, path);
            } catch (ErrnoException e) {
                if (nullIfAbsent && (e.errno() == Errno.ENOENT || e.errno() == Errno.ENOTDIR)) return null;
                throw e;
            }
            try (f) {
                return statx(f.fd(), f.rest(), flags, nullIfAbsent);
            }
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), buf = s.alloc(STATX_SIZE);
        int rc;
        try {
            rc = (int) Statx.H.invokeExact(s.errno, dirfd, p, flags, STATX_BASIC_STATS | STATX_MNT_ID, buf);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) {
            int e = s.errno();
            if (nullIfAbsent && (e == Errno.ENOENT || e == Errno.ENOTDIR)) return null;
            throw new ErrnoException(e, "statx(" + (path.isEmpty() ? "fd " + dirfd : path) + ")");
        }
        // struct statx: mask@0 blksize@4 attributes@8 nlink@16 uid@20 gid@24 mode(u16)@28 ino@32 size@40
        // blocks@48 attributes_mask@56 atime@64 btime@80 ctime@96 mtime@112 (each {s64 sec, u32 nsec, pad})
        // rdev_major@128 rdev_minor@132 dev_major@136 dev_minor@140 mnt_id@144
        // One bulk copy into longs, then plain shifts: nineteen segment reads made this, the most called method
        // of a walk, a 51 KB compiled method that C1 took 29 ms to make, and ran them interpreted until then.
        long[] w = s.statxWords;
        MemorySegment.copy(buf, JAVA_LONG, 0, w, 0, STATX_WORDS);
        return new Stat(
                LITTLE_ENDIAN ? u32(w, 28) & 0xffff : u32(w, 28) >>> 16, // stx_mode, a u16 at 28
                w[4],
                u32(w, 16),
                u32(w, 20),
                u32(w, 24),
                w[5],
                w[6],
                u32(w, 4),
                w[8], u32(w, 72),
                w[14], u32(w, 120),
                w[12], u32(w, 104),
                u32(w, 128), u32(w, 132),
                u32(w, 136), u32(w, 140),
                w[18]);
    }

    private static final int STATX_WORDS = 19; // up to and including mnt_id@144
    private static final boolean LITTLE_ENDIAN = java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN;

    /** The 32-bit field at byte offset {@code off} (4-aligned) of a struct copied into native-order longs. */
    private static int u32(long[] w, int off) {
        long v = w[off >>> 3];
        boolean high = (off & 4) != 0;
        return (int) (high == LITTLE_ENDIAN ? v >>> 32 : v);
    }

    // --- xattrs ------------------------------------------------------------------------------------------------
    /** Most values (overlay markers, redirects, origins) fit; larger ones are sized exactly on a second try. */
    private static final int XATTR_FIRST_TRY = 256;

    /**
     * Reads an xattr of {@code fd} (when {@code p} is null) or of path {@code p}, sizing the buffer to the value.
     * Returns null on failure, with the errno left in the scratch.
     */
    private static byte[] getxattr(Scratch s, int fd, MemorySegment p, MemorySegment n) {
        return getxattr(s, fd, p, n, false);
    }

    /** As above; {@code follow}: a final symlink of path {@code p} is followed (getxattr, not lgetxattr). */
    private static byte[] getxattr(Scratch s, int fd, MemorySegment p, MemorySegment n, boolean follow) {
        long size = XATTR_FIRST_TRY;
        for (int attempt = 0; attempt < 8; attempt++) {
            MemorySegment buf = s.alloc(Math.max(1, size));
            long rc = getxattr0(s, fd, p, n, buf, size, follow);
            if (rc >= 0) return buf.asSlice(0, rc).toArray(JAVA_BYTE);
            if (s.errno() != Errno.ERANGE) return null;
            // The value is larger than our buffer: ask its size, then read again (it may change in between).
            size = getxattr0(s, fd, p, n, MemorySegment.NULL, 0, follow);
            if (size < 0) return null;
        }
        return null; // still ERANGE: the value keeps growing under us
    }

    private static long getxattr0(Scratch s, int fd, MemorySegment p, MemorySegment n, MemorySegment buf,
                                  long size) {
        return getxattr0(s, fd, p, n, buf, size, false);
    }

    private static long getxattr0(Scratch s, int fd, MemorySegment p, MemorySegment n, MemorySegment buf,
                                  long size, boolean follow) {
        try {
            return p == null
                    ? (long) Fgetxattr.H.invokeExact(s.errno, fd, n, buf, size)
                    : follow ? (long) Getxattr.H.invokeExact(s.errno, p, n, buf, size)
                    : (long) Lgetxattr.H.invokeExact(s.errno, p, n, buf, size);
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /** lgetxattr of any size; throws ENODATA when the attribute is absent. */
    public static byte[] lgetxattr(String path, String name) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                return lgetxattr(f.procPath(), name);
            }
        }
        Scratch s = scratch();
        byte[] v = getxattr(s, -1, s.cstr(path), s.cstr(name));
        if (v == null) throw fail(s, "lgetxattr", path + ", " + name);
        return v;
    }

    /**
     * lgetxattr, or null when the attribute is absent (ENODATA) or the fs has no xattrs (ENOTSUP). Absence costs
     * no exception: the engine asks for absent markers on nearly every lookup.
     */
    public static byte[] lgetxattrOrNull(String path, String name) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                return lgetxattrOrNull(f.procPath(), name);
            }
        }
        Scratch s = scratch();
        byte[] v = getxattr(s, -1, s.cstr(path), s.cstr(name));
        if (v != null) return v;
        int e = s.errno();
        if (e == Errno.ENODATA || e == Errno.EOPNOTSUPP) return null;
        throw new ErrnoException(e, "lgetxattr(" + path + ", " + name + ")");
    }

    /**
     * getxattr, following a final symlink, or null when the attribute is absent (ENODATA) or the fs has no xattrs
     * (ENOTSUP). For a /proc/self/fd/N path: the object fd N names, an O_PATH fd's too (fgetxattr refuses those).
     */
    public static byte[] getxattrOrNull(String path, String name) throws ErrnoException {
        Scratch s = scratch();
        byte[] v = getxattr(s, -1, s.cstr(path), s.cstr(name), true);
        if (v != null) return v;
        int e = s.errno();
        if (e == Errno.ENODATA || e == Errno.EOPNOTSUPP) return null;
        throw new ErrnoException(e, "getxattr(" + path + ", " + name + ")");
    }

    /**
     * lgetxattr reading at most {@code max} bytes: ERANGE when the value is longer. Mirrors how the kernel reads
     * single-byte markers such as {@code opaque} (a longer value is not the marker).
     */
    public static byte[] lgetxattrLimited(String path, String name, int max) throws ErrnoException {
        if (max < 0) throw new IllegalArgumentException("max " + max);
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                return lgetxattrLimited(f.procPath(), name, max);
            }
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), n = s.cstr(name), buf = s.alloc(Math.max(1, max));
        long rc = getxattr0(s, -1, p, n, buf, max);
        if (rc < 0) throw fail(s, "lgetxattr", path + ", " + name);
        // With size 0 the kernel reports the value's length instead of reading it.
        if (rc > max) throw new ErrnoException(Errno.ERANGE, "lgetxattr(" + path + ", " + name + ")");
        return buf.asSlice(0, rc).toArray(JAVA_BYTE);
    }

    /** fgetxattr of any size; throws ENODATA when the attribute is absent. */
    public static byte[] fgetxattr(int fd, String name) throws ErrnoException {
        Scratch s = scratch();
        byte[] v = getxattr(s, fd, null, s.cstr(name));
        if (v == null) throw fail(s, "fgetxattr", "fd " + fd + ", " + name);
        return v;
    }

    private static MemorySegment valueOf(Scratch s, byte[] value) {
        MemorySegment v = s.alloc(Math.max(1, value.length));
        MemorySegment.copy(value, 0, v, JAVA_BYTE, 0, value.length);
        return v;
    }

    public static void lsetxattr(String path, String name, byte[] value, int flags) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                lsetxattr(f.procPath(), name, value, flags);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), n = s.cstr(name), v = valueOf(s, value);
        int rc;
        try {
            rc = (int) Lsetxattr.H.invokeExact(s.errno, p, n, v, (long) value.length, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "lsetxattr", path + ", " + name);
    }

    public static void fsetxattr(int fd, String name, byte[] value, int flags) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment n = s.cstr(name), v = valueOf(s, value);
        int rc;
        try {
            rc = (int) Fsetxattr.H.invokeExact(s.errno, fd, n, v, (long) value.length, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "fsetxattr", "fd " + fd + ", " + name);
    }

    private static long listxattr0(Scratch s, int fd, MemorySegment p, MemorySegment buf, long size,
                                   boolean follow) {
        try {
            return p == null
                    ? (long) Flistxattr.H.invokeExact(s.errno, fd, buf, size)
                    : follow ? (long) Listxattr.H.invokeExact(s.errno, p, buf, size)
                    : (long) Llistxattr.H.invokeExact(s.errno, p, buf, size);
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /** The names of fd's (p null) or p's xattrs, or null with errno in the scratch. Empty when not supported. */
    private static List<String> listxattr(Scratch s, int fd, MemorySegment p) {
        return listxattr(s, fd, p, false);
    }

    /** As above; {@code follow}: a final symlink of path {@code p} is followed (listxattr, not llistxattr). */
    private static List<String> listxattr(Scratch s, int fd, MemorySegment p, boolean follow) {
        long size = 1024;
        for (int attempt = 0; attempt < 8; attempt++) {
            MemorySegment buf = s.alloc(size);
            long rc = listxattr0(s, fd, p, buf, size, follow);
            if (rc >= 0) return splitNames(buf, rc);
            int e = s.errno();
            if (e == Errno.EOPNOTSUPP) return List.of();
            if (e != Errno.ERANGE) return null;
            size = listxattr0(s, fd, p, MemorySegment.NULL, 0, follow);
            if (size < 0) return null;
            size = Math.max(1, size);
        }
        return null;
    }

    /** llistxattr: names in the order the fs gives them; empty where the fs has no xattrs. */
    public static List<String> llistxattr(String path) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                return llistxattr(f.procPath());
            }
        }
        Scratch s = scratch();
        List<String> names = listxattr(s, -1, s.cstr(path));
        if (names == null) throw fail(s, "llistxattr", path);
        return names;
    }

    /**
     * listxattr, following a final symlink: for a /proc/self/fd/N path, the names of the object fd N names, an O_PATH
     * fd's too (flistxattr refuses those with EBADF). Empty where the fs has no xattrs.
     */
    public static List<String> listxattr(String path) throws ErrnoException {
        Scratch s = scratch();
        List<String> names = listxattr(s, -1, s.cstr(path), true);
        if (names == null) throw fail(s, "listxattr", path);
        return names;
    }

    // long syscall(SYS_listxattrat, int dfd, const char *path, unsigned at_flags, char *list, size_t size)
    private static final class SyscallListxattrat {
        static final MethodHandle H = fn("syscall", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS,
                JAVA_INT, ADDRESS, JAVA_LONG), new Variadic(1));
    }
    private static final long SYS_LISTXATTRAT = 465;       // the same number on every architecture (Linux 6.13)
    /** Set once listxattrat(2) was refused as unknown (ENOSYS; EPERM from a seccomp filter that does not know it). */
    private static volatile boolean noListxattrat;

    /**
     * The xattr names of {@code name} in directory {@code dirfd}, not following a final symlink: listxattrat(2)
     * (Linux 6.13), whose path walk is one name where llistxattr's is the whole path. Null where the kernel lacks
     * it: the caller asks llistxattr of the path. Empty where the fs has no xattrs.
     */
    public static List<String> llistxattratOrNull(int dirfd, String name) throws ErrnoException {
        if (noListxattrat || name.length() >= PATH_MAX) return null;
        Scratch s = scratch();
        MemorySegment p = s.cstr(name);
        long size = 1024;
        for (int attempt = 0; attempt < 8; attempt++) {
            MemorySegment buf = s.alloc(size);
            long rc = listxattrat0(s, dirfd, p, buf, size);
            if (rc >= 0) return splitNames(buf, rc);
            int e = s.errno();
            if (e == Errno.ENOSYS || e == Errno.EPERM) {
                noListxattrat = true;
                return null;
            }
            if (e == Errno.EOPNOTSUPP) return List.of();
            if (e != Errno.ERANGE) throw fail(s, "listxattrat", name);
            size = listxattrat0(s, dirfd, p, MemorySegment.NULL, 0);
            if (size < 0) throw fail(s, "listxattrat", name);
            size = Math.max(1, size);
        }
        throw fail(s, "listxattrat", name);
    }

    private static long listxattrat0(Scratch s, int dirfd, MemorySegment p, MemorySegment buf, long size) {
        try {
            return (long) SyscallListxattrat.H.invokeExact(s.errno, SYS_LISTXATTRAT, dirfd, p, AT_SYMLINK_NOFOLLOW,
                    buf, size);
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /** getxattr of any size, following a final symlink (see {@link #getxattrOrNull}); ENODATA when absent. */
    public static byte[] getxattr(String path, String name) throws ErrnoException {
        Scratch s = scratch();
        byte[] v = getxattr(s, -1, s.cstr(path), s.cstr(name), true);
        if (v == null) throw fail(s, "getxattr", path + ", " + name);
        return v;
    }

    /** flistxattr: names in the order the fs gives them; empty where the fs has no xattrs. */
    public static List<String> flistxattr(int fd) throws ErrnoException {
        Scratch s = scratch();
        List<String> names = listxattr(s, fd, null);
        if (names == null) throw fail(s, "flistxattr", "fd " + fd);
        return names;
    }

    private static List<String> splitNames(MemorySegment buf, long len) {
        if (len == 0) return List.of();     // most files: one of every lookup's answers, made with nothing to copy
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
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                lremovexattr(f.procPath(), name);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), n = s.cstr(name);
        int rc;
        try {
            rc = (int) Lremovexattr.H.invokeExact(s.errno, p, n);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "lremovexattr", path + ", " + name);
    }

    public static void fremovexattr(int fd, String name) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment n = s.cstr(name);
        int rc;
        try {
            rc = (int) Fremovexattr.H.invokeExact(s.errno, fd, n);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "fremovexattr", "fd " + fd + ", " + name);
    }

    // --- namespace ---------------------------------------------------------------------------------------------
    public static void mknod(String path, int mode, long dev) throws ErrnoException {
        mknodat(AT_FDCWD, path, mode, dev);
    }

    public static void mknodat(int dirfd, String path, int mode, long dev) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                mknodat(f.fd(), f.rest(), mode, dev);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int rc;
        try {
            rc = (int) Mknodat.H.invokeExact(s.errno, dirfd, p, mode, dev);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "mknod", path);
    }

    /** Creates a 0/0 character device: an overlay whiteout. */
    public static void mkwhiteout(String path) throws ErrnoException {
        mknod(path, Stat.S_IFCHR, 0);
    }

    public static void mkdir(String path, int mode) throws ErrnoException {
        mkdirat(AT_FDCWD, path, mode);
    }

    public static void mkdirat(int dirfd, String path, int mode) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                mkdirat(f.fd(), f.rest(), mode);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int rc;
        try {
            rc = (int) Mkdirat.H.invokeExact(s.errno, dirfd, p, mode);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "mkdir", path);
    }

    /** symlink; the target is stored as it is, and one of PATH_MAX bytes or more is ENAMETOOLONG, as in Linux. */
    public static void symlink(String target, String linkPath) throws ErrnoException {
        symlinkat(target, AT_FDCWD, linkPath);
    }

    public static void symlinkat(String target, int dirfd, String linkPath) throws ErrnoException {
        if (linkPath.length() >= PATH_MAX) {
            try (Far f = far(dirfd, linkPath)) {
                symlinkat(target, f.fd(), f.rest());
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment t0 = s.cstr(target), p = s.cstr(linkPath);
        int rc;
        try {
            rc = (int) Symlinkat.H.invokeExact(s.errno, t0, dirfd, p);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "symlink", linkPath);
    }

    /** PATH_MAX: the longest symlink target Linux stores is 4095 bytes. */
    private static final long READLINK_BUF = 4096;

    public static String readlink(String path) throws ErrnoException {
        return readlinkat(AT_FDCWD, path);
    }

    /**
     * linkat; a path of PATH_MAX bytes or more is opened up to its last part first (with AT_SYMLINK_FOLLOW the
     * old path's last part is still followed by the kernel, as the whole path would be).
     */
    public static void linkat(int olddirfd, String oldPath, int newdirfd, String newPath, int flags)
            throws ErrnoException {
        if (oldPath.length() >= PATH_MAX) {
            try (Far f = far(olddirfd, oldPath)) {
                linkat(f.fd(), f.rest(), newdirfd, newPath, flags);
            }
            return;
        }
        if (newPath.length() >= PATH_MAX) {
            try (Far f = far(newdirfd, newPath)) {
                linkat(olddirfd, oldPath, f.fd(), f.rest(), flags);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment o = s.cstr(oldPath), n = s.cstr(newPath);
        int rc;
        try {
            rc = (int) Linkat.H.invokeExact(s.errno, olddirfd, o, newdirfd, n, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "linkat", oldPath + " -> " + newPath);
    }

    /** Hard link (linkat, no flags: a symlink source is linked itself). */
    public static void link(String oldPath, String newPath) throws ErrnoException {
        linkat(AT_FDCWD, oldPath, AT_FDCWD, newPath, 0);
    }

    /**
     * Gives an O_TMPFILE (or any open fd) a name, through /proc/self/fd so no CAP_DAC_READ_SEARCH is needed.
     * An O_TMPFILE opened with O_EXCL cannot be named (ENOENT).
     */
    public static void linkFd(int fd, String newPath) throws ErrnoException {
        linkat(AT_FDCWD, "/proc/self/fd/" + fd, AT_FDCWD, newPath, AT_SYMLINK_FOLLOW);
    }

    /** unlinkat: flags 0 (unlink) or {@link #AT_REMOVEDIR} (rmdir). */
    public static void unlinkat(int dirfd, String path, int flags) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                unlinkat(f.fd(), f.rest(), flags);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int rc;
        try {
            rc = (int) Unlinkat.H.invokeExact(s.errno, dirfd, p, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, (flags & AT_REMOVEDIR) != 0 ? "rmdir" : "unlink", path);
    }

    public static void unlink(String path) throws ErrnoException {
        unlinkat(AT_FDCWD, path, 0);
    }

    public static void rmdir(String path) throws ErrnoException {
        unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
    }

    /** renameat2 with RENAME_* flags. */
    public static void rename(String oldPath, String newPath, int flags) throws ErrnoException {
        renameat(AT_FDCWD, oldPath, AT_FDCWD, newPath, flags);
    }

    /** renameat2 with RENAME_* flags, each path relative to its directory fd. */
    public static void renameat(int olddirfd, String oldPath, int newdirfd, String newPath, int flags)
            throws ErrnoException {
        if (oldPath.length() >= PATH_MAX) {
            try (Far f = far(olddirfd, oldPath)) {
                renameat(f.fd(), f.rest(), newdirfd, newPath, flags);
            }
            return;
        }
        if (newPath.length() >= PATH_MAX) {
            try (Far f = far(newdirfd, newPath)) {
                renameat(olddirfd, oldPath, f.fd(), f.rest(), flags);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment o = s.cstr(oldPath), n = s.cstr(newPath);
        int rc;
        try {
            rc = (int) Renameat2.H.invokeExact(s.errno, olddirfd, o, newdirfd, n, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "renameat2", oldPath + " -> " + newPath);
    }

    // --- files -------------------------------------------------------------------------------------------------
    /** openat(AT_FDCWD, ...); O_CLOEXEC is always added (no fd leaks into helper processes). */
    public static int open(String path, int flags, int mode) throws ErrnoException {
        return openat(AT_FDCWD, path, flags, mode);
    }

    /** openat; O_CLOEXEC is always added. */
    public static int openat(int dirfd, String path, int flags, int mode) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                return openat(f.fd(), f.rest(), flags, mode);
            }
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int rc;
        try {
            rc = (int) Openat.H.invokeExact(s.errno, dirfd, p, flags | O_CLOEXEC, mode);
        } catch (Throwable t) {
            throw bug(t);
        }
        return check(s, rc, "open", path);
    }

    /** An unnamed regular file in directory {@code dir} (O_TMPFILE), to be named later with {@link #linkFd}. */
    public static int openTmpfile(String dir, int mode) throws ErrnoException {
        return open(dir, O_TMPFILE | O_RDWR, mode);
    }

    public static void close(int fd) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Close.H.invokeExact(s.errno, fd);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "close", fd);
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
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Pread.H.invokeExact(s.errno, fd, seg, (long) len, pos);
        } catch (Throwable t) {
            throw bug(t);
        }
        return (int) checkFd(s, rc, "pread", fd);
    }

    /** pwrite from a heap array (no copy). Returns bytes written. */
    public static int pwrite(int fd, byte[] buf, int off, int len, long pos) throws ErrnoException {
        MemorySegment seg = MemorySegment.ofArray(buf).asSlice(off, len);
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Pwrite.H.invokeExact(s.errno, fd, seg, (long) len, pos);
        } catch (Throwable t) {
            throw bug(t);
        }
        return (int) checkFd(s, rc, "pwrite", fd);
    }

    /**
     * pread into any segment: native memory by a plain call (it may block on the disk without holding up the GC),
     * a heap segment by the critical one.
     */
    public static long pread(int fd, MemorySegment seg, long pos) throws ErrnoException {
        Scratch s = scratch();
        long rc;
        try {
            rc = seg.isNative() ? (long) PreadNative.H.invokeExact(s.errno, fd, seg, seg.byteSize(), pos)
                    : (long) Pread.H.invokeExact(s.errno, fd, seg, seg.byteSize(), pos);
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "pread", fd);
    }

    /** pwrite from any segment, as {@link #pread(int, MemorySegment, long)}. */
    public static long pwrite(int fd, MemorySegment seg, long pos) throws ErrnoException {
        Scratch s = scratch();
        long rc;
        try {
            rc = seg.isNative() ? (long) PwriteNative.H.invokeExact(s.errno, fd, seg, seg.byteSize(), pos)
                    : (long) Pwrite.H.invokeExact(s.errno, fd, seg, seg.byteSize(), pos);
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "pwrite", fd);
    }

    /** read(2) into a native segment (blocking: use platform threads). */
    public static long read(int fd, MemorySegment buf) throws ErrnoException {
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Read.H.invokeExact(s.errno, fd, buf, buf.byteSize());
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "read", fd);
    }

    /**
     * read(2) into a native segment with its errno returned negated rather than thrown: for a non-blocking
     * descriptor, where EAGAIN is an answer as common as data (an NFS connection between two calls).
     */
    public static long readOrErrno(int fd, MemorySegment buf) {
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Read.H.invokeExact(s.errno, fd, buf, buf.byteSize());
        } catch (Throwable t) {
            throw bug(t);
        }
        return rc >= 0 ? rc : -s.errno();
    }

    /** write(2) from a native segment. */
    public static long write(int fd, MemorySegment buf) throws ErrnoException {
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Write.H.invokeExact(s.errno, fd, buf, buf.byteSize());
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "write", fd);
    }

    /** writev(2) of native segments, in one call (one FUSE reply must be one write). */
    public static long writev(int fd, MemorySegment... parts) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment iov = s.alloc(16L * Math.max(1, parts.length));
        for (int i = 0; i < parts.length; i++) {
            if (!parts[i].isNative()) throw new IllegalArgumentException("writev takes native segments only");
            iov.set(ADDRESS, 16L * i, parts[i]);
            iov.set(JAVA_LONG, 16L * i + 8, parts[i].byteSize());
        }
        long rc;
        try {
            rc = (long) Writev.H.invokeExact(s.errno, fd, iov, parts.length);
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "writev", fd);
    }

    /** copy_file_range with explicit offsets. Returns bytes copied (0 at EOF). */
    public static long copyFileRange(int fdIn, long offIn, int fdOut, long offOut, long len) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment in = s.alloc(8), out = s.alloc(8);
        in.set(JAVA_LONG, 0, offIn);
        out.set(JAVA_LONG, 0, offOut);
        long rc;
        try {
            rc = (long) CopyFileRange.H.invokeExact(s.errno, fdIn, in, fdOut, out, len, 0);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "copy_file_range", "fd " + fdIn + " -> fd " + fdOut);
        return rc;
    }

    /** ioctl(FICLONE): share all of src's extents with dest (reflink). EOPNOTSUPP/EXDEV/EINVAL where unsupported. */
    public static void ficlone(int destFd, int srcFd) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) IoctlLong.H.invokeExact(s.errno, destFd, FICLONE, (long) srcFd);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "ioctl(FICLONE)", "fd " + srcFd + " -> fd " + destFd);
    }

    /** FUSE_DEV_IOC_BACKING_OPEN = _IOW(229, 1, struct fuse_backing_map), FUSE_DEV_IOC_BACKING_CLOSE = _IOW(229, 2, u32). */
    private static final long FUSE_DEV_IOC_BACKING_OPEN = 0x4010e501L, FUSE_DEV_IOC_BACKING_CLOSE = 0x4004e502L;

    /**
     * FUSE_DEV_IOC_BACKING_OPEN on a /dev/fuse fd (FUSE passthrough, Linux 6.9): registers the file {@code fd} is
     * open on as a backing file and returns its id (struct fuse_backing_map {s32 fd; u32 flags; u64 padding}).
     * Needs CAP_SYS_ADMIN and a mount that negotiated FUSE_PASSTHROUGH.
     */
    public static int fuseBackingOpen(int devFd, int fd) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment m = s.alloc(16);
        m.fill((byte) 0);
        m.set(JAVA_INT, 0, fd);
        int rc;
        try {
            rc = (int) IoctlPtr.H.invokeExact(s.errno, devFd, FUSE_DEV_IOC_BACKING_OPEN, m);
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "ioctl(FUSE_DEV_IOC_BACKING_OPEN)", fd);
    }

    /** FUSE_DEV_IOC_BACKING_CLOSE: the id is no longer valid for new opens; files opened with it keep their backing. */
    public static void fuseBackingClose(int devFd, int id) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment m = s.alloc(8);
        m.set(JAVA_INT, 0, id);
        int rc;
        try {
            rc = (int) IoctlPtr.H.invokeExact(s.errno, devFd, FUSE_DEV_IOC_BACKING_CLOSE, m);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "ioctl(FUSE_DEV_IOC_BACKING_CLOSE)", "id " + id);
    }

    /** FS_IOC_GETFLAGS (chattr flags). The kernel reads and writes an int despite the ioctl's declared long. */
    public static int getFlags(int fd) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment v = s.alloc(8);
        v.set(JAVA_LONG, 0, 0L);
        int rc;
        try {
            rc = (int) IoctlPtr.H.invokeExact(s.errno, fd, FS_IOC_GETFLAGS, v);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "ioctl(FS_IOC_GETFLAGS)", fd);
        return v.get(JAVA_INT, 0);
    }

    /** FS_IOC_SETFLAGS (chattr flags). */
    public static void setFlags(int fd, int flags) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment v = s.alloc(8);
        v.set(JAVA_LONG, 0, 0L);
        v.set(JAVA_INT, 0, flags);
        int rc;
        try {
            rc = (int) IoctlPtr.H.invokeExact(s.errno, fd, FS_IOC_SETFLAGS, v);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "ioctl(FS_IOC_SETFLAGS)", fd);
    }

    /** FS_IOC_FSGETXATTR: the extended flags, extent size hints and project id ({@link Fsxattr}). */
    public static Fsxattr fsGetXattr(int fd) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment v = s.alloc(Fsxattr.SIZE);
        v.fill((byte) 0);
        int rc;
        try {
            rc = (int) IoctlPtr.H.invokeExact(s.errno, fd, FS_IOC_FSGETXATTR, v);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "ioctl(FS_IOC_FSGETXATTR)", fd);
        return Fsxattr.of(v.toArray(JAVA_BYTE));
    }

    /** FS_IOC_FSSETXATTR. */
    public static void fsSetXattr(int fd, Fsxattr x) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment v = s.alloc(Fsxattr.SIZE);
        MemorySegment.copy(x.bytes(), 0, v, JAVA_BYTE, 0, Fsxattr.SIZE);
        int rc;
        try {
            rc = (int) IoctlPtr.H.invokeExact(s.errno, fd, FS_IOC_FSSETXATTR, v);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "ioctl(FS_IOC_FSSETXATTR)", fd);
    }

    /** lseek; with SEEK_DATA/SEEK_HOLE, ENXIO means "no more data". */
    public static long lseek(int fd, long off, int whence) throws ErrnoException {
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Lseek.H.invokeExact(s.errno, fd, off, whence);
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "lseek", fd);
    }

    public static void ftruncate(int fd, long len) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Ftruncate.H.invokeExact(s.errno, fd, len);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "ftruncate", fd);
    }

    public static void truncate(String path, long len) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                truncate(f.procPath(), len);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int rc;
        try {
            rc = (int) Truncate.H.invokeExact(s.errno, p, len);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "truncate", path);
    }

    private static void fdCall(MethodHandle h, int fd, String call) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) h.invokeExact(s.errno, fd);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, call, fd);
    }

    public static void fsync(int fd) throws ErrnoException {
        fdCall(Fsync.H, fd, "fsync");
    }

    public static void fdatasync(int fd) throws ErrnoException {
        fdCall(Fdatasync.H, fd, "fdatasync");
    }

    public static void syncfs(int fd) throws ErrnoException {
        fdCall(Syncfs.H, fd, "syncfs");
    }

    public static void fallocate(int fd, int mode, long off, long len) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Fallocate.H.invokeExact(s.errno, fd, mode, off, len);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "fallocate", fd);
    }

    // --- memory -------------------------------------------------------------------------------------------------
    private static final int PROT_READ_WRITE = 3, MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    /** madvise(2): back the range with transparent huge pages where it can (when THP is "madvise" or "always"). */
    public static final int MADV_HUGEPAGE = 14;

    /**
     * Anonymous private memory of {@code size} bytes, page-aligned, zero and not yet backed: nothing is allocated
     * until the memory is first written (by the program or by the kernel, as a read into it does). Free with
     * {@link #unmapAnonymous}.
     */
    public static MemorySegment mapAnonymous(long size) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment p;
        try {
            p = (MemorySegment) Mmap.H.invokeExact(s.errno, MemorySegment.NULL, size, PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (p.address() == -1L) throw fail(s, "mmap", size + " bytes");
        return p.reinterpret(size);
    }

    /** munmap(2) of what {@link #mapAnonymous} gave (it fails only for an address that was not mapped: a bug). */
    public static void unmapAnonymous(MemorySegment m) {
        Scratch s = scratch();
        try {
            int ignored = (int) Munmap.H.invokeExact(s.errno, m, m.byteSize());
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /**
     * posix_fadvise(POSIX_FADV_DONTNEED) of the whole of {@code fd}: its clean pages leave the page cache, so that
     * the next read of it goes to the disk (tests of what a cold read does).
     */
    public static void dropCachedPages(int fd) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Fadvise.H.invokeExact(s.errno, fd, 0L, 0L, 4 /* POSIX_FADV_DONTNEED */);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc != 0) throw new ErrnoException(rc, "posix_fadvise DONTNEED of fd " + fd);
    }

    /** madvise(2) of a page-aligned part of a mapping. */
    public static void madvise(MemorySegment m, int advice) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Madvise.H.invokeExact(s.errno, m, m.byteSize(), advice);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "madvise", m.byteSize() + " bytes");
    }

    // long syscall(long, ...): for calls glibc has no wrapper of; the arguments are variadic.
    private static final class SyscallCachestat {
        static final MethodHandle H = fn("syscall",
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), new Variadic(1));
    }
    private static final long SYS_CACHESTAT = 451;

    /**
     * cachestat(2) (Linux 6.5): how many pages of {@code fd}'s bytes [off, off+len) are in the page cache
     * (len 0: to the end). ENOSYS on older kernels.
     */
    public static long cachedPages(int fd, long off, long len) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment range = s.alloc(16);
        range.set(JAVA_LONG, 0, off);
        range.set(JAVA_LONG, 8, len);
        MemorySegment stat = s.alloc(40);           // nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted
        long rc;
        try {
            rc = (long) SyscallCachestat.H.invokeExact(s.errno, SYS_CACHESTAT, fd, range, stat, 0);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "cachestat", fd);
        return stat.get(JAVA_LONG, 0);
    }

    /**
     * Whether every page that [off, off+len) touches (len > 0) is in the page cache (cachestat(2); ENOSYS before
     * Linux 6.5).
     */
    public static boolean allCached(int fd, long off, long len) throws ErrnoException {
        long pages = (off + len + 4095) / 4096 - off / 4096;
        return cachedPages(fd, off, len) >= pages;
    }

    // --- attributes --------------------------------------------------------------------------------------------
    /** struct timespec[2] {atime, mtime}. */
    private static MemorySegment times(Scratch s, long aSec, long aNsec, long mSec, long mNsec) {
        MemorySegment ts = s.alloc(32);
        ts.set(JAVA_LONG, 0, aSec);
        ts.set(JAVA_LONG, 8, aNsec);
        ts.set(JAVA_LONG, 16, mSec);
        ts.set(JAVA_LONG, 24, mNsec);
        return ts;
    }

    /**
     * utimensat; pass {@link #UTIME_NOW} or {@link #UTIME_OMIT} as nanoseconds for those meanings. With
     * {@code noFollow} a symlink's own times are set.
     */
    public static void utimens(String path, long aSec, long aNsec, long mSec, long mNsec, boolean noFollow)
            throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(AT_FDCWD, path)) {
                utimensat(f.fd(), f.rest(), aSec, aNsec, mSec, mNsec, noFollow);
            }
            return;
        }
        utimensat(AT_FDCWD, path, aSec, aNsec, mSec, mNsec, noFollow);
    }

    private static void utimensat(int dirfd, String path, long aSec, long aNsec, long mSec, long mNsec,
                                  boolean noFollow) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), ts = times(s, aSec, aNsec, mSec, mNsec);
        int rc;
        try {
            rc = (int) Utimensat.H.invokeExact(s.errno, dirfd, p, ts, noFollow ? AT_SYMLINK_NOFOLLOW : 0);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "utimensat", path);
    }

    public static void futimens(int fd, long aSec, long aNsec, long mSec, long mNsec) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment ts = times(s, aSec, aNsec, mSec, mNsec);
        int rc;
        try {
            rc = (int) Futimens.H.invokeExact(s.errno, fd, ts);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "futimens", fd);
    }

    /** chmod (follows symlinks, as Linux has no lchmod). */
    public static void chmod(String path, int mode) throws ErrnoException {
        chmodat(AT_FDCWD, path, mode);
    }

    private static void chmodat(int dirfd, String path, int mode) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                chmodat(f.fd(), f.rest(), mode);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int rc;
        try {
            rc = (int) Fchmodat.H.invokeExact(s.errno, dirfd, p, mode, 0);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "chmod", path);
    }

    public static void fchmod(int fd, int mode) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Fchmod.H.invokeExact(s.errno, fd, mode);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "fchmod", fd);
    }

    /** lchown: -1 leaves a field as it is. */
    public static void lchown(String path, int uid, int gid) throws ErrnoException {
        lchownat(AT_FDCWD, path, uid, gid);
    }

    private static void lchownat(int dirfd, String path, int uid, int gid) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                lchownat(f.fd(), f.rest(), uid, gid);
            }
            return;
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int rc;
        try {
            rc = (int) Fchownat.H.invokeExact(s.errno, dirfd, p, uid, gid, AT_SYMLINK_NOFOLLOW);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "lchown", path);
    }

    public static void fchown(int fd, int uid, int gid) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Fchown.H.invokeExact(s.errno, fd, uid, gid);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "fchown", fd);
    }

    // --- file handles ------------------------------------------------------------------------------------------
    /** name_to_handle_at(path, flags) not following a final symlink. Flags: 0 or {@link #AT_HANDLE_FID}. */
    public static FileHandle nameToHandle(String path, int flags) throws ErrnoException {
        return nameToHandleAt(AT_FDCWD, path, flags);
    }

    /** name_to_handle_at relative to {@code dirfd}, not following a final symlink. */
    public static FileHandle nameToHandleAt(int dirfd, String path, int flags) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                return nameToHandleAt(f.fd(), f.rest(), flags);
            }
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        // struct file_handle { u32 handle_bytes; int handle_type; unsigned char f_handle[]; }
        MemorySegment fh = s.alloc(8 + MAX_HANDLE_SZ), mnt = s.alloc(4);
        fh.set(JAVA_INT, 0, MAX_HANDLE_SZ);
        int rc;
        try {
            rc = (int) NameToHandleAt.H.invokeExact(s.errno, dirfd, p, fh, mnt, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "name_to_handle_at", path);
        int n = fh.get(JAVA_INT, 0);
        int type = fh.get(JAVA_INT, 4);
        return new FileHandle(type, fh.asSlice(8, n).toArray(JAVA_BYTE));
    }

    /**
     * open_by_handle_at: {@code mountFd} is any fd on the filesystem the handle belongs to. Needs
     * CAP_DAC_READ_SEARCH. Use O_PATH for an fd that only names the object. ESTALE once the object is gone.
     */
    public static int openByHandle(int mountFd, FileHandle h, int flags) throws ErrnoException {
        Scratch s = scratch();
        byte[] b = h.bytes();
        MemorySegment fh = s.alloc(8L + b.length);
        fh.set(JAVA_INT, 0, b.length);
        fh.set(JAVA_INT, 4, h.type());
        MemorySegment.copy(b, 0, fh, JAVA_BYTE, 8, b.length);
        int rc;
        try {
            rc = (int) OpenByHandleAt.H.invokeExact(s.errno, mountFd, fh, flags | O_CLOEXEC);
        } catch (Throwable t) {
            throw bug(t);
        }
        return check(s, rc, "open_by_handle_at", h.toString());
    }

    /**
     * The path an fd names now (readlink of /proc/self/fd/N); " (deleted)" when unlinked. The kernel gives
     * ENAMETOOLONG for a path of PATH_MAX bytes or more: a directory's path is then found through its ancestors;
     * a non-directory's stays ENAMETOOLONG (it has no "..", and its name is known only to the kernel).
     */
    public static String fdPath(int fd) throws ErrnoException {
        try {
            return readlink("/proc/self/fd/" + fd);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENAMETOOLONG) throw e;
            return longDirPath(fd, e);
        }
    }

    /**
     * {@link #fdPath}, or "/" where the kernel cannot name the object (a non-directory whose path is PATH_MAX
     * bytes or more): the link a disconnected dentry shows, which callers already take for "no name known".
     */
    public static String fdPathOrRoot(int fd) throws ErrnoException {
        try {
            return fdPath(fd);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENAMETOOLONG) throw e;
            return "/";
        }
    }

    /**
     * Goes up through ".." from directory {@code fd}, naming each step by the parent's entry that is the child
     * (same device and inode), until an ancestor's /proc link is short enough to read.
     */
    private static String longDirPath(int fd, ErrnoException tooLong) throws ErrnoException {
        Stat st = fstat(fd);
        if (!st.isDir()) throw tooLong;
        java.util.ArrayDeque<String> names = new java.util.ArrayDeque<>();
        int cur = openat(fd, ".", O_PATH | O_DIRECTORY, 0);
        try {
            while (true) {
                int parent = openat(cur, "..", O_RDONLY | O_DIRECTORY, 0);
                Stat pst = fstat(parent);
                String name = pst.dev() == st.dev() && pst.ino() == st.ino() ? null : nameIn(parent, st);
                closeQuietly(cur);
                cur = parent;
                if (name == null) throw tooLong; // at the root, or the child is gone from its parent (removed)
                names.push(name);
                st = pst;
                String head;
                try {
                    head = readlink("/proc/self/fd/" + cur);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.ENAMETOOLONG) throw e;
                    continue;
                }
                if (head.endsWith(" (deleted)")) throw tooLong;
                return (head.equals("/") ? "" : head) + "/" + String.join("/", names);
            }
        } finally {
            closeQuietly(cur);
        }
    }

    /** The name under which directory {@code dirfd} holds the object {@code child}, or null. */
    private static String nameIn(int dirfd, Stat child) throws ErrnoException {
        List<DirEnt> entries = readdirFd(dirfd, "fd " + dirfd);
        // Usually the entry's d_ino is the child's; not where the child is a mount's root (it covers the entry).
        for (int pass = 0; pass < 2; pass++) {
            for (DirEnt e : entries) {
                if (e.name().equals(".") || e.name().equals("..")) continue;
                if (pass == 0 ? e.ino() != child.ino()
                        : e.type() != DirEnt.DT_DIR && e.type() != DirEnt.DT_UNKNOWN) continue;
                Stat s = statx(dirfd, e.name(), AT_SYMLINK_NOFOLLOW, true);
                if (s != null && s.dev() == child.dev() && s.ino() == child.ino()) return e.name();
            }
        }
        return null;
    }

    // --- directories -------------------------------------------------------------------------------------------
    private static final long DIRENT_BUF = 32768;

    /** All entries of a directory, "." and ".." included, in getdents64 order. Does not follow a final symlink. */
    public static List<DirEnt> readdir(String path) throws ErrnoException {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        try {
            return readdirFd(fd, path);
        } finally {
            closeQuietly(fd);
        }
    }

    /** The entries of an open directory {@code fd}, read from its current position to the end. */
    public static List<DirEnt> readdir(int fd) throws ErrnoException {
        return readdirFd(fd, "fd " + fd);
    }

    /** The entries of an open directory, read from its current position to the end. */
    private static List<DirEnt> readdirFd(int fd, String what) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment buf = s.alloc(DIRENT_BUF);
        List<DirEnt> out = new ArrayList<>();
        while (true) {
            long n;
            try {
                n = (long) Getdents64.H.invokeExact(s.errno, fd, buf, DIRENT_BUF);
            } catch (Throwable t) {
                throw bug(t);
            }
            check(s, n, "getdents64", what);
            if (n == 0) return out;
            parseDirents(buf.asSlice(0, n).toArray(JAVA_BYTE), out);
        }
    }

    /**
     * struct linux_dirent64 records: u64 d_ino @0, s64 d_off @8, u16 d_reclen @16, u8 d_type @18, name @19
     * NUL-terminated and padded to d_reclen (8-aligned).
     */
    static void parseDirents(byte[] b, List<DirEnt> out) {
        MemorySegment m = MemorySegment.ofArray(b);
        int pos = 0;
        while (pos + 19 <= b.length) {
            long ino = m.get(JAVA_LONG_UNALIGNED, pos);
            long off = m.get(JAVA_LONG_UNALIGNED, pos + 8);
            int reclen = m.get(JAVA_SHORT_UNALIGNED, pos + 16) & 0xffff;
            int type = b[pos + 18] & 0xff;
            if (reclen < 20 || pos + reclen > b.length) {
                throw new IllegalStateException("corrupt getdents64 record at " + pos + ", reclen " + reclen);
            }
            int end = pos + 19, limit = pos + reclen;
            while (end < limit && b[end] != 0) end++;
            out.add(new DirEnt(byteString(b, pos + 19, end - pos - 19), ino, type, off));
            pos += reclen;
        }
    }

    // --- filesystems -------------------------------------------------------------------------------------------
    /**
     * struct statfs (x86-64): type@0 bsize@8 blocks@16 bfree@24 bavail@32 files@40 ffree@48 fsid@56 (2 ints)
     * namelen@64 frsize@72 flags@80 spare[4]; 120 bytes.
     */
    private static StatFs statFsOf(MemorySegment b) {
        return new StatFs(b.get(JAVA_LONG, 0), b.get(JAVA_LONG, 8), b.get(JAVA_LONG, 16), b.get(JAVA_LONG, 24),
                b.get(JAVA_LONG, 32), b.get(JAVA_LONG, 40), b.get(JAVA_LONG, 48), b.get(JAVA_INT, 56),
                b.get(JAVA_INT, 60), b.get(JAVA_LONG, 64), b.get(JAVA_LONG, 72), b.get(JAVA_LONG, 80));
    }

    public static StatFs statfs(String path) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = farForProc(path)) {
                return statfs(f.procPath());
            }
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), b = s.alloc(120);
        int rc;
        try {
            rc = (int) Statfs.H.invokeExact(s.errno, p, b);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "statfs", path);
        return statFsOf(b);
    }

    public static StatFs fstatfs(int fd) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment b = s.alloc(120);
        int rc;
        try {
            rc = (int) Fstatfs.H.invokeExact(s.errno, fd, b);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "fstatfs", fd);
        return statFsOf(b);
    }

    /** mount(2). {@code source}, {@code fstype} and {@code data} may be null (bind mounts, remounts). */
    public static void mount(String source, String target, String fstype, long flags, String data)
            throws ErrnoException {
        Scratch s = scratch();
        MemorySegment src = s.cstrOrNull(source), tgt = s.cstr(target), type = s.cstrOrNull(fstype),
                d = s.cstrOrNull(data);
        int rc;
        try {
            rc = (int) Mount.H.invokeExact(s.errno, src, tgt, type, flags, d);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "mount", target);
    }

    public static void umount(String target, int flags) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment tgt = s.cstr(target);
        int rc;
        try {
            rc = (int) Umount2.H.invokeExact(s.errno, tgt, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "umount2", target);
    }

    public static final int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    /** flock(2); with LOCK_NB, EAGAIN (EWOULDBLOCK) when another holder has it. Works on directory fds. */
    public static void flock(int fd, int op) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) Flock.H.invokeExact(s.errno, fd, op);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "flock", fd);
    }

    // --- process -----------------------------------------------------------------------------------------------
    private static int intCall(MethodHandle h, int arg) {
        try {
            return (int) h.invokeExact(SCRATCH.get().errno, arg);
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    private static int intCall(MethodHandle h) {
        try {
            return (int) h.invokeExact(SCRATCH.get().errno);
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /** umask(2): sets the process-wide mask, returns the previous one. */
    public static int umask(int mask) {
        return intCall(Umask.H, mask);
    }

    public static int geteuid() {
        return intCall(Geteuid.H);
    }

    public static int getegid() {
        return intCall(Getegid.H);
    }

    /**
     * The calling thread's nice value to 19, the lowest priority (on Linux, setpriority(PRIO_PROCESS, 0) acts on
     * the calling thread only): for background work that must not take CPU from requests. Best effort.
     */
    public static void lowerThreadPriority() {
        try {
            int ignored = (int) Setpriority.H.invokeExact(SCRATCH.get().errno, 0 /* PRIO_PROCESS */, 0, 19);
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /**
     * setfsuid for the calling thread only; returns the previous value. Only meaningful on a platform thread: a
     * virtual thread may continue on another carrier, which keeps the credential.
     */
    public static int setfsuid(int uid) {
        return intCall(Setfsuid.H, uid);
    }

    /** setfsgid for the calling thread only; returns the previous value. Platform threads only, as setfsuid. */
    public static int setfsgid(int gid) {
        return intCall(Setfsgid.H, gid);
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
            Scratch s = scratch();
            int rc;
            try {
                rc = (int) IoctlPtr.H.invokeExact(s.errno, fd, FS_IOC_GETFSUUID, v);
            } catch (Throwable t) {
                throw bug(t);
            }
            if (rc < 0 && s.errno() == 25 /* ENOTTY */) return null;
            checkFd(s, rc, "ioctl(FS_IOC_GETFSUUID)", fd);
            int len = v.get(JAVA_BYTE, 0) & 0xff;
            byte[] out = new byte[16];
            MemorySegment.copy(v, JAVA_BYTE, 1, out, 0, Math.min(len, 16));
            return out;
        }
    }

    // --- private noatime mounts (added for core: reading lower symlinks without touching their atime) ----------
    private static final class OpenTree {
        static final MethodHandle H = fn("open_tree", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class MountSetattr {
        static final MethodHandle H = fn("mount_setattr",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    public static final int OPEN_TREE_CLONE = 1, OPEN_TREE_CLOEXEC = 02000000;
    public static final long MOUNT_ATTR_NOATIME = 0x10, MOUNT_ATTR__ATIME = 0x70;

    /**
     * A detached clone of the mount at {@code path} (open_tree OPEN_TREE_CLONE, not recursive) with noatime set
     * (mount_setattr): readlink through it leaves the inode's atime alone, as the kernel overlay's in-kernel reads
     * do. Needs CAP_SYS_ADMIN (EPERM otherwise). Closing the fd unmounts it.
     */
    public static int openTreeNoatime(String path) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment p = s.cstr(path);
        int fd;
        try {
            fd = (int) OpenTree.H.invokeExact(s.errno, AT_FDCWD, p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, fd, "open_tree", path);
        MemorySegment attr = s.alloc(32); // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
        attr.fill((byte) 0);
        attr.set(JAVA_LONG, 0, MOUNT_ATTR_NOATIME);
        attr.set(JAVA_LONG, 8, MOUNT_ATTR__ATIME);
        MemorySegment empty = s.cstr("");
        int rc;
        try {
            rc = (int) MountSetattr.H.invokeExact(s.errno, fd, empty, AT_EMPTY_PATH, attr, 32L);
        } catch (Throwable t) {
            closeQuietly(fd);
            throw bug(t);
        }
        if (rc < 0) {
            ErrnoException e = fail(s, "mount_setattr", path);
            closeQuietly(fd);
            throw e;
        }
        return fd;
    }

    /** readlinkat relative to {@code dirfd}. */
    public static String readlinkat(int dirfd, String path) throws ErrnoException {
        if (path.length() >= PATH_MAX) {
            try (Far f = far(dirfd, path)) {
                return readlinkat(f.fd(), f.rest());
            }
        }
        Scratch s = scratch();
        MemorySegment p = s.cstr(path), buf = s.alloc(READLINK_BUF);
        long rc;
        try {
            rc = (long) Readlinkat.H.invokeExact(s.errno, dirfd, p, buf, READLINK_BUF);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "readlinkat", path);
        return byteString(buf.asSlice(0, rc).toArray(JAVA_BYTE));
    }

    // --- write(2) from a heap array (added for the FUSE door: replies leave from a reused heap buffer) -------------
    private static final class WriteCritical {
        static final MethodHandle H = fn("write",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), CRITICAL);
    }

    /**
     * write(2) straight from a heap array, with no copy to native memory (a critical call). Only for writes that
     * never block for long, such as a reply to /dev/fuse: the thread holds up the garbage collector meanwhile.
     */
    public static long write(int fd, byte[] buf, int off, int len) throws ErrnoException {
        MemorySegment seg = MemorySegment.ofArray(buf).asSlice(off, len);
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) WriteCritical.H.invokeExact(s.errno, fd, seg, (long) len);
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "write", fd);
    }

    // --- sched_yield (the FUSE loop looks for a next request before it blocks in read; poll(2) is below) -------
    private static final class SchedYield {
        static final MethodHandle H = fn("sched_yield", FunctionDescriptor.of(JAVA_INT));
    }

    /** sched_yield(2): lets another thread that waits for this CPU run first (none waiting: returns at once). */
    public static void schedYield() {
        Scratch s = scratch();
        try {
            int rc = (int) SchedYield.H.invokeExact(s.errno);
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    // --- pipes and splice (the FUSE door sends READ data from a file's page cache without copying it to us) -----
    private static final class Pipe2 {
        static final MethodHandle H = fn("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    // fcntl(int, int, ...): the argument is variadic.
    private static final class FcntlInt {
        static final MethodHandle H = fn("fcntl",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), new Variadic(2));
    }
    private static final class Splice {
        static final MethodHandle H = fn("splice",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    public static final int F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032;
    public static final int SPLICE_F_MOVE = 1, SPLICE_F_NONBLOCK = 2;
    private static final class Send {
        static final MethodHandle H = fn("send", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    public static final int MSG_MORE = 0x8000;

    /** send(2) of a native segment on a socket; returns the bytes the kernel took. */
    public static long send(int fd, MemorySegment buf, int flags) throws ErrnoException {
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Send.H.invokeExact(s.errno, fd, buf, buf.byteSize(), flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        return checkFd(s, rc, "send", fd);
    }

    private static final class MemfdCreate {
        static final MethodHandle H = fn("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    public static final int MFD_CLOEXEC = 1;

    /**
     * memfd_create(2): an anonymous file in memory, with no name in any directory and gone with its last fd (a
     * scratch file that touches no filesystem: the FUSE door's read rehearsal). MFD_CLOEXEC is always added.
     */
    public static int memfdCreate(String name, int flags) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment n = s.cstr(name);
        int rc;
        try {
            rc = (int) MemfdCreate.H.invokeExact(s.errno, n, flags | MFD_CLOEXEC);
        } catch (Throwable t) {
            throw bug(t);
        }
        return check(s, rc, "memfd_create", name);
    }

    /** pipe2(2): {read end, write end}. */
    public static int[] pipe(int flags) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment fds = s.alloc(8);
        int rc;
        try {
            rc = (int) Pipe2.H.invokeExact(s.errno, fds, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        check(s, rc, "pipe2", "");
        return new int[]{fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
    }

    public static final int F_GETFL = 3, F_SETFL = 4;

    /** F_GETFL: the file status flags and access mode of {@code fd}. */
    public static int fileFlags(int fd) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) FcntlInt.H.invokeExact(s.errno, fd, F_GETFL, 0);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "fcntl", "F_GETFL on fd " + fd);
        return rc;
    }

    /**
     * F_SETFL: sets the flags F_SETFL may change (O_APPEND, O_DIRECT, O_NOATIME, O_NONBLOCK); EINVAL when the
     * filesystem refuses one, as O_DIRECT where it has no direct I/O.
     */
    public static void setFileFlags(int fd, int flags) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) FcntlInt.H.invokeExact(s.errno, fd, F_SETFL, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "fcntl", "F_SETFL " + Integer.toOctalString(flags) + " on fd " + fd);
    }

    /** F_SETPIPE_SZ: the pipe's capacity becomes at least {@code bytes}; returns the capacity it got. */
    public static int setPipeSize(int fd, int bytes) throws ErrnoException {
        Scratch s = scratch();
        int rc;
        try {
            rc = (int) FcntlInt.H.invokeExact(s.errno, fd, F_SETPIPE_SZ, bytes);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "fcntl", "F_SETPIPE_SZ " + bytes + " on fd " + fd);
        return rc;
    }

    /**
     * splice(2) from {@code in} at {@code inOffset} (a file: its position is neither used nor moved) into
     * {@code out} (a pipe). Returns the bytes moved, 0 at end of file.
     */
    public static long splice(int in, long inOffset, int out, long len, int flags) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment off = s.alloc(8);
        off.set(JAVA_LONG, 0, inOffset);
        long rc;
        try {
            rc = (long) Splice.H.invokeExact(s.errno, in, off, out, MemorySegment.NULL, len, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "splice", "fd " + in + " at " + inOffset + " to fd " + out);
        return rc;
    }

    /** splice(2) between two fds that have no offsets (pipes, devices). Returns the bytes moved. */
    public static long splice(int in, int out, long len, int flags) throws ErrnoException {
        Scratch s = scratch();
        long rc;
        try {
            rc = (long) Splice.H.invokeExact(s.errno, in, MemorySegment.NULL, out, MemorySegment.NULL, len, flags);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "splice", "fd " + in + " to fd " + out);
        return rc;
    }

    private static final class Poll {
        static final MethodHandle H = fn("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    public static final int POLLIN = 1, POLLOUT = 4, POLLERR = 8, POLLHUP = 16;

    /**
     * poll(2) of one fd for {@code events} (POLLIN, POLLOUT): the events that came (revents, POLLERR and POLLHUP
     * included), 0 when {@code timeoutMillis} passed first (-1: no limit; 0: only looks). For a thread that writes
     * to a non-blocking socket by a native call (splice) and must wait for room, and for the FUSE loop looking for
     * a next request before it blocks in read. EINTR is thrown: the caller decides whether to look again.
     */
    public static int poll(int fd, int events, int timeoutMillis) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment pfd = s.alloc(8);
        pfd.set(JAVA_INT, 0, fd);
        pfd.set(JAVA_SHORT, 4, (short) events);
        pfd.set(JAVA_SHORT, 6, (short) 0);
        int rc;
        try {
            rc = (int) Poll.H.invokeExact(s.errno, pfd, 1L, timeoutMillis);
        } catch (Throwable t) {
            throw bug(t);
        }
        checkFd(s, rc, "poll", fd);
        return rc == 0 ? 0 : pfd.get(JAVA_SHORT, 6) & 0xffff;
    }

    private static final class Setsockopt {
        static final MethodHandle H = fn("setsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final int SOL_SOCKET = 1, SO_RCVTIMEO = 20;

    /**
     * SO_RCVTIMEO of a socket (setsockopt(2)): a read(2) of the blocking descriptor that waited this long for nothing
     * answers EAGAIN. For a thread that sleeps in read itself rather than in poll and then read (one system call per
     * wait less), and still gives up after a while. 0: no limit.
     */
    public static void setReceiveTimeout(int fd, int millis) throws ErrnoException {
        Scratch s = scratch();
        MemorySegment tv = s.alloc(16);                                   // struct timeval: tv_sec, tv_usec
        tv.set(JAVA_LONG, 0, millis / 1000);
        tv.set(JAVA_LONG, 8, (millis % 1000) * 1000L);
        int rc;
        try {
            rc = (int) Setsockopt.H.invokeExact(s.errno, fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
        } catch (Throwable t) {
            throw bug(t);
        }
        if (rc < 0) throw fail(s, "setsockopt", "SO_RCVTIMEO on fd " + fd);
    }

    // --- warming up -----------------------------------------------------------------------------------------------

    /** A call made only to link its native downcall; its error is the expected outcome. */
    private interface Attempt {
        void run() throws ErrnoException;
    }

    /**
     * Calls each file-system function once, on fd -1 or the empty path, so that each fails at once (EBADF,
     * ENOENT) having changed nothing. The first call through a downcall handle makes the JVM link it (method-handle
     * forms are generated and loaded as classes), which costs 1-45 ms per function on a slow machine; a server calls
     * this before it serves, so that cost is not paid in the middle of the first copy-up, create or read.
     */
    public static void prelink() {
        byte[] b = new byte[1];
        Attempt[] attempts = {
            () -> lstatOrNull(""), () -> stat(""), () -> fstat(-1),
            () -> lgetxattrOrNull("", "user.x"), () -> getxattrOrNull("", "user.x"), () -> getxattr("", "user.x"), () -> listxattr(""), () -> lgetxattrLimited("", "user.x", 1), () -> fgetxattr(-1, "user.x"),
            () -> lsetxattr("", "user.x", b, 0), () -> fsetxattr(-1, "user.x", b, 0),
            () -> llistxattr(""), () -> flistxattr(-1), () -> llistxattratOrNull(-1, ""), () -> lremovexattr("", "user.x"),
            () -> fremovexattr(-1, "user.x"),
            () -> mknod("", 0010000, 0), () -> mkdir("", 0), () -> symlink("", ""), () -> readlink(""),
            () -> readlinkat(-1, ""), () -> link("", ""), () -> linkFd(-1, ""), () -> unlink(""), () -> rmdir(""),
            () -> rename("", "", 0), () -> open("", O_RDONLY, 0), () -> openTmpfile("", 0), () -> close(-1),
            () -> pread(-1, b, 0, 1, 0), () -> pwrite(-1, b, 0, 1, 0), () -> write(-1, b, 0, 0),
            () -> copyFileRange(-1, 0, -1, 0, 1), () -> ficlone(-1, -1), () -> lseek(-1, 0, SEEK_DATA),
            () -> ftruncate(-1, 0), () -> truncate("", 0), () -> fsync(-1), () -> fdatasync(-1),
            () -> fallocate(-1, 0, 0, 1), () -> utimens("", 0, UTIME_OMIT, 0, UTIME_OMIT, true),
            () -> futimens(-1, 0, UTIME_OMIT, 0, UTIME_OMIT), () -> chmod("", 0), () -> fchmod(-1, 0),
            () -> lchown("", -1, -1), () -> fchown(-1, -1, -1), () -> nameToHandle("", 0), () -> readdir(""),
            () -> statfs(""), () -> splice(-1, 0, -1, 1, 0), () -> splice(-1, -1, 1, 0),
            () -> setPipeSize(-1, 0), () -> fileFlags(-1), () -> setFileFlags(-1, 0), () -> memfdCreate("", -1),
            () -> cachedPages(-1, 0, 0), () -> mapAnonymous(0), () -> madvise(MemorySegment.NULL, MADV_HUGEPAGE),
            () -> unmapAnonymous(MemorySegment.NULL),
            () -> poll(-1, POLLIN, 0), () -> setReceiveTimeout(-1, 0), () -> { schedYield(); },
        };
        for (Attempt a : attempts) {
            try {
                a.run();
            } catch (ErrnoException | RuntimeException e) {
                // the expected failure
            }
        }
    }
}
