package org.overlayj.core;

import java.lang.foreign.MemorySegment;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.layer.LayerStack;
import org.overlayj.core.layer.MountChecks;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Fsxattr;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;
import org.overlayj.sys.StatFs;

import java.util.List;
import java.util.concurrent.locks.Lock;

/**
 * The overlay: one instance per mounted set of layers. Inode-based like the VFS: doors hold {@link Node}s and call
 * these methods; every overlay rule lives behind them. Names and paths are byte strings (see
 * org.overlayj.sys.Linux). Errors are {@link ErrnoException}s carrying the errno the kernel's overlayfs gives.
 */
public final class Overlay implements AutoCloseable {
    final OverlayFs fs;      // package-private: the test seam (src/test) and bench/decode-bench reach it
    private final Lookup lookup;
    private final Readdir readdir;
    private final CopyUp copyUp;
    private final Namespace namespace;
    final Export export;     // package-private: as fs
    private final OverlayInode inode;
    private final OverlayXattrs xattrs;
    private final OverlayFile file;
    private final Node root;
    final DirReadahead readahead;

    private Overlay(LayerStack layers, Probe probe) throws ErrnoException {
        this(layers, probe, false);
    }

    private Overlay(LayerStack layers, Probe probe, boolean offline) throws ErrnoException {
        this.fs = offline ? new OverlayFs(layers, true) : new OverlayFs(layers, probe);
        this.readahead = new DirReadahead(probe);
        this.lookup = new Lookup(fs);
        lookup.readAhead = readahead::taken;
        this.readdir = new Readdir(fs, lookup);
        this.copyUp = new CopyUp(fs);
        this.namespace = new Namespace(fs, lookup, readdir, copyUp);
        this.export = new Export(fs, lookup);
        copyUp.reconnect = export::reconnect;
        this.inode = new OverlayInode(fs, namespace, copyUp);
        this.xattrs = new OverlayXattrs(fs, namespace, copyUp);
        this.file = new OverlayFile(fs, namespace, copyUp, inode);
        try {
            if (fs.index.on() && !offline) fs.index.verifyAtMount();
            this.root = lookup.root();
        } catch (ErrnoException | RuntimeException e) {
            readahead.close();
            fs.close(); // its fds on the layer roots would keep the layers' filesystems busy after a refusal
            throw e;
        }
        fs.root = root;
    }

    /** Verifies and prepares the layers (format doc §1.3–1.4, §5.7, §8) and returns the mounted overlay. */
    public static Overlay mount(OverlayOptions options) throws ErrnoException {
        return mount(options, Probe.NONE);
    }

    /**
     * The engine on layers that are not mounted, to look at only (the tools: {@code overlayj handle}), as
     * {@link Inspection} opens it: no mount-time check, clean-up or in-use lock, and nothing is ever written (every
     * change is EROFS, a lookup writes no origin), while lookups and handles consult the index as a read-write
     * mount's do. {@code upper} and {@code lowers} as the tools found them (LayerSet). The one handle that would
     * need a write, a lower directory's that must be copied up first ({@link #encodeHandle}), is EROFS.
     */
    public static Overlay inspect(OverlayOptions options, org.overlayj.core.layer.Layer upper,
                                  List<org.overlayj.core.layer.Layer> lowers) throws ErrnoException {
        LayerStack layers = Inspection.offlineStack(options, upper, lowers);
        try {
            return new Overlay(layers, Probe.NONE, true);
        } catch (ErrnoException | RuntimeException e) {
            layers.close();
            throw e;
        }
    }

    /** {@link #mount(OverlayOptions)} with a test seam watching the engine's inner steps (core tests). */
    static Overlay mount(OverlayOptions options, Probe probe) throws ErrnoException {
        // Modes arrive from the doors with the caller's umask already applied; the real fs must not apply ours.
        Linux.umask(0);
        LayerStack layers = MountChecks.prepare(options);
        try {
            return new Overlay(layers, probe);
        } catch (ErrnoException | RuntimeException e) {
            layers.close();
            throw e;
        }
    }

    public OverlayOptions options() { return fs.opts; }

    /** The verified layers: for tools and tests. */
    public LayerStack layers() { return fs.layers; }

    /** True when there is no upper layer (or it fell back to read-only): every change gives EROFS. */
    public boolean readOnly() { return fs.layers.readOnly(); }

    public Node root() { return root; }

    private Lock read() {
        Lock l = fs.lock.readLock();
        l.lock();
        return l;
    }

    /**
     * Under the write lock, before a change to {@code n} itself: places it at the alias a lookup under the read
     * lock last reached it by but left it away from (Node#pendingAlias, Lookup#fill), so that the change acts
     * through that alias as it did when lookups placed nodes themselves, and as the kernel acts on the dentry it is
     * given (a write open links that name up; setxattr on an alias not linked up sets it on the index inode).
     */
    private void settle(Node n) {
        if (n.hasPendingAlias()) lookup.placeAtPendingAlias(n);
    }

    private Lock write() throws ErrnoException {
        if (readOnly()) throw OverlayFs.err(Errno.EROFS, "read-only overlay");
        Lock l = fs.lock.writeLock();
        l.lock();
        fs.changes++; // before anything changes: what decodes remembered is void from here on
        fs.decodeEpoch++;
        return l;
    }

    /** {@link #write()} for making a new object: a change, but none that voids remembered decodes (OverlayFs#decodeEpoch). */
    private Lock writeMaking() throws ErrnoException {
        if (readOnly()) throw OverlayFs.err(Errno.EROFS, "read-only overlay");
        Lock l = fs.lock.writeLock();
        l.lock();
        fs.changes++;
        return l;
    }

    /**
     * Releases a lock taken by {@link #write()} and then tells the listeners what the change did besides its own
     * job: outside the lock, since a listener's news may make a client call back in, and before the caller returns.
     */
    private void unlock(Lock l) {
        List<Effects.Effect> effects = fs.effects.takeEffects();
        l.unlock();
        fs.effects.tell(effects);
    }

    /**
     * The write lock for an operation that may copy up, with what its copy-ups may use (see {@link CopyUp#offer});
     * released by {@link #unlock(Lock, CopyUp.CopiedData)}. If the lock cannot be had, {@code ahead} is closed.
     */
    private Lock writeOffering(CopyUp.CopiedData ahead, long truncateTo) throws ErrnoException {
        Lock l;
        try {
            l = write();
        } catch (ErrnoException | RuntimeException e) {
            if (ahead != null) ahead.close();
            throw e;
        }
        copyUp.offer(ahead, truncateTo);
        return l;
    }

    private void unlock(Lock l, CopyUp.CopiedData ahead) {
        copyUp.withdraw();
        if (ahead != null) ahead.close();
        unlock(l);
    }

    /** Registers a door's listener for side effects of changes (see {@link ChangeListener}). */
    public void addChangeListener(ChangeListener listener) {
        fs.effects.listeners.add(listener);
    }

    /** The child {@code name} of {@code dir}; ENOENT when there is none (or it is whited out). */
    public Node lookup(Node dir, String name, Creds c) throws ErrnoException {
        Lock l = read();
        try {
            inode.searchable(dir, c);
            Node n = lookup.child(dir, name);
            if (n == null) throw absent(dir, name);
            return n;
        } finally {
            l.unlock();
        }
    }

    /**
     * As {@link #lookup}, with the child's attributes: from the stat the lookup made anyway, so a door answering a
     * lookup with attributes (FUSE) makes one stat of the child, not two.
     */
    public Found lookupAttr(Node dir, String name, Creds c) throws ErrnoException {
        Lock l = read();
        try {
            inode.searchable(dir, c);
            Found f = found(dir, name);
            if (f == null) throw absent(dir, name);
            return f;
        } finally {
            l.unlock();
        }
    }

    /**
     * As {@link #lookupAttr}, null where that fails with ENOENT for a missing name: a door that answers a missing
     * name with a negative entry (FUSE, before every create of a new name) builds no exception for it.
     */
    public Found lookupAttrOrNull(Node dir, String name, Creds c) throws ErrnoException {
        Lock l = read();
        try {
            inode.searchable(dir, c);
            Found f = found(dir, name);
            if (f == null) dir.absent = new Node.Absent(name, fs.changes);
            return f;
        } finally {
            l.unlock();
        }
    }

    /**
     * Looks up several children of {@code dir} at once (a READDIRPLUS page): one lock and one permission check for
     * all. Each result is null when that name is gone by now or cannot be looked up; the call itself fails only if
     * the directory cannot be searched.
     */
    public List<Found> lookupAll(Node dir, List<String> names, Creds c) throws ErrnoException {
        Lock l = read();
        // (a few names are looked up by path: the open and close of the directories would cost more than they save)
        try (Lookup.LowerDirs at = names.size() >= LOWER_DIRS_FROM ? lookup.openLowers(dir) : null) {
            inode.searchable(dir, c);
            List<Found> out = new java.util.ArrayList<>(names.size());
            for (String name : names) {
                Found f;
                try {
                    f = found(dir, name, at);
                } catch (ErrnoException e) {
                    f = null;
                }
                out.add(f);
            }
            readahead(out);
            return out;
        } finally {
            l.unlock();
        }
    }

    /** From how many names on {@link #lookupAll} looks them up relative to its lower directories' fds. */
    static final int LOWER_DIRS_FROM = 4;

    /** The real directories of the subdirectories just looked up, for {@link DirReadahead}. */
    private void readahead(List<Found> found) {
        List<DirReadahead.Dir> dirs = new java.util.ArrayList<>();
        for (Found f : found) {
            if (f == null || !f.node().isDir()) continue;
            Node n = f.node();
            if (n.isUpper()) dirs.add(new DirReadahead.Dir(fs.paths.upperPath(n), false));
            if (n.lowers() != null) for (Node.Lower l : n.lowers()) dirs.add(new DirReadahead.Dir(l.path(), true));
            if (dirs.size() >= DirReadahead.PER_LISTING) break;
        }
        readahead.offer(dirs);
    }

    /** ENOENT for a name a lookup under the read lock did not find, which the directory remembers (Node#absent). */
    private ErrnoException absent(Node dir, String name) {
        dir.absent = new Node.Absent(name, fs.changes);
        return OverlayFs.err(Errno.ENOENT, name);
    }

    private Found found(Node dir, String name) throws ErrnoException {
        return found(dir, name, null);
    }

    private Found found(Node dir, String name, Lookup.LowerDirs at) throws ErrnoException {
        Lookup.Resolved r = lookup.resolve(dir, name, at);
        if (r == null) return null;
        return new Found(r.node(), r.real() != null ? inode.attr(r.node(), r.real()) : inode.attr(r.node()));
    }

    /**
     * True for a non-directory with lower hard links: several names lead to it, and a change through one of them
     * copies up (or, with the index, links up) that name only, as the kernel does with the dentry it was given. The
     * engine copies up a node at the name it was last looked up by ({@link Lookup}), so a door whose requests name
     * no path (FUSE names an inode) has to have every use of such a name looked up again.
     */
    public boolean hasLowerAliases(Node n) {
        return !n.isDir() && n.lowerNlink() > 1;
    }

    /**
     * The door's client let go of {@code n}: the FUSE kernel evicted its inode (FORGET down to no lookups, as after
     * a drop_caches). The kernel overlay's inode goes at the same moment, and with it what that inode alone kept:
     * the union link count of an indexed object, read in again from {@code NS nlink} at the next use (format doc
     * §5.5; for a single-link file indexed under nfs_export that is the real upper count, the remount quirk). An
     * object with open files is kept, as the kernel keeps their inode.
     */
    public void evicted(Node n) {
        synchronized (n.openFiles) {
            if (!n.openFiles.isEmpty()) return;
        }
        Lock l = read();
        try {
            fs.index.evicted(n.ino);
        } finally {
            l.unlock();
        }
    }

    /**
     * {@link #evicted} for every object without open files: what {@code echo 3 > /proc/sys/vm/drop_caches} does to
     * a kernel overlay's inodes, for a door or a test driving the engine with no kernel cache in between.
     */
    public void evictAll() {
        Lock l = read();
        try {
            fs.index.evictAllBut(fs.inodes.openInodes());
        } finally {
            l.unlock();
        }
    }

    public Attr getattr(Node n) throws ErrnoException {
        Lock l = read();
        try {
            return inode.getattr(n);
        } finally {
            l.unlock();
        }
    }

    /** chmod / chown / truncate / utimes, copying the object up first. */
    public Attr setattr(Node n, SetAttr a, Creds c) throws ErrnoException {
        return setattr(n, a, c, false);
    }

    /**
     * {@link #setattr(Node, SetAttr, Creds)} for a door that trusts its client's open-time checks, as an NFS server
     * does: with {@code ownerOverride} the owner may truncate its file whatever the mode (knfsd's rule).
     */
    public Attr setattr(Node n, SetAttr a, Creds c, boolean ownerOverride) throws ErrnoException {
        long truncateTo = a.size() == null ? -1 : a.size();
        CopyUp.CopiedData ahead = copyAhead(truncateTo >= 0, () -> n, truncateTo,
                () -> inode.setattrAllowed(n, a, c, ownerOverride));
        Lock l = writeOffering(ahead, truncateTo);
        try {
            settle(n);
            return inode.setattr(n, a, c, ownerOverride);
        } finally {
            unlock(l, ahead);
        }
    }

    /**
     * Whether {@code c} may have the privileges of {@code n} dropped by a chown: chown(f, -1, -1) of a set-user-ID
     * or set-group-ID file turns, in the VFS, into a mode change, which only the owner (or root) may make (EPERM,
     * before any copy-up; with nothing to drop anyone may, and the file is copied up). For a door whose client drops
     * that mode change and sends a setattr that changes nothing (FUSE with HANDLE_KILLPRIV_V2). The same empty
     * setattr is what a FUSE client sends for the privilege removal of fallocate and copy_file_range, which anyone
     * who may write makes: while the file is open for writing the setattr is taken to be that one (so a stranger's
     * chown(f, -1, -1) of a set-id file someone holds open for writing drops its privileges, where the kernel
     * overlay says EPERM).
     */
    public void mayDropPrivs(Node n, Creds c) throws ErrnoException {
        if (!OverlayInode.dropPrivsChecked(n, c)) return;
        Lock r = read();
        try {
            inode.mayDropPrivs(n, c);
        } finally {
            r.unlock();
        }
    }

    /**
     * What a write or truncate by a caller without CAP_FSETID does to a regular file, and a chown by anyone (the
     * VFS's setattr_should_drop_suidgid): set-user-ID is cleared, and set-group-ID when group-execute is set or the
     * caller is not in the file's group. For a door whose client leaves this to the filesystem (FUSE with
     * HANDLE_KILLPRIV_V2); {@code caller} is asked only when group membership decides. Takes the write lock only
     * when there is something to clear. Returns whether the mode changed.
     */
    public boolean killPrivs(Node n, java.util.function.Supplier<Creds> caller) throws ErrnoException {
        Lock r = read();
        try {
            if (!inode.privsToKill(n, caller)) return false;
        } finally {
            r.unlock();
        }
        Lock l = write();
        try {
            settle(n);
            return inode.killPrivs(n, caller);
        } finally {
            unlock(l);
        }
    }

    /**
     * Up to {@code max} entries of the merged listing after {@code cookie} (0 = from the start; "." and ".." are
     * included first). Cookies stay valid until the directory changes; a cookie of 0 re-reads the layers.
     */
    public List<DirEntry> readdir(Node dir, long cookie, int max, Creds c) throws ErrnoException {
        Lock l = read();
        try {
            if (!dir.isDir()) throw OverlayFs.err(Errno.ENOTDIR, "readdir");
            if (cookie == 0) {
                Permissions.check(inode.attr(dir), Permissions.R, c, fs.paths.aclOf(dir));
                dir.listing = null;
            }
            List<DirEntry> all = readdir.list(dir).entries();
            if (cookie < 0 || cookie >= all.size()) return List.of();
            return all.subList((int) cookie, (int) Math.min(all.size(), cookie + Math.max(0, max)));
        } finally {
            l.unlock();
        }
    }

    /** Changes whenever the directory's entries change: the NFS cookie verifier. */
    public long dirVersion(Node dir) { return dir.dirVersion; }

    public Node create(Node dir, String name, int mode, Creds c) throws ErrnoException {
        return make(dir, name, Stat.S_IFREG | (mode & 07777), 0, null, c);
    }

    /**
     * Creates a regular file and opens it in one step (FUSE CREATE, open(2) with O_CREAT). The file is opened as
     * it is made, with the access flags of {@code flags} whatever its new mode says: the creator of a mode-0444 file
     * still gets the writable fd it asked for.
     */
    public Created createOpen(Node dir, String name, int mode, int flags, Creds c) throws ErrnoException {
        Lock l = writeMaking();
        try {
            return file.createOpen(dir, name, mode, flags, c);
        } finally {
            unlock(l);
        }
    }

    /** A file made and opened by {@link #createOpen}, and its attributes as made (no second stat). */
    public record Created(OpenFile file, Attr attr) {}

    public Node mkdir(Node dir, String name, int mode, Creds c) throws ErrnoException {
        return make(dir, name, Stat.S_IFDIR | (mode & 07777), 0, null, c);
    }

    public Node mknod(Node dir, String name, int mode, long rdev, Creds c) throws ErrnoException {
        int type = mode & Stat.S_IFMT;
        if (type == 0) type = Stat.S_IFREG;
        if (type == Stat.S_IFDIR || type == Stat.S_IFLNK) throw OverlayFs.err(Errno.EINVAL, "mknod type");
        // A 0/0 character device is how the overlay spells "deleted": clients may not make one.
        if (type == Stat.S_IFCHR && rdev == 0) throw OverlayFs.err(Errno.EPERM, "mknod of a whiteout");
        return make(dir, name, type | (mode & 07777), rdev, null, c);
    }

    public Node symlink(Node dir, String name, String target, Creds c) throws ErrnoException {
        if (target.isEmpty()) throw OverlayFs.err(Errno.ENOENT, "empty symlink target");
        return make(dir, name, Stat.S_IFLNK | 0777, 0, target, c);
    }

    private Node make(Node dir, String name, int mode, long rdev, String target, Creds c) throws ErrnoException {
        Lock l = writeMaking();
        try {
            return namespace.create(dir, name, mode, rdev, target, c);
        } finally {
            unlock(l);
        }
    }

    public Node link(Node node, Node newDir, String newName, Creds c) throws ErrnoException {
        CopyUp.CopiedData ahead = copyAhead(false, () -> node, -1,
                () -> Permissions.check(inode.attr(newDir), Permissions.W | Permissions.X, c, fs.paths.aclOf(newDir)));
        Lock l = writeOffering(ahead, -1);
        try {
            settle(node);
            return namespace.link(node, newDir, newName, c);
        } finally {
            unlock(l, ahead);
        }
    }

    public void unlink(Node dir, String name, Creds c) throws ErrnoException {
        // Namespace#remove voids the remembered decodes itself unless it removes a born-upper file
        Lock l = writeMaking();
        try {
            namespace.remove(dir, name, false, c);
        } finally {
            unlock(l);
        }
    }

    public void rmdir(Node dir, String name, Creds c) throws ErrnoException {
        Lock l = write();
        try {
            namespace.remove(dir, name, true, c);
        } finally {
            unlock(l);
        }
    }

    /** renameat2 semantics; {@code flags} are RENAME_NOREPLACE / RENAME_EXCHANGE (RENAME_WHITEOUT: EINVAL). */
    public void rename(Node oldDir, String oldName, Node newDir, String newName, int flags, Creds c)
            throws ErrnoException {
        // a lower file moves by copy-up: its data is copied ahead for a caller who may write both directories
        CopyUp.CopiedData ahead = copyAhead(false, () -> lookup.child(oldDir, oldName), -1, () -> {
            Permissions.check(inode.attr(oldDir), Permissions.W | Permissions.X, c, fs.paths.aclOf(oldDir));
            Permissions.check(inode.attr(newDir), Permissions.W | Permissions.X, c, fs.paths.aclOf(newDir));
        });
        Lock l = writeOffering(ahead, -1);
        try {
            namespace.rename(oldDir, oldName, newDir, newName, flags, c);
        } finally {
            unlock(l, ahead);
        }
    }

    public String readlink(Node n) throws ErrnoException {
        Lock l = read();
        try {
            return inode.readlink(n);
        } finally {
            l.unlock();
        }
    }

    /** Opens with open(2) flags; a write or O_TRUNC open copies the object up first. */
    public OpenFile open(Node n, int flags, Creds c) throws ErrnoException {
        return open(n, flags, c, false);
    }

    /**
     * {@link #open(Node, int, Creds)} for a door that trusts its client's open-time checks, as an NFS server does:
     * with {@code ownerOverride} the owner may read and write its file whatever the mode, and a file one may
     * execute may be read (knfsd's rules, see Permissions#checkData).
     */
    public OpenFile open(Node n, int flags, Creds c, boolean ownerOverride) throws ErrnoException {
        int acc = flags & Linux.O_ACCMODE;
        boolean wants = acc != Linux.O_RDONLY || (flags & Linux.O_TRUNC) != 0;
        int mask = OverlayFile.mask(flags);
        boolean trunc = (flags & Linux.O_TRUNC) != 0;
        if (wants && !trunc) {
            // a write open of a file whose data is on its upper inode already changes nothing: the read lock
            Lock r = read();
            try {
                OpenFile f = file.openWritableInPlace(n, flags, mask, c, ownerOverride);
                if (f != null) return f;
            } finally {
                r.unlock();
            }
        }
        CopyUp.CopiedData ahead = wants && !trunc
                ? copyAhead(true, () -> n, -1, () -> file.openAllowed(n, flags, mask, c, ownerOverride)) : null;
        Lock l = wants ? writeOffering(ahead, trunc ? 0 : -1) : read();
        try {
            if (wants) settle(n);
            return file.open(n, flags, mask, c, ownerOverride, wants);
        } finally {
            if (wants) unlock(l, ahead);
            else unlock(l);
        }
    }

    /**
     * For a door that keeps an open file between calls (an NFS server's data fds, as knfsd's file cache does): the
     * checks an open of {@code f}'s node with f's access mode by {@code c} would make now (file-attribute flags,
     * permission with {@code ownerOverride} as {@link #open(Node, int, Creds, boolean)}), so that a file opened
     * for one call serves another caller, or the same one after a chmod, only when that caller may open it.
     * {@code a}: the node's attributes as the door read them for this call. Nothing is copied up: a file open for
     * writing was copied up by its open. EBADF once {@code f} is released.
     */
    public void checkReuse(OpenFile f, Attr a, Creds c, boolean ownerOverride) throws ErrnoException {
        int acc = f.flags & Linux.O_ACCMODE;
        int mask = acc == Linux.O_RDONLY ? Permissions.R : acc == Linux.O_WRONLY ? Permissions.W
                : Permissions.R | Permissions.W;
        Lock l = read();
        try {
            file.checkReuse(f, a, mask, c, ownerOverride);
        } finally {
            unlock(l);
        }
    }

    /** A permission check run under the read lock; throws if the operation may not go on. */
    private interface Allowed {
        void check() throws ErrnoException;
    }

    /** The object an operation will copy up, found under the read lock; null if there is none. */
    private interface Target {
        Node get() throws ErrnoException;
    }

    /**
     * An operation that will copy up a large lower-only regular file copies its data before taking the namespace
     * write lock (see {@link CopyUp.CopiedData}), once {@code allowed} says the caller may do it; null when not,
     * or if anything fails: the copy-up under the lock then does it all and reports what goes wrong. The caller
     * offers the result to the copy-ups under the lock, and closes it after. {@code data}: the operation changes
     * the data (a copy-up under metacopy=on copies it only then).
     */
    private CopyUp.CopiedData copyAhead(boolean data, Target target, long truncateTo, Allowed allowed) {
        if (!data && fs.opts.metacopy()) return null;   // its copy-up copies no data (metacopy=on)
        String src;
        Lock r = read();
        try {
            Node n = target.get();
            if (n == null) return null;
            src = copyUp.copyAheadSource(n);
            if (src == null) return null;
            allowed.check();
        } catch (ErrnoException e) {
            return null;
        } finally {
            r.unlock();
        }
        try {
            return copyUp.copyAhead(src, truncateTo);
        } catch (ErrnoException e) {
            return null;
        }
    }

    /**
     * The real fd that reads of {@code f} go to right now (the upper copy once there is one), for a door that moves
     * the data itself (splice). It stays open until {@link #release}; use it with offsets (pread), never its
     * position.
     */
    public int dataFd(OpenFile f) throws ErrnoException {
        return file.dataFd(f);
    }

    /**
     * The real fd of {@code f} when no copy-up will ever replace it (the file was opened on its upper inode, or on
     * the inode its index entry names, or on a lower inode of a read-only overlay, through the layer's private
     * noatime clone), else -1: a door may then let the kernel do the file's reads and writes on
     * that inode itself (FUSE passthrough). Writes made that way need nothing from the engine: the data is on the
     * upper inode already, and the kernel clears set-id bits through a setattr as for any write.
     */
    public int finalFd(OpenFile f) {
        return file.finalFd(f);
    }

    public int read(OpenFile f, long offset, byte[] buf, int off, int len) throws ErrnoException {
        return file.read(f, offset, buf, off, len);
    }

    public int write(OpenFile f, long offset, byte[] buf, int off, int len) throws ErrnoException {
        return file.write(f, offset, buf, off, len);
    }

    /**
     * {@link #write(OpenFile, long, byte[], int, int)} from native memory (an NFS WRITE's data as it came off the
     * socket): no copy on the way to pwrite(2).
     */
    public long write(OpenFile f, long offset, MemorySegment data) throws ErrnoException {
        return file.write(f, offset, data);
    }

    public void fsync(OpenFile f, boolean dataOnly) throws ErrnoException {
        file.fsync(f, dataOnly);
    }

    public void release(OpenFile f) throws ErrnoException {
        file.release(f);
    }

    public byte[] getxattr(Node n, String name, Creds c) throws ErrnoException {
        Lock l = read();
        try {
            return xattrs.get(n, name, c);
        } finally {
            l.unlock();
        }
    }

    /** flags: XATTR_CREATE / XATTR_REPLACE. */
    public void setxattr(Node n, String name, byte[] value, int flags, Creds c) throws ErrnoException {
        CopyUp.CopiedData ahead = copyAhead(false, () -> n, -1, () -> xattrs.setAllowed(n, name, c));
        Lock l = writeOffering(ahead, -1);
        try {
            settle(n);
            xattrs.set(n, name, value, flags, c);
        } finally {
            unlock(l, ahead);
        }
    }

    public List<String> listxattr(Node n, Creds c) throws ErrnoException {
        Lock l = read();
        try {
            return xattrs.list(n, c);
        } finally {
            l.unlock();
        }
    }

    public void removexattr(Node n, String name, Creds c) throws ErrnoException {
        CopyUp.CopiedData ahead = copyAhead(false, () -> n, -1, () -> xattrs.removeAllowed(n, name, c));
        Lock l = writeOffering(ahead, -1);
        try {
            settle(n);
            xattrs.remove(n, name, c);
        } finally {
            unlock(l, ahead);
        }
    }

    /** Access check as the kernel does it for {@code c}: mask of 4 (r), 2 (w), 1 (x); 0 checks existence. */
    public void access(Node n, int mask, Creds c) throws ErrnoException {
        Lock l = read();
        try {
            inode.access(n, mask, c);
        } finally {
            l.unlock();
        }
    }

    /** statfs of the upper layer (of the top lower layer when read-only). */
    public StatFs statfs() throws ErrnoException {
        return Linux.statfs(fs.upperRoot != null ? fs.upperRoot : fs.layers.lowers().getFirst().root());
    }

    /** The kernel's overlay file handle bytes (type 0xf8 payload, format doc §6.2). */
    public byte[] encodeHandle(Node n) throws ErrnoException {
        Lock l = read();
        try {
            if (!export.needsConnect(n)) return export.encode(n);
        } finally {
            l.unlock();
        }
        // A lower directory its handle could not lead back to: copy it up (indexed) first, as the kernel does.
        if (fs.offline) throw OverlayFs.err(Errno.EROFS, "the handle of this lower directory needs a copy-up first"
                + " (it could not lead back to it), which an overlay opened to look at does not make");
        Lock w = write();
        try {
            copyUp.copyUp(n);
            return export.encode(n);
        } finally {
            unlock(w);
        }
    }

    /** The object a handle names; ESTALE when it is gone or not of this overlay. Never throws anything else. */
    public Node decodeHandle(byte[] handle) throws ErrnoException {
        Lock l = read();
        try {
            return export.decode(handle);
        } finally {
            l.unlock();
        }
    }

    /**
     * The persistent handle of {@code n} packed in 64 bits, for a door whose handles are that small (a FUSE nodeid):
     * it decodes with {@link #decodeCompactHandle} after the node was forgotten, after a copy-up and after a
     * remount of the same layers. 0 when there is none: without nfs_export=on (handles are not persistent there,
     * as the kernel's are not), for the root, or when the layer's real handle does not fit (it does for ext4, and
     * for xfs with 32-bit inode numbers).
     */
    public long compactHandle(Node n) throws ErrnoException {
        if (!fs.opts.nfsExport()) return 0;
        Lock l = read();
        try {
            return export.compact(n);
        } finally {
            l.unlock();
        }
    }

    /** The object a {@link #compactHandle} names; ESTALE when it is gone or not of this overlay. */
    public Node decodeCompactHandle(long handle) throws ErrnoException {
        if (!fs.opts.nfsExport()) throw OverlayFs.err(Errno.ESTALE, "no persistent handles without nfs_export");
        Lock l = read();
        try {
            return export.decodeCompact(handle);
        } finally {
            l.unlock();
        }
    }

    /** Syncs the upper layer. */
    public void sync() throws ErrnoException {
        if (fs.upperRoot == null) return;
        int fd = Linux.open(fs.upperRoot, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            Linux.syncfs(fd);
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    @Override public void close() {
        readahead.close();
        fs.close();
        fs.layers.close();
    }

    // --- inode flags (chattr / lsattr; the kernel's ovl_fileattr_get/set, see FileAttr) --------------------------

    /**
     * FS_IOC_GETFLAGS: the real inode's flags (upper, else the top lower) with the overlay's append-only and
     * immutable (kept in {@code NS protattr}) added. ENOTTY for other than regular files and directories, or what
     * the real filesystem answers.
     */
    public int getFlags(Node n) throws ErrnoException {
        Lock l = read();
        try {
            return inode.getFlags(n);
        } finally {
            l.unlock();
        }
    }

    /** FS_IOC_FSGETXATTR: as {@link #getFlags}, in the extended form (xflags, extent size hints, project id). */
    public Fsxattr getFsxattr(Node n) throws ErrnoException {
        Lock l = read();
        try {
            return inode.getFsxattr(n);
        } finally {
            l.unlock();
        }
    }

    /**
     * FS_IOC_SETFLAGS: copies the object up, keeps append-only and immutable in {@code NS protattr} and sets the
     * other flags on the upper inode. Only the owner (or root) may; only root may change append-only or immutable
     * (CAP_LINUX_IMMUTABLE, vfs_fileattr_set). EROFS on a read-only overlay.
     */
    public void setFlags(Node n, int flags, Creds c) throws ErrnoException {
        int prot = flags & FileAttr.PROT_FLAGS;
        setFileAttr(n, prot, c, fd -> Linux.setFlags(fd, flags & ~FileAttr.PROT_FLAGS));
    }

    /** FS_IOC_FSSETXATTR: as {@link #setFlags}; the project id and extent hints go to the upper inode. */
    public void setFsxattr(Node n, Fsxattr x, Creds c) throws ErrnoException {
        int prot = FileAttr.fromXflags(x.xflags());
        Fsxattr real = x.withXflags(x.xflags() & ~FileAttr.toXflags(FileAttr.PROT_FLAGS));
        setFileAttr(n, prot, c, fd -> Linux.fsSetXattr(fd, real));
    }

    private void setFileAttr(Node n, int prot, Creds c, FileAttr.RealSet real) throws ErrnoException {
        inode.fileAttrSettable(n);
        Lock l = write();
        try {
            settle(n);
            inode.setFileAttr(n, prot, c, real);
        } finally {
            unlock(l);
        }
    }

    // --- calls on an open file (the kernel's file.c: llseek, setattr with ATTR_FILE, fallocate, fsync) -------------

    /**
     * SEEK_DATA / SEEK_HOLE answered by the real file {@code f} reads from ({@link #dataFd}): its upper copy, or the
     * lower (data) file while there is none, as the kernel's ovl_llseek asks the real file. A sparse lower file and
     * a sparse metadata-only copy keep their holes. ENXIO when there is no data (or no hole) at or after
     * {@code offset}. Other whence values are the door's (a file position is the client's, not the engine's).
     */
    public long seekDataOrHole(OpenFile f, long offset, int whence) throws ErrnoException {
        return file.seekDataOrHole(f, offset, whence);
    }

    /**
     * ftruncate(2): truncates through the open file, whose write mode the opener's permission was checked for at
     * the open: the inode's mode may deny writing by now (chmod 0444 after the open), and the truncate still
     * succeeds, as on the kernel's overlay. A file open for writing was copied up (data too) at its open, so the
     * real fd is the upper inode's. EINVAL when {@code f} is not open for writing, as ftruncate(2) says.
     */
    public Attr truncate(OpenFile f, long size) throws ErrnoException {
        OverlayFile.checkTruncate(f, size);
        Lock l = write();
        try {
            settle(f.node);
            return file.truncate(f, size);
        } finally {
            unlock(l);
        }
    }

    /**
     * fallocate(2) through the open file: the mode (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE, COLLAPSE_RANGE,
     * INSERT_RANGE, UNSHARE_RANGE) goes to the real upper file as it is, which answers it as the kernel's overlay's
     * real file would (ovl_fallocate). The open for writing copied the file up, data too; EBADF when {@code f} is
     * not open for writing (vfs_fallocate).
     */
    public Attr fallocate(OpenFile f, int mode, long offset, long length) throws ErrnoException {
        OverlayFile.checkFallocate(f);
        Lock l = write();
        try {
            settle(f.node);
            return file.fallocate(f, mode, offset, length);
        } finally {
            unlock(l);
        }
    }

    /**
     * fsync of one object, for a door with no open file at hand (FUSE FSYNCDIR, NFS COMMIT): its upper inode is
     * synced, opened by the engine itself (syncing is the server's duty, the caller's rights do not matter). A
     * lower-only object has nothing to sync, nor a metadata-only copy's lower data (the kernel's ovl_fsync syncs
     * only an upper real file). {@code dataOnly}: fdatasync, which a metadata-only copy skips too (its data is
     * below). Regular files and directories only; others have nothing to sync.
     */
    public void fsync(Node n, boolean dataOnly) throws ErrnoException {
        int fd;
        Lock l = read();
        try {
            fd = file.openToSync(n, dataOnly);
        } finally {
            l.unlock();
        }
        if (fd >= 0) OverlayFile.syncAndClose(fd, dataOnly);
    }
}
