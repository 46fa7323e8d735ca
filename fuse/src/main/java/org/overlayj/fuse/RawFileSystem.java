package org.overlayj.fuse;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

import java.util.List;

/**
 * A filesystem as the FUSE protocol sees it: nodeid-based, one method per request, like go-fuse's raw API.
 * Knows nothing about overlays. Names are byte strings. Every method may throw {@link ErrnoException}; its errno
 * goes back to the kernel. The defaults answer ENOSYS, which the kernel remembers for most operations.
 *
 * <p>Lookup counting: each {@link FuseEntry} returned by lookup, mknod, mkdir, symlink, link, create and each entry
 * with a non-zero nodeid added to a READDIRPLUS buffer is one reference; {@link #forget} drops them.
 * Nodeid 1 is the root and is never forgotten.
 */
public interface RawFileSystem {
    long ROOT_ID = 1;

    private static ErrnoException nosys() { return new ErrnoException(Errno.ENOSYS, "not supported"); }

    /**
     * Called once, before the first request: how this filesystem tells the kernel about changes the kernel cannot
     * see (see {@link FuseNotifier}). Filesystems that never cache-invalidate ignore it.
     */
    default void attach(FuseNotifier notifier) {}

    /**
     * Called once, before the first request, when {@link #passthrough()} says yes: where to register backing files.
     * Usable once {@link #init} shows the kernel agreed ({@link FuseInit#PASSTHROUGH}).
     */
    default void attach(FuseBackings backings) {}

    /** Whether INIT asks for FUSE passthrough ({@link FuseBackings}). The default says no. */
    default boolean passthrough() { return false; }

    /**
     * Whether requests with this opcode are always answered quickly (no waiting for data from disk, no copying of
     * data): the thread that read one then answers it before reading on (see {@link FuseServer}). The default says
     * no to all, which keeps every request from holding up the others.
     */
    default boolean quick(int opcode) { return false; }

    /**
     * As {@link #quick(int)} for one request: {@code nodeid} from its header, {@code firstWord} the first four bytes
     * of its body (0 if none; for SETATTR the valid mask), so that a filesystem may call quick some requests of a
     * kind that is not always quick. The default asks {@link #quick(int)}.
     */
    default boolean quick(int opcode, long nodeid, int firstWord) { return quick(opcode); }

    /**
     * Whether this filesystem clears set-user-ID and set-group-ID itself when a write, truncate or O_TRUNC open
     * says so ({@code killSuidgid}, {@link FuseSetAttr#KILL_SUIDGID}): the INIT asks for HANDLE_KILLPRIV_V2 then
     * (see {@link FuseInit}). The default says no, and the kernel keeps doing it with a SETATTR of the mode.
     */
    default boolean killsPrivileges() { return false; }

    /**
     * Whether this filesystem serves POSIX ACLs (system.posix_acl_* xattrs of its inodes, the modes they imply, default
     * ACLs applied on creation): the INIT then asks for POSIX_ACL, so that the kernel checks permissions with the
     * ACLs, and DONT_MASK, so that creations arrive with the caller's umask beside an unmasked mode (the umask
     * overloads of {@link #mknod}, {@link #mkdir} and {@link #create}); the umask does not apply under a default ACL.
     */
    default boolean posixAcl() { return false; }

    /** Called once the INIT negotiation is done. */
    default void init(FuseInit.Negotiated negotiated) {}

    /** The kernel is done with the filesystem (DESTROY, or the device went away). */
    default void destroy() {}

    default FuseEntry lookup(FuseContext c, long parent, String name) throws ErrnoException { throw nosys(); }

    default void forget(long nodeid, long nlookup) {}

    /** {@code fh} is -1 unless the kernel named an open file (fstat). */
    default FuseAttrOut getattr(FuseContext c, long nodeid, long fh) throws ErrnoException { throw nosys(); }

    default FuseAttrOut setattr(FuseContext c, long nodeid, FuseSetAttr in) throws ErrnoException { throw nosys(); }

    default String readlink(FuseContext c, long nodeid) throws ErrnoException { throw nosys(); }

    /** {@code mode} is already masked with the caller's umask by the kernel; {@code rdev} is a glibc dev_t. */
    default FuseEntry mknod(FuseContext c, long parent, String name, int mode, long rdev) throws ErrnoException {
        throw nosys();
    }

    default FuseEntry mkdir(FuseContext c, long parent, String name, int mode) throws ErrnoException { throw nosys(); }

    /** MKNOD as the dispatcher calls it: {@code mode} is masked with {@code umask} unless the kernel did it. */
    default FuseEntry mknod(FuseContext c, long parent, String name, int mode, long rdev, int umask)
            throws ErrnoException {
        return mknod(c, parent, name, mode & ~umask, rdev);
    }

    /** MKDIR as the dispatcher calls it (see the umask overload of mknod). */
    default FuseEntry mkdir(FuseContext c, long parent, String name, int mode, int umask) throws ErrnoException {
        return mkdir(c, parent, name, mode & ~umask);
    }

    default FuseEntry symlink(FuseContext c, long parent, String name, String target) throws ErrnoException {
        throw nosys();
    }

    default FuseEntry link(FuseContext c, long nodeid, long newParent, String newName) throws ErrnoException {
        throw nosys();
    }

    default void unlink(FuseContext c, long parent, String name) throws ErrnoException { throw nosys(); }

    default void rmdir(FuseContext c, long parent, String name) throws ErrnoException { throw nosys(); }

    /** {@code flags}: RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT, 0 for plain rename. */
    default void rename(FuseContext c, long parent, String name, long newParent, String newName, int flags)
            throws ErrnoException { throw nosys(); }

    /** {@code flags} are open(2) flags without O_CREAT/O_EXCL/O_NOCTTY; O_TRUNC is included (atomic O_TRUNC). */
    default FuseOpen open(FuseContext c, long nodeid, int flags) throws ErrnoException { throw nosys(); }

    /**
     * OPEN as the dispatcher calls it: {@code killSuidgid} when the caller lacks CAP_FSETID and opens with O_TRUNC
     * (only under {@link #killsPrivileges()}).
     */
    default FuseOpen open(FuseContext c, long nodeid, int flags, boolean killSuidgid) throws ErrnoException {
        return open(c, nodeid, flags);
    }

    /** CREATE: make and open in one step. */
    default Created create(FuseContext c, long parent, String name, int mode, int flags) throws ErrnoException {
        throw nosys();
    }

    /** CREATE as the dispatcher calls it (see the umask overload of mknod). */
    default Created create(FuseContext c, long parent, String name, int mode, int flags, int umask)
            throws ErrnoException {
        return create(c, parent, name, mode & ~umask, flags);
    }

    /** Fills {@code dst[0..size)} as far as the file goes; returns the byte count (short only at end of file). */
    default int read(FuseContext c, long nodeid, long fh, long offset, byte[] dst, int size) throws ErrnoException {
        throw nosys();
    }

    /**
     * Fills {@code dst[off..off+size)}: the form the dispatcher calls, so a filesystem can read straight into the
     * reply buffer. The default reads through {@link #read(FuseContext, long, long, long, byte[], int)}.
     */
    default int read(FuseContext c, long nodeid, long fh, long offset, byte[] dst, int off, int size)
            throws ErrnoException {
        if (off == 0) return read(c, nodeid, fh, offset, dst, size);
        byte[] tmp = new byte[size];
        int n = read(c, nodeid, fh, offset, tmp, size);
        System.arraycopy(tmp, 0, dst, off, Math.max(0, Math.min(n, size)));
        return n;
    }

    /**
     * The file descriptor the data of open file {@code fh} can be read from at any offset (pread semantics), so that
     * a big READ reply can be spliced from it instead of copied through {@link #read}; -1 when there is none. It
     * must stay open until {@link #release} of {@code fh}.
     */
    default int readFd(FuseContext c, long nodeid, long fh) throws ErrnoException { return -1; }

    /** Writes all of {@code data[off..off+len)}; returns the count written. */
    default int write(FuseContext c, long nodeid, long fh, long offset, byte[] data, int off, int len)
            throws ErrnoException { throw nosys(); }

    /**
     * WRITE as the dispatcher calls it: {@code killSuidgid} when the writer lacks CAP_FSETID (only under
     * {@link #killsPrivileges()}).
     */
    default int write(FuseContext c, long nodeid, long fh, long offset, byte[] data, int off, int len,
                      boolean killSuidgid) throws ErrnoException {
        return write(c, nodeid, fh, offset, data, off, len);
    }

    default void flush(FuseContext c, long nodeid, long fh) throws ErrnoException {}

    default void release(FuseContext c, long nodeid, long fh) throws ErrnoException {}

    default void fsync(FuseContext c, long nodeid, long fh, boolean dataOnly) throws ErrnoException { throw nosys(); }

    default FuseOpen opendir(FuseContext c, long nodeid) throws ErrnoException { return new FuseOpen(0, 0); }

    /** Fills {@code out} with entries after {@code offset}; stop when {@link DirBuffer#fits} says no. */
    default void readdir(FuseContext c, long nodeid, long fh, long offset, DirBuffer out) throws ErrnoException {
        throw nosys();
    }

    default void releasedir(FuseContext c, long nodeid, long fh) throws ErrnoException {}

    default void fsyncdir(FuseContext c, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        throw nosys();
    }

    default FuseStatFs statfs(FuseContext c, long nodeid) throws ErrnoException { throw nosys(); }

    /** {@code flags}: XATTR_CREATE / XATTR_REPLACE. */
    default void setxattr(FuseContext c, long nodeid, String name, byte[] value, int flags) throws ErrnoException {
        throw nosys();
    }

    /**
     * SETXATTR as the dispatcher calls it: {@code killSgid} when, under POSIX_ACL, the kernel says the caller sets an
     * ACL without being in the file's group or having CAP_FSETID, so set-group-ID goes (FUSE_SETXATTR_ACL_KILL_SGID).
     */
    default void setxattr(FuseContext c, long nodeid, String name, byte[] value, int flags, boolean killSgid)
            throws ErrnoException {
        setxattr(c, nodeid, name, value, flags);
    }

    default byte[] getxattr(FuseContext c, long nodeid, String name) throws ErrnoException { throw nosys(); }

    /**
     * Whether the xattr {@code name} of {@code nodeid} is known to be absent without asking the layers: the GETXATTR
     * is then answered ENODATA without calling {@link #getxattr} and without an exception (the kernel asks for
     * security.capability before the first write to every new inode: one such request per create, where a thrown
     * exception unwinding through compiled frames costs about as much as the rest of the reply).
     */
    default boolean xattrKnownAbsent(long nodeid, String name) { return false; }

    default List<String> listxattr(FuseContext c, long nodeid) throws ErrnoException { throw nosys(); }

    default void removexattr(FuseContext c, long nodeid, String name) throws ErrnoException { throw nosys(); }

    default void access(FuseContext c, long nodeid, int mask) throws ErrnoException { throw nosys(); }

    default void fallocate(FuseContext c, long nodeid, long fh, long offset, long length, int mode)
            throws ErrnoException { throw nosys(); }

    /** FUSE_IOCTL_DIR in fuse_ioctl_in.flags: the ioctl is on a directory (opened with OPENDIR). */
    int IOCTL_DIR = 1 << 4;

    /**
     * IOCTL: {@code cmd} on the file open as {@code fh}, with the {@code in} bytes the kernel copied from the caller
     * (its _IOC size); returns at most {@code outSize} bytes for the caller. Only restricted ioctls arrive (no
     * RETRY): the kernel's own inode-flag requests (FS_IOC_GETFLAGS/SETFLAGS with an int, FS_IOC_FSGETXATTR/
     * FSSETXATTR, sent when chattr/lsattr go through the VFS) and a caller's other ioctls. The kernel turns ENOSYS
     * into ENOTTY.
     */
    default byte[] ioctl(FuseContext c, long nodeid, long fh, int flags, int cmd, byte[] in, int outSize)
            throws ErrnoException {
        throw nosys();
    }

    /** SEEK_DATA / SEEK_HOLE (the kernel handles the other whence values itself). */
    default long lseek(FuseContext c, long nodeid, long fh, long offset, int whence) throws ErrnoException {
        throw nosys();
    }

    /** A CREATE answer: the new entry and its open file. */
    record Created(FuseEntry entry, FuseOpen open) {}
}
