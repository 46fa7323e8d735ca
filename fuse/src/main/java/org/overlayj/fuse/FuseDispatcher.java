package org.overlayj.fuse;

import org.overlayj.core.Prefetch;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * The codec: one request in (the bytes read from /dev/fuse), at most one reply out (the bytes to write back).
 * Decodes the request structs, calls the {@link RawFileSystem}, encodes the answer or the negative errno.
 * No I/O and no threads here, so it is tested with byte arrays alone. Thread-safe if the filesystem is.
 */
public final class FuseDispatcher {
    private static final Logger LOG = LoggerFactory.getLogger(FuseDispatcher.class);
    static final int IN_HEADER = 40, OUT_HEADER = 16;
    static final int EPROTO = 71;

    private final RawFileSystem fs;
    /**
     * Whether every request is logged, decided once: the level is set before a server starts (-d), and asking
     * logback twice per request showed up in profiles of a create workload.
     */
    private final boolean debug = LOG.isDebugEnabled();
    private final CountDownLatch initDone = new CountDownLatch(1);
    /** Requests by opcode (for tests and counters). */
    private final java.util.concurrent.atomic.LongAdder[] requests = new java.util.concurrent.atomic.LongAdder[64];
    private volatile FuseInit.Negotiated negotiated;
    private volatile boolean destroyed;
    /**
     * Asked at INIT when the kernel offers FUSE over io_uring: true when the server has set its rings up, and so
     * takes the offer. None: the offer is declined.
     */
    private volatile java.util.function.BooleanSupplier uringOffer;

    public FuseDispatcher(RawFileSystem fs) {
        this.fs = fs;
        for (int i = 0; i < requests.length; i++) requests[i] = new java.util.concurrent.atomic.LongAdder();
    }

    /** How many requests with {@code opcode} were dispatched. */
    public long requests(int opcode) {
        return opcode >= 0 && opcode < requests.length ? requests[opcode].sum() : 0;
    }

    public FuseInit.Negotiated negotiated() { return negotiated; }

    /** Counted down once INIT was answered: from then on the mount serves requests. */
    public CountDownLatch initDone() { return initDone; }

    public boolean destroyed() { return destroyed; }

    /** Sets who answers the kernel's offer of FUSE over io_uring at INIT (see {@link FuseInit#OVER_IO_URING}). */
    void onUringOffer(java.util.function.BooleanSupplier prepare) { uringOffer = prepare; }

    /** Who reads ahead of spliced READs ({@link Prefetch}); null: nobody. */
    private volatile Prefetch prefetch;

    void prefetch(Prefetch p) { prefetch = p; }

    /**
     * Decoded fuse_in_header. {@code scratch}, when not null, is the calling thread's reply buffer: replies that
     * fit are built in it instead of a new array (a 1 MiB READ would otherwise cost an allocation, its zeroing and
     * a copy per request).
     */
    record Header(int opcode, long unique, long nodeid, FuseContext ctx, byte[] scratch, FileDataSender sender) {}

    /**
     * READs of at least this much are offered to the {@link FileDataSender}: below it, one read into our buffer and
     * one write cost less than the four calls of a splice.
     */
    static final int SPLICE_MIN = 32 * 1024;

    /**
     * Handles one request. Returns the reply positioned at 0 (limit = its length), or null when the protocol says
     * no reply (FORGET, BATCH_FORGET, INTERRUPT).
     */
    public ByteBuffer dispatch(ByteBuffer raw) {
        return dispatch(raw, null);
    }

    /**
     * As {@link #dispatch(ByteBuffer)}, building the reply in {@code scratch} when it fits (then the returned buffer
     * wraps {@code scratch} and is only valid until the next call with it). One scratch array per thread.
     */
    public ByteBuffer dispatch(ByteBuffer raw, byte[] scratch) {
        return dispatch(raw, scratch, null);
    }

    /**
     * As {@link #dispatch(ByteBuffer, byte[])}; big READ replies are handed to {@code sender} when the filesystem
     * names a file to take the data from, and then null is returned (the reply has been sent).
     */
    public ByteBuffer dispatch(ByteBuffer raw, byte[] scratch, FileDataSender sender) {
        ByteBuffer in = raw.slice().order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < IN_HEADER) {
            LOG.warn("short request of {} bytes dropped", in.remaining());
            return null;
        }
        int len = in.getInt();
        int opcode = in.getInt();
        long unique = in.getLong();
        long nodeid = in.getLong();
        int uid = in.getInt(), gid = in.getInt(), pid = in.getInt();
        int extLen = (in.getShort() & 0xffff) * 8;
        in.getShort();
        int end = Math.min(len, in.limit()) - extLen;
        in.limit(Math.max(end, IN_HEADER));
        if (opcode >= 0 && opcode < requests.length) requests[opcode].increment();
        Header h = new Header(opcode, unique, nodeid, new FuseContext(unique, uid, gid, pid), scratch,
                sender);
        if (debug) {
            LOG.debug("<- {} unique={} nodeid={} uid={} gid={} pid={}", FuseOpcode.name(opcode), unique, nodeid, uid,
                    gid, pid);
        }
        try {
            ByteBuffer out = handle(h, in);
            if (out != null && out.position() != 0) {
                if (out.hasRemaining()) throw new IllegalStateException("reply body not filled");
                out.flip();
            }
            if (debug && out != null) LOG.debug("-> {} unique={} ok ({} bytes)",
                    FuseOpcode.name(opcode), unique, out.limit());
            return out;
        } catch (ErrnoException e) {
            if (debug) LOG.debug("-> {} unique={} {}", FuseOpcode.name(opcode), unique, e.getMessage());
            return error(unique, e.errno());
        } catch (RuntimeException | Error e) {
            // A bug in a filesystem method must not take the mount down: the caller gets EIO.
            LOG.error("{} nodeid={} failed", FuseOpcode.name(opcode), nodeid, e);
            return error(unique, Errno.EIO);
        }
    }

    private ByteBuffer handle(Header h, ByteBuffer in) throws ErrnoException {
        FuseContext c = h.ctx();
        long node = h.nodeid();
        switch (h.opcode()) {
            case FuseOpcode.INIT -> { return init(h, in); }
            case FuseOpcode.DESTROY -> {
                destroyed = true;
                fs.destroy();
                return ok(h, 0);
            }
            case FuseOpcode.FORGET -> {
                fs.forget(node, in.getLong());
                return null;
            }
            case FuseOpcode.BATCH_FORGET -> {
                int count = in.getInt();
                in.getInt();
                for (int i = 0; i < count && in.remaining() >= 16; i++) fs.forget(in.getLong(), in.getLong());
                return null;
            }
            case FuseOpcode.INTERRUPT -> {
                // Our requests are short and not cancellable: let the original finish and answer it; the
                // protocol allows the interrupt itself to go unanswered.
                return null;
            }
            case FuseOpcode.LOOKUP -> { return entry(h, fs.lookup(c, node, cstring(in))); }
            case FuseOpcode.GETATTR -> {
                int flags = in.getInt();
                in.getInt();
                long fh = in.getLong();
                return attr(h, fs.getattr(c, node, (flags & 1) != 0 ? fh : -1));
            }
            case FuseOpcode.SETATTR -> { return attr(h, fs.setattr(c, node, decodeSetAttr(in))); }
            case FuseOpcode.READLINK -> {
                String target = fs.readlink(c, node);
                ByteBuffer out = ok(h, target.length());
                putBytes(out, target);
                return out;
            }
            case FuseOpcode.SYMLINK -> {
                String name = cstring(in);
                String target = cstring(in);
                return entry(h, fs.symlink(c, node, name, target));
            }
            case FuseOpcode.MKNOD -> {
                int mode = in.getInt(), rdev = in.getInt(), umask = in.getInt();
                in.getInt();
                return entry(h, fs.mknod(c, node, cstring(in), mode, FuseCodec.decodeDev(rdev), umask));
            }
            case FuseOpcode.MKDIR -> {
                int mode = in.getInt(), umask = in.getInt();
                return entry(h, fs.mkdir(c, node, cstring(in), mode, umask));
            }
            case FuseOpcode.UNLINK -> {
                fs.unlink(c, node, cstring(in));
                return ok(h, 0);
            }
            case FuseOpcode.RMDIR -> {
                fs.rmdir(c, node, cstring(in));
                return ok(h, 0);
            }
            case FuseOpcode.RENAME, FuseOpcode.RENAME2 -> {
                long newDir = in.getLong();
                int flags = 0;
                if (h.opcode() == FuseOpcode.RENAME2) {
                    flags = in.getInt();
                    in.getInt();
                }
                String oldName = cstring(in);
                String newName = cstring(in);
                fs.rename(c, node, oldName, newDir, newName, flags);
                return ok(h, 0);
            }
            case FuseOpcode.LINK -> {
                long oldNode = in.getLong();
                return entry(h, fs.link(c, oldNode, node, cstring(in)));
            }
            case FuseOpcode.OPEN, FuseOpcode.OPENDIR -> {
                int flags = in.getInt(), openFlags = in.remaining() >= 4 ? in.getInt() : 0;
                FuseOpen o = h.opcode() == FuseOpcode.OPEN
                        ? fs.open(c, node, flags, (openFlags & FuseInit.OPEN_KILL_SUIDGID) != 0)
                        : fs.opendir(c, node);
                ByteBuffer out = ok(h, FuseCodec.OPEN_OUT_SIZE);
                FuseCodec.putOpen(out, o);
                return out;
            }
            case FuseOpcode.CREATE -> {
                int flags = in.getInt(), mode = in.getInt(), umask = in.getInt();
                in.getInt();
                RawFileSystem.Created cr = fs.create(c, node, cstring(in), mode, flags, umask);
                ByteBuffer out = ok(h, FuseCodec.ENTRY_OUT_SIZE + FuseCodec.OPEN_OUT_SIZE);
                FuseCodec.putEntry(out, cr.entry());
                FuseCodec.putOpen(out, cr.open());
                return out;
            }
            case FuseOpcode.READ -> {
                long fh = in.getLong(), offset = in.getLong();
                int size = Math.max(0, in.getInt());
                if (h.sender() != null && size >= SPLICE_MIN) {
                    int fd = fs.readFd(c, node, fh);
                    Prefetch p = prefetch;
                    if (fd >= 0 && p != null) p.onRead(fd, offset, size);   // before the reply: fd still open
                    if (fd >= 0 && h.sender().sendRead(h.unique(), fd, offset, size)) return null;
                }
                // Read straight into the reply, then trim it to what the file gave.
                ByteBuffer out = ok(h, size);
                int n = fs.read(c, node, fh, offset, out.array(), out.arrayOffset() + OUT_HEADER, size);
                if (n < 0 || n > size) throw new IllegalStateException("read returned " + n + " of " + size);
                out.putInt(0, OUT_HEADER + n);
                out.position(OUT_HEADER + n);
                return out.flip();
            }
            case FuseOpcode.WRITE -> {
                long fh = in.getLong(), offset = in.getLong();
                int size = in.getInt();
                boolean kill = (in.getInt() & FuseInit.WRITE_KILL_SUIDGID) != 0;   // write_flags
                in.getLong();                   // lock_owner
                in.getInt();                    // flags
                in.getInt();
                if (size < 0 || size > in.remaining()) {
                    throw new ErrnoException(Errno.EINVAL, "write payload shorter than size");
                }
                int n;
                if (in.hasArray()) {
                    // The payload is written from the request buffer itself: no copy of up to max_write bytes.
                    n = fs.write(c, node, fh, offset, in.array(), in.arrayOffset() + in.position(), size, kill);
                } else {
                    byte[] data = new byte[size];
                    in.get(data);
                    n = fs.write(c, node, fh, offset, data, 0, size, kill);
                }
                ByteBuffer out = ok(h, 8);
                out.putInt(n).putInt(0);
                return out;
            }
            case FuseOpcode.STATFS -> {
                FuseStatFs s = fs.statfs(c, node);
                ByteBuffer out = ok(h, FuseCodec.STATFS_OUT_SIZE);
                FuseCodec.putStatFs(out, s);
                return out;
            }
            case FuseOpcode.RELEASE, FuseOpcode.RELEASEDIR -> {
                long fh = in.getLong();
                if (h.opcode() == FuseOpcode.RELEASE) fs.release(c, node, fh); else fs.releasedir(c, node, fh);
                return ok(h, 0);
            }
            case FuseOpcode.FLUSH -> {
                fs.flush(c, node, in.getLong());
                return ok(h, 0);
            }
            case FuseOpcode.FSYNC, FuseOpcode.FSYNCDIR -> {
                long fh = in.getLong();
                boolean dataOnly = (in.getInt() & 1) != 0;
                if (h.opcode() == FuseOpcode.FSYNC) fs.fsync(c, node, fh, dataOnly);
                else fs.fsyncdir(c, node, fh, dataOnly);
                return ok(h, 0);
            }
            case FuseOpcode.READDIR, FuseOpcode.READDIRPLUS -> {
                long fh = in.getLong(), offset = in.getLong();
                int size = in.getInt();
                boolean plus = h.opcode() == FuseOpcode.READDIRPLUS;
                byte[] scratch = h.scratch();
                // where it fits, the records go straight into the thread's reply array after the header (a cold
                // walk of 20k entries allocated, zeroed and copied a 32 KiB array for each of its ~450 listings)
                boolean inPlace = scratch != null && size >= 0 && OUT_HEADER + size <= scratch.length;
                DirBuffer buf = inPlace ? new DirBuffer(ByteBuffer.wrap(scratch, OUT_HEADER, size), plus)
                        : new DirBuffer(size, plus);
                fs.readdir(c, node, fh, offset, buf);
                ByteBuffer out = ok(h, buf.length());
                return inPlace ? out.position(out.limit()) : out.put(buf.flip());
            }
            case FuseOpcode.SETXATTR -> {
                int size = in.getInt(), flags = in.getInt(), xflags = 0;
                FuseInit.Negotiated n = negotiated;
                if (n != null && n.has(FuseInit.SETXATTR_EXT)) {
                    xflags = in.getInt();       // setxattr_flags: ACL_KILL_SGID, under POSIX_ACL
                    in.getInt();
                }
                String name = cstring(in);
                if (size > in.remaining()) throw new ErrnoException(Errno.EINVAL, "xattr value shorter than size");
                byte[] value = new byte[size];
                in.get(value);
                fs.setxattr(c, node, name, value, flags, (xflags & FuseInit.SETXATTR_ACL_KILL_SGID) != 0);
                return ok(h, 0);
            }
            case FuseOpcode.GETXATTR -> {
                int size = in.getInt();
                in.getInt();
                String name = cstring(in);
                if (fs.xattrKnownAbsent(node, name)) return error(h.unique(), Errno.ENODATA);
                return sized(h, fs.getxattr(c, node, name), size);
            }
            case FuseOpcode.LISTXATTR -> {
                int size = in.getInt();
                List<String> names = fs.listxattr(c, node);
                int total = 0;
                for (String s : names) total += s.length() + 1;
                byte[] all = new byte[total];
                int p = 0;
                for (String s : names) {
                    for (int i = 0; i < s.length(); i++) all[p++] = (byte) s.charAt(i);
                    all[p++] = 0;
                }
                return sized(h, all, size);
            }
            case FuseOpcode.REMOVEXATTR -> {
                fs.removexattr(c, node, cstring(in));
                return ok(h, 0);
            }
            case FuseOpcode.ACCESS -> {
                fs.access(c, node, in.getInt());
                return ok(h, 0);
            }
            case FuseOpcode.FALLOCATE -> {
                long fh = in.getLong(), offset = in.getLong(), length = in.getLong();
                fs.fallocate(c, node, fh, offset, length, in.getInt());
                return ok(h, 0);
            }
            case FuseOpcode.IOCTL -> {
                // fuse_ioctl_in: fh, flags, cmd, arg (the caller's pointer: useless here), in_size, out_size
                long fh = in.getLong();
                int flags = in.getInt(), cmd = in.getInt();
                in.getLong();
                int inSize = in.getInt(), outSize = in.getInt();
                if (inSize < 0 || inSize > in.remaining()) throw new ErrnoException(Errno.EINVAL, "ioctl in_size");
                byte[] data = new byte[inSize];
                in.get(data);
                byte[] result = fs.ioctl(c, node, fh, flags, cmd, data, outSize);
                if (result.length > Math.max(0, outSize)) throw new ErrnoException(Errno.EIO, "ioctl reply too long");
                // fuse_ioctl_out: result 0, no RETRY, no iovecs; then the data the caller reads
                ByteBuffer out = ok(h, 16 + result.length);
                out.putInt(0).putInt(0).putInt(0).putInt(0).put(result);
                return out;
            }
            case FuseOpcode.LSEEK -> {
                long fh = in.getLong(), offset = in.getLong();
                long pos = fs.lseek(c, node, fh, offset, in.getInt());
                ByteBuffer out = ok(h, 8);
                out.putLong(pos);
                return out;
            }
            default -> throw new ErrnoException(Errno.ENOSYS, FuseOpcode.name(h.opcode()));
        }
    }

    private ByteBuffer init(Header h, ByteBuffer in) {
        FuseInit.Offer offer = FuseInit.Offer.decode(in);
        if (offer.major() > FuseInit.KERNEL_MAJOR) {
            // Tell the kernel our major; it sends a new INIT in that version.
            ByteBuffer out = ok(h, FuseInit.OUT_SIZE);
            out.putInt(FuseInit.KERNEL_MAJOR).putInt(FuseInit.KERNEL_MINOR);
            while (out.hasRemaining()) out.put((byte) 0);
            return out.flip();
        }
        if (offer.major() < FuseInit.KERNEL_MAJOR || offer.minor() < FuseInit.MIN_MINOR) {
            LOG.error("kernel FUSE protocol {}.{} is older than the 7.{} overlayj needs", offer.major(),
                    offer.minor(), FuseInit.MIN_MINOR);
            return error(h.unique(), EPROTO);
        }
        FuseInit.Negotiated n = FuseInit.negotiate(offer,
                (fs.killsPrivileges() ? FuseInit.HANDLE_KILLPRIV_V2 : 0) | (fs.passthrough() ? FuseInit.PASSTHROUGH : 0)
                        | (fs.posixAcl() ? FuseInit.POSIX_ACL | FuseInit.DONT_MASK : 0)
                        | (offer.has(FuseInit.OVER_IO_URING) && uringOffer != null && uringOffer.getAsBoolean()
                                ? FuseInit.OVER_IO_URING : 0));
        negotiated = n;
        LOG.debug("INIT: kernel {}.{} flags {}, negotiated 7.{} flags {}", offer.major(), offer.minor(),
                Long.toHexString(offer.flags()), n.minor(), Long.toHexString(n.flags()));
        fs.init(n);
        ByteBuffer out = ok(h, FuseInit.OUT_SIZE);
        FuseInit.encode(out, n);
        initDone.countDown();
        return out.flip();
    }

    private static FuseSetAttr decodeSetAttr(ByteBuffer in) {
        int valid = in.getInt();
        in.getInt();
        long fh = in.getLong(), size = in.getLong();
        in.getLong();                           // lock_owner
        long atime = in.getLong(), mtime = in.getLong();
        in.getLong();                           // ctime
        int atimeNsec = in.getInt(), mtimeNsec = in.getInt();
        in.getInt();                            // ctimensec
        int mode = in.getInt();
        in.getInt();
        int uid = in.getInt(), gid = in.getInt();
        return new FuseSetAttr(valid, fh, size, atime, atimeNsec, mtime, mtimeNsec, mode, uid, gid);
    }

    /** GETXATTR/LISTXATTR: size 0 asks for the length; too small a buffer is ERANGE. */
    private static ByteBuffer sized(Header h, byte[] value, int size) throws ErrnoException {
        if (size == 0) {
            ByteBuffer out = ok(h, 8);
            out.putInt(value.length).putInt(0);
            return out.flip();
        }
        if (value.length > size) throw new ErrnoException(Errno.ERANGE, "buffer of " + size + " bytes too small");
        ByteBuffer out = ok(h, value.length);
        out.put(value);
        return out.flip();
    }

    private static ByteBuffer entry(Header h, FuseEntry e) {
        ByteBuffer out = ok(h, FuseCodec.ENTRY_OUT_SIZE);
        FuseCodec.putEntry(out, e);
        return out.flip();
    }

    private static ByteBuffer attr(Header h, FuseAttrOut a) {
        ByteBuffer out = ok(h, FuseCodec.ATTR_OUT_SIZE);
        FuseCodec.putAttrOut(out, a.attr(), a.validNanos());
        return out.flip();
    }

    /**
     * A success reply with room for exactly {@code body} bytes, positioned after the header. The caller fills the
     * body completely; {@link #dispatch} flips buffers that are not flipped yet (position != 0).
     */
    private static ByteBuffer ok(Header h, int body) {
        byte[] scratch = h.scratch();
        int len = OUT_HEADER + body;
        ByteBuffer out = (scratch != null && len <= scratch.length ? ByteBuffer.wrap(scratch, 0, len)
                : ByteBuffer.allocate(len)).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(OUT_HEADER + body).putInt(0).putLong(h.unique());
        return out;
    }

    static ByteBuffer error(long unique, int errno) {
        ByteBuffer out = ByteBuffer.allocate(OUT_HEADER).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(OUT_HEADER).putInt(-errno).putLong(unique);
        return out.flip();
    }

    private static void putBytes(ByteBuffer out, String byteString) {
        for (int i = 0; i < byteString.length(); i++) out.put((byte) byteString.charAt(i));
    }

    /** A NUL-terminated name, as a byte string; consumes the NUL. */
    static String cstring(ByteBuffer in) throws ErrnoException {
        int start = in.position();
        int end = start;
        while (end < in.limit() && in.get(end) != 0) end++;
        if (end >= in.limit()) throw new ErrnoException(Errno.EINVAL, "unterminated name in request");
        char[] cs = new char[end - start];
        for (int i = 0; i < cs.length; i++) cs[i] = (char) (in.get(start + i) & 0xff);
        in.position(end + 1);
        return new String(cs);
    }
}
