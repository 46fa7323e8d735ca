package org.overlayj.fuse.adapter;

import org.overlayj.core.Attr;
import org.overlayj.core.ChangeListener;
import org.overlayj.core.Creds;
import org.overlayj.core.DirEntry;
import org.overlayj.core.Found;
import org.overlayj.core.Node;
import org.overlayj.core.OpenFile;
import org.overlayj.core.Overlay;
import org.overlayj.core.SetAttr;
import org.overlayj.fuse.DirBuffer;
import org.overlayj.fuse.FuseAttr;
import org.overlayj.fuse.FuseAttrOut;
import org.overlayj.fuse.FuseBackings;
import org.overlayj.fuse.FuseContext;
import org.overlayj.fuse.FuseEntry;
import org.overlayj.fuse.FuseInit;
import org.overlayj.fuse.FuseNotifier;
import org.overlayj.fuse.FuseOpen;
import org.overlayj.fuse.FuseOpcode;
import org.overlayj.fuse.FuseSetAttr;
import org.overlayj.fuse.FuseStatFs;
import org.overlayj.fuse.RawFileSystem;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Fsxattr;
import org.overlayj.sys.Linux;
import org.overlayj.sys.StatFs;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The FUSE door onto the overlay engine: every request becomes {@link Overlay} calls and nothing else — no overlay
 * rule lives here. The door owns only the nodeid table (with FORGET accounting), the open-file table, and the
 * translation of credentials, attributes and errors.
 *
 * <p>Caching: the kernel may keep names, missing names and attributes for {@link #TTL} (in effect for good, as
 * fuse-overlayfs does; not the names of lower hard links, see {@link #entry}), and directory listings until the
 * directory changes. That is safe because the engine is the
 * only writer of the layers while mounted (edits made to the layers directly are undefined, as for the kernel
 * overlay), and every change reaches the kernel's caches: what an operation changes on the objects it names comes
 * back in its reply or is dropped by the kernel itself (a create drops the parent's attributes and cached listing,
 * an unlink the victim's attributes), and what it changes on other objects the engine reports to its
 * {@link ChangeListener}, which this door turns into FUSE notifications before it answers: a copy-up makes lower-only
 * ancestor directories merge directories (their link count becomes 1) and may reorder the listing of each copied-up
 * object's parent, and a copy-up that gives a name a new st_ino invalidates the name. Data is never cached beyond
 * the kernel's page cache of an open file: no writeback cache is negotiated, so every write(2) reaches the upper
 * layer before it returns (through the engine, or by passthrough straight to the upper inode), and tests can compare
 * the layers right after an operation.
 *
 * <p>Files open on their upper inode are FUSE passthrough files when the kernel allows it ({@link #openReply}): the
 * kernel reads, writes and maps them on the upper inode itself, with its page cache, as the kernel overlay does.
 *
 * <p>Other opens answer KEEP_CACHE: a file's pages stay cached across open(2)s. Its data only changes through this mount
 * (every write and truncate passes through the kernel, which updates or drops the cached pages itself), and a
 * copy-up moves the data to another real inode without changing it. AUTO_INVAL_DATA (negotiated at INIT) still drops
 * the pages when a fresh getattr shows another size or mtime. Without KEEP_CACHE every open threw the cache away, so
 * rereading a file went through the door again.
 *
 * <p>OPENDIR and FLUSH answer ENOSYS, which the kernel remembers: a directory handle carries nothing here (listings
 * live in the engine, keyed by cookie) and writes are synchronous, so both were round trips that did nothing. With
 * no OPENDIR the kernel opens directories with KEEP_CACHE and CACHE_DIR, which is what keeps listings cached.
 */
public final class OverlayFileSystem implements RawFileSystem {
    private static final Logger LOG = LoggerFactory.getLogger(OverlayFileSystem.class);
    /** A day: longer than any workload, yet a bound should some change ever go unreported. */
    static final long TTL = 86_400L * 1_000_000_000L;
    private static final String CAPABILITY = "security.capability";
    /** The answer for a file this door just made (no stack trace, no message to build: one per create). */
    private static final ErrnoException NO_CAPABILITY = new ErrnoException(Errno.ENODATA, CAPABILITY);

    private final Overlay overlay;
    /** How owners show through this mount: a mount-level transform, applied here at the door and nowhere else. */
    private final IdMapping uids, gids;
    private final NodeTable nodes;
    private final Map<Long, OpenFile> files = new ConcurrentHashMap<>();
    private final AtomicLong nextFh = new AtomicLong(1);
    private volatile FuseNotifier notifier = FuseNotifier.NONE;
    /** Off with the mount option passthrough=off: every read and write then comes to us as a request. */
    private final boolean passthroughWanted;
    private volatile FuseBackings backings = FuseBackings.NONE;
    /** The kernel agreed to passthrough at INIT. */
    private volatile boolean passthroughNegotiated;
    /** New backing files may be registered: cleared, with a warning, when the kernel refuses one. */
    private volatile boolean passthroughUsable;
    /** Some backing file was registered: from then on an upper file's page cache may be stale. */
    private volatile boolean backingRegistered;
    /** Passthrough bookkeeping of the nodes that have open files, while passthrough is negotiated. */
    private final Map<Node, NodeIo> io = new ConcurrentHashMap<>();
    private final Set<Long> passthroughFiles = ConcurrentHashMap.newKeySet();

    /**
     * How the kernel does one node's open files: the kernel lets one backing file serve a FUSE inode at a time, and
     * none while the inode has files open without one. So a node's files are either all on its backing file (each
     * open reuses the id) or all served through requests, until the last of them is released.
     */
    private static final class NodeIo {
        int backingId;
        int passthrough;
        int cached;
    }

    public OverlayFileSystem(Overlay overlay) {
        this(overlay, true);
    }

    /** With {@code passthrough} false, INIT does not ask for FUSE passthrough. */
    public OverlayFileSystem(Overlay overlay, boolean passthrough) {
        this(overlay, passthrough, IdMapping.IDENTITY, IdMapping.IDENTITY);
    }

    /** With owners shown through {@code uids} and {@code gids} (fuse-overlayfs's uidmapping=, gidmapping=, squash_*). */
    public OverlayFileSystem(Overlay overlay, boolean passthrough, IdMapping uids, IdMapping gids) {
        this.uids = uids;
        this.gids = gids;
        this.overlay = overlay;
        this.passthroughWanted = passthrough;
        this.nodes = new NodeTable(overlay.root());
        overlay.addChangeListener(new ChangeListener() {
            @Override public void attrsChanged(Node n) {
                long id = nodes.idOf(n);
                if (id != 0) notifier.invalInode(id, -1, 0);
            }

            @Override public void listingChanged(Node dir) {
                long id = nodes.idOf(dir);
                if (id != 0) notifier.invalInode(id, 0, 0);   // a directory's pages are its cached listing
            }

            @Override public void entryChanged(Node dir, String name) {
                long id = nodes.idOf(dir);
                if (id != 0) notifier.invalEntryLater(id, name);
            }
        });
    }

    @Override public void attach(FuseNotifier n) {
        notifier = n;
    }

    @Override public boolean passthrough() { return passthroughWanted; }

    @Override public void attach(FuseBackings b) {
        backings = b;
    }

    @Override public void init(FuseInit.Negotiated n) {
        passthroughNegotiated = passthroughUsable = n.has(FuseInit.PASSTHROUGH);
    }

    /**
     * The answer to an OPEN or CREATE. A file opened on its upper inode is given to the kernel as a backing file
     * (FUSE passthrough): reads, writes and mmap then go from the kernel straight to the upper inode, as on the
     * kernel overlay, and never reach us. A file opened on a lower inode is not: a copy-up must be able to move its
     * reads to the upper copy (the engine does, on the next read), which a backing file cannot do; except on a
     * read-only overlay (no upper layer), where nothing is ever copied up ({@link Overlay#finalFd}).
     *
     * <p>Without passthrough, opens keep the page cache (KEEP_CACHE, see the class comment); with it, an upper file
     * that must be served through requests (another open of it still is) does not: writes through a backing file
     * passed by the inode's page cache, which may hold older pages.
     */
    private FuseOpen openReply(OpenFile f) {
        long fh = register(f);
        if (!passthroughNegotiated) return new FuseOpen(fh, FuseOpen.KEEP_CACHE);
        int fd = overlay.finalFd(f);
        int[] id = {0};
        io.compute(f.node(), (n, s) -> {
            if (s == null) s = new NodeIo();
            // A backing file in use is the node's upper inode, where every open of it must read now: also an open
            // the engine made on the lower inode just before a concurrent copy-up (the kernel would refuse it an
            // open through requests while the inode has passthrough files: ETXTBSY).
            if (s.passthrough == 0 && fd >= 0 && s.cached == 0 && passthroughUsable) s.backingId = registerBacking(fd);
            if (s.backingId > 0) {
                s.passthrough++;
                id[0] = s.backingId;
            } else {
                s.cached++;
            }
            return s;
        });
        if (id[0] > 0) {
            passthroughFiles.add(fh);
            return new FuseOpen(fh, FuseOpen.PASSTHROUGH, id[0]);
        }
        return new FuseOpen(fh, fd >= 0 ? 0 : FuseOpen.KEEP_CACHE);
    }

    private int registerBacking(int fd) {
        try {
            int id = backings.open(fd);
            backingRegistered = true;
            return id;
        } catch (ErrnoException e) {
            passthroughUsable = false;
            // refused from the start (not root, an upper layer on an overlay): as if INIT had not agreed, which
            // keeps upper files' pages cached across opens; once some file had a backing, its pages may be stale
            if (!backingRegistered) passthroughNegotiated = false;
            LOG.warn("FUSE passthrough refused ({}): files are served through requests from now on", e.getMessage());
            return 0;
        }
    }

    /** Ends the bookkeeping of {@link #openReply} for a released file. */
    private void released(long fh, OpenFile f) {
        if (!passthroughNegotiated) return;
        boolean pt = passthroughFiles.remove(fh);
        int[] close = {0};
        io.computeIfPresent(f.node(), (n, s) -> {
            if (!pt) {
                s.cached--;
            } else if (--s.passthrough == 0) {
                close[0] = s.backingId;
                s.backingId = 0;
            }
            return s.passthrough <= 0 && s.cached <= 0 ? null : s;
        });
        if (close[0] > 0) backings.close(close[0]);
    }

    /**
     * Quick: requests that touch metadata of one object and at most copy up directories, which hold no data
     * (unlink with the index may copy up a lower hard link: rare enough). Not quick: reads (may wait for the disk),
     * READDIRPLUS (a stat of every entry of a page, each maybe from the disk: concurrent listings by several
     * clients should not wait for each other), and whatever may copy up a file's data first or sync (open for
     * writing, setattr, link, rename, xattr changes, fsync, fallocate).
     */
    @Override public boolean quick(int opcode) {
        return switch (opcode) {
            case FuseOpcode.LOOKUP, FuseOpcode.FORGET, FuseOpcode.BATCH_FORGET, FuseOpcode.GETATTR,
                 FuseOpcode.READLINK, FuseOpcode.GETXATTR, FuseOpcode.LISTXATTR, FuseOpcode.ACCESS,
                 FuseOpcode.STATFS, FuseOpcode.OPENDIR, FuseOpcode.READDIR, FuseOpcode.RELEASEDIR,
                 FuseOpcode.RELEASE, FuseOpcode.FLUSH, FuseOpcode.INTERRUPT, FuseOpcode.CREATE, FuseOpcode.MKNOD,
                 FuseOpcode.MKDIR, FuseOpcode.SYMLINK, FuseOpcode.UNLINK, FuseOpcode.RMDIR, FuseOpcode.WRITE,
                 FuseOpcode.LSEEK,
                 // not served (ENOSYS at once; the kernel then asks GETATTR): nothing to hand on for
                 FuseOpcode.STATX -> true;
            default -> false;
        };
    }

    /**
     * A SETATTR that is a chmod, chown or utimes (no size) of an object already on the upper layer is quick too: a
     * metadata call or two on the upper inode, as a create is, with no copy-up first. `tar -x` into the mount sends
     * three per file (owner, mode, times): handed to another thread each, they cost a wake-up and a thread switch
     * apiece (one futex call per request in strace -c of a 5,559-file untar).
     */
    @Override public boolean quick(int opcode, long nodeid, int firstWord) {
        if (opcode != FuseOpcode.SETATTR) return quick(opcode);
        if ((firstWord & FuseSetAttr.SIZE) != 0) return false;
        try {
            return nodes.get(nodeid).isUpper();
        } catch (ErrnoException e) {
            return false;
        }
    }

    /** The engine clears set-user-ID and set-group-ID when the kernel flags a write, truncate or open for it. */
    @Override public boolean killsPrivileges() { return true; }

    /**
     * Clears what a write by this caller clears ({@link Overlay#killPrivs}) and, when the mode changed, drops the
     * kernel's cached attributes: a WRITE or OPEN reply carries none, and the kernel would otherwise keep judging
     * by the set-user-ID bit it has cached.
     */
    private void killPrivs(FuseContext c, long nodeid, Node n) throws ErrnoException {
        if (overlay.killPrivs(n, () -> credsWithGroups(c))) notifier.invalInode(nodeid, -1, 0);
    }

    /** Nodeids the kernel still holds (root included): for tests of the FORGET accounting. */
    public int referencedNodes() { return nodes.size(); }

    /** Files opened through the mount and not yet released. */
    public int openFiles() { return files.size(); }

    // --- translation -------------------------------------------------------------------------------------------

    FuseAttr attr(Attr a) {
        return new FuseAttr(a.ino(), a.size(), a.blocks(), a.atimeSec(), a.atimeNsec(), a.mtimeSec(), a.mtimeNsec(),
                a.ctimeSec(), a.ctimeNsec(), a.mode(), a.nlink(), uids.shown(a.uid()), gids.shown(a.gid()), a.rdev(),
                a.blksize());
    }

    /**
     * The engine's credentials for a caller: its ids as they are on disk. A caller whose id no mapping covers acts
     * as the overflow id, as in fuse-overlayfs, except the host's root (the container engine itself, making mount
     * points in the tree): the kernel has already checked its access (default_permissions), and it stays root.
     */
    private Creds creds(FuseContext c) {
        if (uids.isIdentity() && gids.isIdentity()) return CallerCreds.of(c);
        return new Creds(uidIn(c.uid()), gidIn(c.uid(), c.gid()), new int[0]);
    }

    private Creds credsWithGroups(FuseContext c) {
        if (c.uid() == 0 && uidIn(0) == 0) return creds(c);
        int[] groups = CallerCreds.groups(c.pid());
        return withGroups(c, groups);
    }

    private Creds withGroups(FuseContext c, int[] groups) {
        if (uids.isIdentity() && gids.isIdentity()) return new Creds(c.uid(), c.gid(), groups);
        int[] mapped = new int[groups.length];
        for (int i = 0; i < groups.length; i++) mapped[i] = gids.onDisk(groups[i]);
        return new Creds(uidIn(c.uid()), gidIn(c.uid(), c.gid()), mapped);
    }

    private int uidIn(int uid) {
        return uid == 0 && !uids.maps(0) ? 0 : uids.onDisk(uid);
    }

    private int gidIn(int uid, int gid) {
        return uid == 0 && !uids.maps(0) && !gids.maps(gid) ? gid : gids.onDisk(gid);
    }

    /** An entry for {@code n}, taking the kernel's lookup reference on it. */
    private FuseEntry entry(Node n) throws ErrnoException {
        return entry(n, overlay.getattr(n));
    }

    private FuseEntry entryOf(Found f) {
        return entry(f.node(), f.attr());
    }

    /**
     * The entry for a name of {@code n}. A name of a lower hard link is not cached (entry timeout 0): the kernel
     * then looks it up at every use, which tells the engine which name a following change comes through
     * ({@link Overlay#hasLowerAliases}); cached, a truncate through one name copied up whichever name was looked
     * up last, and the upper layer differed from the kernel overlay's.
     */
    private FuseEntry entry(Node n, Attr a) {
        NodeTable.Id id = nodes.ref(n, nodes.holds(n) ? 0 : persistentHandle(n));
        return new FuseEntry(id.nodeid(), id.generation(), overlay.hasLowerAliases(n) ? 0 : TTL, TTL, attr(a));
    }

    /**
     * The engine's handle of {@code n} that fits a nodeid, 0 when there is none: the kernel builds the mount's file
     * handles from nodeids, so with it they decode after the kernel forgot the node, and after a remount.
     */
    private long persistentHandle(Node n) {
        try {
            return overlay.compactHandle(n);
        } catch (ErrnoException e) {
            return 0;
        }
    }

    private OpenFile file(long fh) throws ErrnoException {
        OpenFile f = files.get(fh);
        if (f == null) throw new ErrnoException(Errno.EBADF, "unknown file handle " + fh);
        return f;
    }

    private long register(OpenFile f) {
        long fh = nextFh.getAndIncrement();
        files.put(fh, f);
        return fh;
    }

    /** An engine call made with the caller's credentials. */
    private interface AsCaller<T> {
        T run(Creds creds) throws ErrnoException;
    }

    /**
     * Runs {@code op} with the caller's uid and gid; only if the engine refuses (EACCES/EPERM) are the caller's
     * supplementary groups read from /proc and the call made again. The engine checks permissions before it
     * changes anything, so a refused first try has no effect; this keeps the /proc read off the common path.
     */
    private <T> T asCaller(FuseContext c, AsCaller<T> op) throws ErrnoException {
        try {
            return op.run(creds(c));
        } catch (ErrnoException e) {
            if (c.uid() == 0 || (e.errno() != Errno.EACCES && e.errno() != Errno.EPERM)) throw e;
            int[] groups = CallerCreds.groups(c.pid());
            if (groups.length == 0) throw e;
            return op.run(withGroups(c, groups));
        }
    }

    // --- requests ----------------------------------------------------------------------------------------------

    @Override public FuseEntry lookup(FuseContext c, long parent, String name) throws ErrnoException {
        if (name.equals(".")) {
            // exportfs asks for the nodeid of a file handle: one the kernel holds, or else one it forgot (or an
            // earlier mount handed out), which the engine decodes when it is a persistent handle
            NodeTable.Known k = nodes.refKnown(parent);
            NodeTable.Id id;
            Node n;
            if (k != null) {
                n = k.node();
                id = k.id();
            } else {
                n = overlay.decodeCompactHandle(parent);
                id = nodes.refDecoded(parent, n);
            }
            Attr a;
            try {
                a = overlay.getattr(n);
            } catch (ErrnoException e) {
                nodes.forget(id.nodeid(), 1);
                throw e;
            }
            return new FuseEntry(id.nodeid(), id.generation(), TTL, TTL, attr(a));
        }
        Node dir = nodes.get(parent);
        Found f;
        try {
            f = asCaller(c, cr -> overlay.lookupAttrOrNull(dir, name, cr));
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) return FuseEntry.negative(TTL);
            throw e;
        }
        // A missing name may be cached too: names only appear through this mount, and the kernel makes the
        // cached negative entry positive when it creates or renames something there.
        return f == null ? FuseEntry.negative(TTL) : entryOf(f);
    }

    @Override public void forget(long nodeid, long nlookup) {
        Node gone = nodes.forget(nodeid, nlookup);
        // the kernel overlay's inode would be evicted now too, with what it kept in memory (Overlay#evicted)
        if (gone != null) overlay.evicted(gone);
    }

    @Override public FuseAttrOut getattr(FuseContext c, long nodeid, long fh) throws ErrnoException {
        return new FuseAttrOut(attr(overlay.getattr(nodes.get(nodeid))), TTL);
    }

    @Override public FuseAttrOut setattr(FuseContext c, long nodeid, FuseSetAttr in) throws ErrnoException {
        Node n = nodes.get(nodeid);
        Integer mode = in.has(FuseSetAttr.MODE) ? in.mode() & 07777 : null;
        Integer uid = in.has(FuseSetAttr.UID) ? uids.onDisk(in.uid()) : null;
        Integer gid = in.has(FuseSetAttr.GID) ? gids.onDisk(in.gid()) : null;
        Long size = in.has(FuseSetAttr.SIZE) ? in.size() : null;
        Long aSec = null, aNsec = null, mSec = null, mNsec = null;
        if (in.has(FuseSetAttr.ATIME_NOW)) {
            aSec = 0L;
            aNsec = SetAttr.NOW;
        } else if (in.has(FuseSetAttr.ATIME)) {
            aSec = in.atime();
            aNsec = (long) in.atimeNsec();
        }
        if (in.has(FuseSetAttr.MTIME_NOW)) {
            mSec = 0L;
            mNsec = SetAttr.NOW;
        } else if (in.has(FuseSetAttr.MTIME)) {
            mSec = in.mtime();
            mNsec = (long) in.mtimeNsec();
        }
        Creds creds = credsWithGroups(c);
        SetAttr a = new SetAttr(mode, uid, gid, size, aSec, aNsec, mSec, mNsec);
        // A SETATTR that changes nothing is chown(f, -1, -1) (see below): the privileges it drops need the owner
        boolean nothing = mode == null && uid == null && gid == null && size == null && aSec == null && mSec == null;
        if (nothing && !in.has(FuseSetAttr.KILL_SUIDGID)) overlay.mayDropPrivs(n, creds);
        Attr after;
        try {
            if (in.has(FuseSetAttr.FH) && size != null && mode == null && uid == null && gid == null) {
                // ftruncate(2): the permission that counts is the open file's write mode, checked at its open; the
                // inode's mode may deny writing by now. The real truncate moves mtime and ctime itself.
                after = overlay.truncate(file(in.fh()), size);
            } else {
                after = overlay.setattr(n, a, creds);
            }
        } catch (ErrnoException e) {
            // squashed owners: a chown succeeds whatever it finds, as fuse-overlayfs makes it
            if ((uid == null && gid == null) || !(uids.squashes() || gids.squashes())) throw e;
            if (e.errno() != Errno.EPERM && e.errno() != Errno.EINVAL) throw e;
            after = overlay.setattr(n, new SetAttr(mode, null, null, size, aSec, aNsec, mSec, mNsec), creds);
        }
        // A truncate by a caller without CAP_FSETID, or a chown: the privileges go too (unless a mode was given).
        // So they do for a SETATTR that changes nothing: under HANDLE_KILLPRIV_V2 the kernel sends one when it
        // drops the mode change it made of a privilege kill (chown(-1, -1), which the flag does not cover).
        if ((in.has(FuseSetAttr.KILL_SUIDGID) || nothing) && mode == null
                && overlay.killPrivs(n, () -> credsWithGroups(c))) {
            after = overlay.getattr(n);
        }
        return new FuseAttrOut(attr(after), TTL);
    }

    @Override public String readlink(FuseContext c, long nodeid) throws ErrnoException {
        return overlay.readlink(nodes.get(nodeid));
    }

    @Override public FuseEntry mknod(FuseContext c, long parent, String name, int mode, long rdev)
            throws ErrnoException {
        return mknod(c, parent, name, mode, rdev, 0);
    }

    /** The engine applies the umask (none under a default ACL): POSIX_ACL and DONT_MASK are asked for. */
    @Override public FuseEntry mknod(FuseContext c, long parent, String name, int mode, long rdev, int umask)
            throws ErrnoException {
        Node dir = nodes.get(parent);
        return entry(asCaller(c, cr -> overlay.mknod(dir, name, mode, rdev, cr.withUmask(umask))));
    }

    @Override public FuseEntry mkdir(FuseContext c, long parent, String name, int mode) throws ErrnoException {
        return mkdir(c, parent, name, mode, 0);
    }

    @Override public FuseEntry mkdir(FuseContext c, long parent, String name, int mode, int umask)
            throws ErrnoException {
        Node dir = nodes.get(parent);
        return entry(asCaller(c, cr -> overlay.mkdir(dir, name, mode, cr.withUmask(umask))));
    }

    /** The kernel checks permissions with the ACLs the engine serves, as the kernel overlay does. */
    @Override public boolean posixAcl() { return true; }

    @Override public FuseEntry symlink(FuseContext c, long parent, String name, String target)
            throws ErrnoException {
        Node dir = nodes.get(parent);
        return entry(asCaller(c, cr -> overlay.symlink(dir, name, target, cr)));
    }

    @Override public FuseEntry link(FuseContext c, long nodeid, long newParent, String newName)
            throws ErrnoException {
        Node n = nodes.get(nodeid), dir = nodes.get(newParent);
        return entry(asCaller(c, cr -> overlay.link(n, dir, newName, cr)));
    }

    @Override public void unlink(FuseContext c, long parent, String name) throws ErrnoException {
        Node dir = nodes.get(parent);
        asCaller(c, cr -> { overlay.unlink(dir, name, cr); return null; });
    }

    @Override public void rmdir(FuseContext c, long parent, String name) throws ErrnoException {
        Node dir = nodes.get(parent);
        asCaller(c, cr -> { overlay.rmdir(dir, name, cr); return null; });
    }

    @Override public void rename(FuseContext c, long parent, String name, long newParent, String newName, int flags)
            throws ErrnoException {
        Node from = nodes.get(parent), to = nodes.get(newParent);
        asCaller(c, cr -> { overlay.rename(from, name, to, newName, flags, cr); return null; });
    }

    @Override public FuseOpen open(FuseContext c, long nodeid, int flags) throws ErrnoException {
        return open(c, nodeid, flags, false);
    }

    @Override public FuseOpen open(FuseContext c, long nodeid, int flags, boolean killSuidgid) throws ErrnoException {
        Node n = nodes.get(nodeid);
        OpenFile f = asCaller(c, cr -> overlay.open(n, flags, cr));
        if (killSuidgid && (flags & Linux.O_TRUNC) != 0) {
            try {
                killPrivs(c, nodeid, n);
            } catch (ErrnoException e) {
                overlay.release(f);
                throw e;
            }
        }
        return openReply(f);
    }

    @Override public Created create(FuseContext c, long parent, String name, int mode, int flags)
            throws ErrnoException {
        return create(c, parent, name, mode, flags, 0);
    }

    @Override public Created create(FuseContext c, long parent, String name, int mode, int flags, int umask)
            throws ErrnoException {
        // Groups only matter to the permission check here, so they are read only when it fails (asCaller).
        Node dir = nodes.get(parent);
        Overlay.Created made = asCaller(c, cr -> overlay.createOpen(dir, name, mode, flags, cr.withUmask(umask)));
        OpenFile f = made.file();
        FuseEntry e = entry(f.node(), made.attr());
        nodes.madeHere(e.nodeid());
        return new Created(e, openReply(f));
    }

    @Override public int read(FuseContext c, long nodeid, long fh, long offset, byte[] dst, int size)
            throws ErrnoException {
        return read(c, nodeid, fh, offset, dst, 0, size);
    }

    @Override public int read(FuseContext c, long nodeid, long fh, long offset, byte[] dst, int off, int size)
            throws ErrnoException {
        OpenFile f = file(fh);
        int done = 0;
        while (done < size) {
            int n = overlay.read(f, offset + done, dst, off + done, size - done);
            if (n <= 0) break;
            done += n;
        }
        return done;
    }

    @Override public int readFd(FuseContext c, long nodeid, long fh) throws ErrnoException {
        return overlay.dataFd(file(fh));
    }

    @Override public int write(FuseContext c, long nodeid, long fh, long offset, byte[] data, int off, int len,
                               boolean killSuidgid) throws ErrnoException {
        if (killSuidgid) killPrivs(c, nodeid, file(fh).node());
        return write(c, nodeid, fh, offset, data, off, len);
    }

    @Override public int write(FuseContext c, long nodeid, long fh, long offset, byte[] data, int off, int len)
            throws ErrnoException {
        OpenFile f = file(fh);
        int done = 0;
        while (done < len) {
            int n = overlay.write(f, offset + done, data, off + done, len - done);
            if (n <= 0) break;
            done += n;
        }
        return done;
    }

    /** Writes are synchronous to the engine, so close(2) has nothing to push: ENOSYS, and the kernel stops asking. */
    @Override public void flush(FuseContext c, long nodeid, long fh) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS, "flush");
    }

    @Override public void release(FuseContext c, long nodeid, long fh) throws ErrnoException {
        OpenFile f = files.remove(fh);
        if (f == null) return;
        released(fh, f);
        overlay.release(f);
    }

    @Override public void fsync(FuseContext c, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        overlay.fsync(file(fh), dataOnly);
    }

    /** The directory's upper inode alone is synced, as the kernel's overlay does (not the whole upper layer). */
    @Override public void fsyncdir(FuseContext c, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        overlay.fsync(nodes.get(nodeid), dataOnly);
    }

    /**
     * Directory state lives in the engine's cookies and the kernel checked the permission already: ENOSYS, and
     * the kernel stops sending OPENDIR and RELEASEDIR and opens directories with KEEP_CACHE and CACHE_DIR.
     */
    @Override public FuseOpen opendir(FuseContext c, long nodeid) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS, "opendir");
    }

    @Override public void readdir(FuseContext c, long nodeid, long fh, long offset, DirBuffer out)
            throws ErrnoException {
        Node dir = nodes.get(nodeid);
        long cookie = offset;
        while (true) {
            int max = Math.max(1, out.remaining() / out.recordSize(""));
            long from = cookie;
            List<DirEntry> batch = asCaller(c, cr -> overlay.readdir(dir, from, max, cr));
            // Only what fits is sent, and only that is looked up (READDIRPLUS).
            int fit = 0;
            for (int room = out.remaining(); fit < batch.size(); fit++) {
                int size = out.recordSize(batch.get(fit).name());
                if (size > room) break;
                room -= size;
            }
            List<Found> found = out.plus() ? plusLookups(dir, batch.subList(0, fit), c) : null;
            for (int i = 0; i < fit; i++) {
                DirEntry e = batch.get(i);
                if (!out.plus()) {
                    out.add(e.name(), e.ino(), e.type(), e.cookie());
                } else {
                    Found f = found.get(i);
                    out.addPlus(e.name(), e.ino(), e.type(), e.cookie(), f == null ? null : entryOf(f));
                }
                cookie = e.cookie();
            }
            if (fit < batch.size() || batch.size() < max) return;
        }
    }

    /**
     * The entries of READDIRPLUS records, all looked up at once; none for "." and ".." (the kernel ignores them),
     * none for names that vanished meanwhile, none at all if the caller may not search the directory (the kernel
     * then just lists the names, and a later lookup gets the error).
     */
    private List<Found> plusLookups(Node dir, List<DirEntry> entries, FuseContext c) {
        List<Found> out = new java.util.ArrayList<>(java.util.Collections.nCopies(entries.size(), (Found) null));
        List<String> names = new java.util.ArrayList<>(entries.size());
        List<Integer> at = new java.util.ArrayList<>(entries.size());
        for (int i = 0; i < entries.size(); i++) {
            String name = entries.get(i).name();
            if (name.equals(".") || name.equals("..")) continue;
            names.add(name);
            at.add(i);
        }
        if (names.isEmpty()) return out;
        try {
            List<Found> found = asCaller(c, cr -> overlay.lookupAll(dir, names, cr));
            for (int k = 0; k < found.size(); k++) out.set(at.get(k), found.get(k));
        } catch (ErrnoException ex) {
            // not searchable: names only
        }
        return out;
    }

    @Override public FuseStatFs statfs(FuseContext c, long nodeid) throws ErrnoException {
        StatFs s = overlay.statfs();
        return new FuseStatFs(s.blocks(), s.bfree(), s.bavail(), s.files(), s.ffree(), (int) s.bsize(),
                (int) s.namelen(), (int) s.frsize());
    }

    @Override public void setxattr(FuseContext c, long nodeid, String name, byte[] value, int flags)
            throws ErrnoException {
        setxattr(c, nodeid, name, value, flags, false);
    }

    /**
     * The ACL's mode bits are set by the upper filesystem, for this process, which may keep set-group-ID: when the
     * kernel says the caller may not, it goes, as the kernel overlay's ACL change clears it.
     */
    @Override public void setxattr(FuseContext c, long nodeid, String name, byte[] value, int flags, boolean killSgid)
            throws ErrnoException {
        Node n = nodes.get(nodeid);
        nodes.xattrChanging(nodeid);
        asCaller(c, cr -> { overlay.setxattr(n, name, value, flags, cr); return null; });
        if (killSgid) {
            Attr a = overlay.getattr(n);
            if ((a.mode() & 02000) != 0) overlay.setattr(n, SetAttr.chmod(a.mode() & 05777), Creds.ROOT);
        }
    }

    /**
     * security.capability of a file this door just created is known to be absent ({@link NodeTable#madeHere}): the
     * kernel asks for it before the first write to every new inode, one request per create.
     */
    @Override public boolean xattrKnownAbsent(long nodeid, String name) {
        return name.equals(CAPABILITY) && nodes.noCapability(nodeid);
    }

    @Override public byte[] getxattr(FuseContext c, long nodeid, String name) throws ErrnoException {
        if (name.equals(CAPABILITY) && nodes.noCapability(nodeid)) throw NO_CAPABILITY;
        Node n = nodes.get(nodeid);
        return asCaller(c, cr -> overlay.getxattr(n, name, cr));
    }

    @Override public List<String> listxattr(FuseContext c, long nodeid) throws ErrnoException {
        Node n = nodes.get(nodeid);
        return asCaller(c, cr -> overlay.listxattr(n, cr));
    }

    @Override public void removexattr(FuseContext c, long nodeid, String name) throws ErrnoException {
        Node n = nodes.get(nodeid);
        nodes.xattrChanging(nodeid);
        asCaller(c, cr -> { overlay.removexattr(n, name, cr); return null; });
    }

    @Override public void access(FuseContext c, long nodeid, int mask) throws ErrnoException {
        Node n = nodes.get(nodeid);
        asCaller(c, cr -> { overlay.access(n, mask, cr); return null; });
    }

    /**
     * The inode flag requests (chattr, lsattr, xfs_io's chattr/lsproj) go to the engine, which keeps them as the
     * kernel overlay does; the kernel has checked ownership and CAP_LINUX_IMMUTABLE on its side already. Any other
     * command is not a filesystem's: ENOTTY, as the kernel overlay answers unknown ioctls.
     */
    @Override public byte[] ioctl(FuseContext c, long nodeid, long fh, int flags, int cmd, byte[] in, int outSize)
            throws ErrnoException {
        Node n = nodes.get(nodeid);
        long command = Integer.toUnsignedLong(cmd);
        if (command == Linux.FS_IOC_GETFLAGS) {
            if (outSize < 4) throw new ErrnoException(Errno.EINVAL, "FS_IOC_GETFLAGS: room for " + outSize + " bytes");
            int v = overlay.getFlags(n);
            return new byte[]{(byte) v, (byte) (v >> 8), (byte) (v >> 16), (byte) (v >> 24)};
        }
        if (command == Linux.FS_IOC_SETFLAGS) {
            if (in.length < 4) throw new ErrnoException(Errno.EINVAL, "FS_IOC_SETFLAGS: " + in.length + " bytes");
            int v = in[0] & 0xff | (in[1] & 0xff) << 8 | (in[2] & 0xff) << 16 | (in[3] & 0xff) << 24;
            asCaller(c, cr -> { overlay.setFlags(n, v, cr); return null; });
            return new byte[0];
        }
        if (command == Linux.FS_IOC_FSGETXATTR) {
            if (outSize < Fsxattr.SIZE) throw new ErrnoException(Errno.EINVAL, "FS_IOC_FSGETXATTR: room " + outSize);
            return overlay.getFsxattr(n).bytes();
        }
        if (command == Linux.FS_IOC_FSSETXATTR) {
            Fsxattr x = Fsxattr.of(in);
            asCaller(c, cr -> { overlay.setFsxattr(n, x, cr); return null; });
            return new byte[0];
        }
        throw new ErrnoException(Errno.ENOTTY, "ioctl " + Long.toHexString(command));
    }

    /**
     * The mode goes to the engine as it is (the kernel's FUSE module passes KEEP_SIZE, PUNCH_HOLE and ZERO_RANGE
     * on and answers the other modes EOPNOTSUPP itself); the engine fallocates the real upper file through the
     * open file, so the opener's write mode is what counts.
     */
    @Override public void fallocate(FuseContext c, long nodeid, long fh, long offset, long length, int mode)
            throws ErrnoException {
        overlay.fallocate(file(fh), mode, offset, length);
    }

    /** SEEK_DATA / SEEK_HOLE from the real file: holes of sparse files (lower, upper, metacopy) stay holes. */
    @Override public long lseek(FuseContext c, long nodeid, long fh, long offset, int whence) throws ErrnoException {
        return overlay.seekDataOrHole(file(fh), offset, whence);
    }

    @Override public void destroy() {
        for (Map.Entry<Long, OpenFile> e : files.entrySet()) {
            try {
                overlay.release(e.getValue());
            } catch (ErrnoException ex) {
                LOG.debug("release at unmount: {}", ex.getMessage());
            }
        }
        files.clear();
    }
}
