package org.overlayj.fuse;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A mounted FUSE filesystem and its request loop: opens /dev/fuse, mounts it with mount(2) (root), and runs
 * several platform threads that each read a request, dispatch it and write the reply in one write(2).
 *
 * <p>The threads share one device fd: the kernel hands each request to exactly one blocked reader, and a reply
 * may be written on the fd the request came from by any thread. (FUSE_DEV_IOC_CLONE would give each thread its
 * own queue, which only pays off with many cores; we keep one fd and one queue.) Platform threads, because the
 * read blocks in native code and would pin a virtual thread's carrier anyway.
 *
 * <p>The loop ends when the read gives ENODEV: the filesystem was unmounted (by us or by umount(8)), or the
 * connection was aborted.
 *
 * <p>The server is also the filesystem's {@link FuseNotifier}: notifications are written to the same device fd.
 */
public final class FuseServer implements AutoCloseable, FuseNotifier {
    private static final Logger LOG = LoggerFactory.getLogger(FuseServer.class);
    /** A request is at most one max_write payload plus its headers; the kernel refuses smaller buffers. */
    private static final int READ_BUFFER = FuseInit.MAX_WRITE + 8192;

    private final String mountpoint;
    private final int fd;
    private final FuseDispatcher dispatcher;
    private final RawFileSystem fs;
    private final List<Thread> threads = new ArrayList<>();
    private final CountDownLatch exited;
    private volatile boolean mounted;
    /** INVAL_ENTRY messages waiting for {@link #entrySender}, which is started at the first one. */
    private final BlockingQueue<byte[]> entryNotices = new LinkedBlockingQueue<>();
    private Thread entrySender;

    private FuseServer(String mountpoint, int fd, RawFileSystem fs, int nThreads) {
        this.mountpoint = mountpoint;
        this.fd = fd;
        this.fs = fs;
        this.dispatcher = new FuseDispatcher(fs);
        this.exited = new CountDownLatch(nThreads);
    }

    /**
     * Mounts {@code fs} on {@code mountpoint} (a byte-string path) and starts serving. Returns once the kernel's
     * INIT was answered, so the mount is usable when this returns.
     */
    public static FuseServer mount(String mountpoint, FuseMountOptions o, RawFileSystem fs) throws ErrnoException {
        int fd = Linux.open("/dev/fuse", Linux.O_RDWR | Linux.O_CLOEXEC, 0);
        FuseServer s = new FuseServer(mountpoint, fd, fs, Math.max(1, o.threads()));
        try {
            Linux.mount(o.fsname(), mountpoint, o.fsType(), o.msFlags(),
                    o.data(fd, Linux.geteuid(), Linux.getegid()));
        } catch (ErrnoException e) {
            Linux.closeQuietly(fd);
            throw new ErrnoException(e.errno(), "mount of " + mountpoint + " failed: " + e.detail());
        }
        s.mounted = true;
        fs.attach(s);
        s.start(Math.max(1, o.threads()));
        try {
            if (!s.dispatcher.initDone().await(30, TimeUnit.SECONDS) && !s.exited()) {
                LOG.warn("no INIT from the kernel after 30 s on {}", mountpoint);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (s.dispatcher.negotiated() == null) {
            s.close();
            throw new ErrnoException(Errno.EIO, "FUSE INIT failed on " + mountpoint);
        }
        return s;
    }

    public String mountpoint() { return mountpoint; }

    public FuseInit.Negotiated negotiated() { return dispatcher.negotiated(); }

    private void start(int n) {
        for (int i = 0; i < n; i++) {
            Thread t = Thread.ofPlatform().name("fuse-" + i).daemon(true).unstarted(this::loop);
            threads.add(t);
        }
        threads.forEach(Thread::start);
    }

    private void loop() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment req = arena.allocate(READ_BUFFER, 4096);
            byte[] heap = new byte[READ_BUFFER];
            // Replies are built here and written from here (a critical write: no copy to native memory).
            byte[] scratch = new byte[FuseDispatcher.OUT_HEADER + FuseInit.MAX_WRITE];
            while (true) {
                long n;
                try {
                    n = Linux.read(fd, req);
                } catch (ErrnoException e) {
                    int err = e.errno();
                    if (err == Errno.EINTR || err == Errno.EAGAIN || err == Errno.ENOENT) continue;
                    if (err != Errno.ENODEV) LOG.error("reading /dev/fuse for {} failed", mountpoint, e);
                    return;
                }
                MemorySegment.copy(req, ValueLayout.JAVA_BYTE, 0, heap, 0, (int) n);
                ByteBuffer reply = dispatcher.dispatch(ByteBuffer.wrap(heap, 0, (int) n), scratch);
                if (reply == null) continue;
                try {
                    Linux.write(fd, reply.array(), reply.arrayOffset() + reply.position(), reply.remaining());
                } catch (ErrnoException e) {
                    // ENOENT: the request was interrupted and is gone; nothing to do.
                    if (e.errno() == Errno.ENODEV) return;
                    if (e.errno() != Errno.ENOENT) LOG.warn("reply to {} failed: {}", mountpoint, e.getMessage());
                }
            }
        } catch (RuntimeException | Error e) {
            LOG.error("FUSE loop for {} died", mountpoint, e);
        } finally {
            exited.countDown();
            if (exited.getCount() == 0) {
                mounted = false;
                synchronized (entryNotices) {
                    if (entrySender != null) entrySender.interrupt();
                }
                if (!dispatcher.destroyed()) fs.destroy();
            }
        }
    }

    // --- notifications ---------------------------------------------------------------------------------------------

    @Override public void invalInode(long nodeid, long off, long len) {
        send(FuseCodec.invalInode(nodeid, off, len));
    }

    @Override public void invalEntryLater(long parent, String name) {
        synchronized (entryNotices) {
            if (entrySender == null) {
                entrySender = Thread.ofPlatform().name("fuse-notify").daemon(true).start(this::sendEntries);
            }
        }
        entryNotices.add(FuseCodec.invalEntry(parent, name));
    }

    private void sendEntries() {
        try {
            while (!exited()) send(entryNotices.take());
        } catch (InterruptedException e) {
            // closing
        }
    }

    /**
     * One notification, in one write(2). Not the critical write of the replies: the kernel may wait for page or
     * inode locks while it handles a notification, and a critical call would hold up the garbage collector.
     */
    private void send(byte[] message) {
        if (!mounted) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(message.length);
            MemorySegment.copy(message, 0, m, ValueLayout.JAVA_BYTE, 0, message.length);
            Linux.write(fd, m);
        } catch (ErrnoException e) {
            // ENOENT: the kernel has no such inode or name cached any more, so there was nothing to drop.
            if (e.errno() != Errno.ENOENT && e.errno() != Errno.ENODEV) {
                LOG.warn("notification to {} failed: {}", mountpoint, e.getMessage());
            }
        }
    }

    private boolean exited() {
        return exited.getCount() == 0;
    }

    /** Blocks until the loop has ended (the filesystem was unmounted). */
    public void awaitExit() throws InterruptedException {
        exited.await();
    }

    public boolean awaitExit(long timeout, TimeUnit unit) throws InterruptedException {
        return exited.await(timeout, unit);
    }

    /** Unmounts (lazily if busy); the loop then ends with ENODEV. Safe to call more than once. */
    public void unmount() {
        if (exited()) return;
        try {
            Linux.umount(mountpoint, 0);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EBUSY) {
                try {
                    Linux.umount(mountpoint, Linux.MNT_DETACH);
                } catch (ErrnoException e2) {
                    LOG.warn("lazy unmount of {} failed: {}", mountpoint, e2.getMessage());
                }
            } else if (e.errno() != Errno.EINVAL && e.errno() != Errno.ENOENT) {
                LOG.warn("unmount of {} failed: {}", mountpoint, e.getMessage());
            }
        }
    }

    /** Unmounts, waits for the loop to end, closes the device. */
    @Override public void close() {
        unmount();
        try {
            if (!exited.await(20, TimeUnit.SECONDS)) {
                LOG.warn("FUSE loop for {} still running after unmount", mountpoint);
                return;                       // keep the fd: closing it under a live reader helps no one
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        Linux.closeQuietly(fd);
    }
}
