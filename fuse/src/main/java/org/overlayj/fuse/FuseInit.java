package org.overlayj.fuse;

import java.nio.ByteBuffer;

/**
 * INIT: the protocol version and feature negotiation. We speak 7.40 and need at least 7.31 (max_pages,
 * rename2, readdirplus, parallel dirops are all older than that).
 *
 * <p>What we ask for, and why:
 * <ul>
 *   <li>ASYNC_READ: reads may be sent concurrently; our loop is multi-threaded and reads are positional.</li>
 *   <li>ATOMIC_O_TRUNC: O_TRUNC arrives with OPEN, so the door hands it to the engine, which copies up and
 *       truncates in one step (instead of a separate SETATTR(size=0) after the open).</li>
 *   <li>AUTO_INVAL_DATA: opens keep the page cache (FOPEN_KEEP_CACHE); should a getattr ever show another size or
 *       mtime than the kernel has, it drops the file's cached pages.</li>
 *   <li>EXPORT_SUPPORT: the kernel may look up "." and ".." (for exportfs); our nodeid table answers ".".</li>
 *   <li>BIG_WRITES + MAX_PAGES: writes of up to {@link #MAX_WRITE} (1 MiB) in one request.</li>
 *   <li>DO_READDIRPLUS + READDIRPLUS_AUTO: `ls -l` gets names and attributes in one round trip; the kernel
 *       picks plain READDIR when attributes are not needed.</li>
 *   <li>PARALLEL_DIROPS: lookups and readdirs in one directory may run concurrently; the engine locks.</li>
 *   <li>CACHE_SYMLINKS: symlink targets never change in place (a new symlink is a new inode).</li>
 *   <li>SETXATTR_EXT: the longer setxattr_in; we accept both layouts.</li>
 * </ul>
 * Not asked for: WRITEBACK_CACHE (data must reach the layers when write(2) returns — tests compare layers right
 * after operations, and the engine copies up on the first write, which must see the caller's write),
 * HANDLE_KILLPRIV (v1; v2 below),
 * POSIX_LOCKS / FLOCK_LOCKS (the kernel keeps locks locally, as for a single-host filesystem),
 * SPLICE_* (plain read/write of the device).
 *
 * <p>POSIX_ACL and DONT_MASK only for a filesystem that {@link RawFileSystem#posixAcl() serves ACLs}: the kernel then
 * checks permissions with the access ACLs it reads (and caches) through GETXATTR of system.posix_acl_access, as it
 * does on a kernel overlay, and leaves the umask to the filesystem, which must not apply it under a default ACL.
 *
 * <p>PASSTHROUGH (7.40) only for a filesystem that {@link RawFileSystem#passthrough() asks for it}: the kernel then
 * reads and writes the open files the filesystem gives a backing file for itself ({@link FuseBackings}).
 *
 * <p>OVER_IO_URING (7.42, Linux 6.14, offered only while the fuse module's enable_uring is set) only when the server
 * has its rings ready ({@link FuseUring}): from the reply on, the kernel holds every new request back until each of
 * its queues has an entry registered, then hands requests over io_uring instead of /dev/fuse.
 *
 * <p>HANDLE_KILLPRIV_V2 only for a filesystem that {@link RawFileSystem#killsPrivileges() kills privileges itself}:
 * the kernel then marks the superblock SB_NOSEC, so after the first write to an inode it stops asking for
 * security.capability (a GETXATTR round trip before every write(2)), and flags the writes, truncates and opens with
 * O_TRUNC of callers without CAP_FSETID (and every chown of a non-directory) for the filesystem to clear
 * set-user-ID and set-group-ID.
 */
public final class FuseInit {
    private FuseInit() {}

    public static final int KERNEL_MAJOR = 7, KERNEL_MINOR = 40, MIN_MINOR = 31;
    public static final int MAX_WRITE = 1 << 20, MAX_PAGES = MAX_WRITE / 4096;

    public static final long ASYNC_READ = 1L, POSIX_LOCKS = 1L << 1, ATOMIC_O_TRUNC = 1L << 3,
            EXPORT_SUPPORT = 1L << 4, BIG_WRITES = 1L << 5, DONT_MASK = 1L << 6, FLOCK_LOCKS = 1L << 10,
            AUTO_INVAL_DATA = 1L << 12, DO_READDIRPLUS = 1L << 13, READDIRPLUS_AUTO = 1L << 14,
            ASYNC_DIO = 1L << 15, WRITEBACK_CACHE = 1L << 16, PARALLEL_DIROPS = 1L << 18,
            HANDLE_KILLPRIV = 1L << 19, POSIX_ACL = 1L << 20, MAX_PAGES_FLAG = 1L << 22, CACHE_SYMLINKS = 1L << 23,
            HANDLE_KILLPRIV_V2 = 1L << 28, SETXATTR_EXT = 1L << 29, INIT_EXT = 1L << 30, PASSTHROUGH = 1L << 37,
            OVER_IO_URING = 1L << 41;
    /**
     * With PASSTHROUGH: how deep the backing files' filesystems may be stacked. 1 takes backing files on plain
     * filesystems only (an upper layer on an overlay is refused, and its files are served through requests) and
     * keeps the FUSE mount usable as a layer of a kernel overlay (which allows two levels under it).
     */
    static final int MAX_STACK_DEPTH = 1;
    /** write_flags, fuse_setattr_in.valid and open_flags bits of HANDLE_KILLPRIV_V2. */
    public static final int WRITE_KILL_SUIDGID = 1 << 2, OPEN_KILL_SUIDGID = 1;
    /** setxattr_flags (SETXATTR_EXT) bit under POSIX_ACL: the caller's ACL change clears set-group-ID. */
    public static final int SETXATTR_ACL_KILL_SGID = 1;

    static final long WANTED = ASYNC_READ | ATOMIC_O_TRUNC | AUTO_INVAL_DATA | EXPORT_SUPPORT | BIG_WRITES
            | DO_READDIRPLUS | READDIRPLUS_AUTO | PARALLEL_DIROPS | MAX_PAGES_FLAG | CACHE_SYMLINKS | SETXATTR_EXT;

    /** The outcome of INIT: the minor version both sides speak and the flags both sides set. */
    public record Negotiated(int major, int minor, long flags, int maxWrite, int maxReadahead) {
        public boolean has(long flag) { return (flags & flag) != 0; }
    }

    /** What the kernel offered (struct fuse_init_in). */
    record Offer(int major, int minor, int maxReadahead, long flags) {
        boolean has(long flag) { return (flags & flag) != 0; }

        static Offer decode(ByteBuffer in) {
            int major = in.getInt(), minor = in.getInt(), readahead = in.getInt();
            long flags = in.getInt() & 0xffffffffL;
            if ((flags & INIT_EXT) != 0 && in.remaining() >= 4) flags |= (in.getInt() & 0xffffffffL) << 32;
            return new Offer(major, minor, readahead, flags);
        }
    }

    static Negotiated negotiate(Offer o) {
        return negotiate(o, 0);
    }

    /** With {@code extra} flags the filesystem asks for besides {@link #WANTED}. */
    static Negotiated negotiate(Offer o, long extra) {
        long flags = o.flags() & (WANTED | extra);
        // the kernel reads the reply's flags2 only when its flags say INIT_EXT
        if ((flags >>> 32) != 0) flags |= INIT_EXT;
        return new Negotiated(KERNEL_MAJOR, Math.min(o.minor(), KERNEL_MINOR), flags,
                MAX_WRITE, Math.min(o.maxReadahead(), MAX_WRITE));
    }

    /** struct fuse_init_out (64 bytes). */
    static void encode(ByteBuffer b, Negotiated n) {
        b.putInt(n.major()).putInt(n.minor()).putInt(n.maxReadahead()).putInt((int) n.flags())
                .putShort((short) 32)              // max_background
                .putShort((short) 24)              // congestion_threshold
                .putInt(n.maxWrite())
                .putInt(1)                         // time_gran: we report nanoseconds as the layers have them
                .putShort((short) MAX_PAGES)
                .putShort((short) 0)               // map_alignment (DAX only)
                .putInt((int) (n.flags() >>> 32))
                .putInt(n.has(PASSTHROUGH) ? MAX_STACK_DEPTH : 0);
        for (int i = 0; i < 6; i++) b.putInt(0);
    }

    static final int OUT_SIZE = 64;
}
