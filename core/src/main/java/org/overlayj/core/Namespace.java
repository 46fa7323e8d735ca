package org.overlayj.core;

import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.function.Predicate;

/**
 * Namespace changes (the kernel's dir.c and the setattr half of inode.c, format doc §3.1, §4.7, §7): creating over
 * a whiteout, whiting out removed names that still exist below, renames that leave whiteouts and set redirects, and
 * the opaque and impure markers those need. Callers hold the namespace write lock.
 */
final class Namespace {
    private static final int REDIRECT_MAX = 256;
    private final OverlayFs fs;
    private final Lookup lookup;
    private final Readdir readdir;
    private final CopyUp copyUp;
    /**
     * Directories whose upper directory (the inode number) was read to have no default ACL: a create in them applies
     * the caller's umask with no lgetxattr first (one system call of the ten of a create through FUSE). Only the
     * engine changes the layers while mounted, and it changes a default ACL only through {@link #xattrPermission},
     * which drops the entry; a directory given another upper inode shows another number. Weak: a node forgotten
     * by every door goes.
     */
    private final Map<Node, Long> noDefaultAcl = Collections.synchronizedMap(new WeakHashMap<>());

    Namespace(OverlayFs fs, Lookup lookup, Readdir readdir, CopyUp copyUp) {
        this.fs = fs;
        this.lookup = lookup;
        this.readdir = readdir;
        this.copyUp = copyUp;
    }

    /** The attributes the checks read: those getattr shows ({@link Getattr}, the one builder). */
    private Attr attr(Node n) throws ErrnoException {
        return Getattr.of(fs, n);
    }

    private void changed(Node dir) {
        dir.dirVersion++;
        dir.listing = null;
    }

    /**
     * A new name in {@code dir}, in the VFS's order (filename_create, then may_create): the directory must be
     * searchable, then the name must not exist (EEXIST, even where the caller may not write), then the directory
     * must be writable.
     */
    private void checkNewName(Node dir, String name, Creds c) throws ErrnoException {
        checkNewName(dir, name, c, false);
    }

    /**
     * {@link #checkNewName(Node, String, Creds)}; with {@code mayDefer}, the name is not looked up where the maker's
     * own exclusive make will find it taken ({@link #existsDeferred}): true when it was left to that.
     */
    private boolean checkNewName(Node dir, String name, Creds c, boolean mayDefer) throws ErrnoException {
        if (!dir.isDir()) throw OverlayFs.err(Errno.ENOTDIR, "not a directory");
        Attr a = c.isRoot() ? null : dirAttr(dir);
        if (a != null) Permissions.check(a, Permissions.X, c, fs.paths.aclOf(dir));
        boolean absent = justFoundAbsent(dir, name);
        boolean deferred = !absent && mayDefer && existsDeferred(dir);
        if (!absent && !deferred && lookup.child(dir, name) != null) throw OverlayFs.err(Errno.EEXIST, name);
        try {
            fs.fileAttr.checkWrite(dir);     // an immutable directory: EPERM, before EACCES (inode_permission)
            if (a != null) Permissions.check(a, Permissions.W | Permissions.X, c, fs.paths.aclOf(dir));
        } catch (ErrnoException e) {
            // the VFS's order: a taken name is EEXIST even where the caller may not write
            if (deferred && lookup.child(dir, name) != null) throw OverlayFs.err(Errno.EEXIST, name);
            throw e;
        }
        return deferred;
    }

    /**
     * Whether a new name in {@code dir} need not be looked up before it is made: an upper directory with nothing
     * below it (made here, or opaque) holds a name only in its upper directory, and the exclusive make
     * (O_CREAT|O_EXCL, mkdir, mknod, symlink) finds that taken by itself (EEXIST), whereupon {@link #make} looks the
     * name up after all, to tell a visible object (EEXIST) from a whiteout it replaces. One statx less per create
     * of a new name no lookup saw absent just before (an NFS client's CREATE, where the FUSE kernel sends a LOOKUP
     * first).
     */
    private static boolean existsDeferred(Node dir) {
        return dir.isUpper() && !dir.hasLower() && !dir.merge();
    }

    /**
     * A directory's attributes for the checks of a change: from the stat a lookup or getattr took of it just before
     * (a door resolving the call's handle: NFS) when nothing but this change came since ({@link Node#realStat}), so
     * a CREATE or REMOVE does not stat the directory again between the door's pre-operation attributes and its
     * own; otherwise a stat now.
     */
    private Attr dirAttr(Node dir) throws ErrnoException {
        Node.RealStat known = dir.realStat;
        if (known != null && known.changes() == fs.changes - 1 && known.upper() == dir.isUpper()) {
            return Getattr.of(fs, dir, known.st());
        }
        return attr(dir);
    }

    private static void checkName(String name) throws ErrnoException {
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.indexOf('/') >= 0)
            throw OverlayFs.err(name.equals(".") || name.equals("..") ? Errno.EEXIST : Errno.EINVAL, "bad name");
        if (name.length() > 255) throw OverlayFs.err(Errno.ENAMETOOLONG, name);
        // fuse-overlayfs refuses to create these names (EINVAL): in a layer they would read as AUFS whiteouts
        if (AufsWhiteouts.isMeta(name)) throw OverlayFs.err(Errno.EINVAL, "AUFS whiteout name " + name);
    }

    // --- create ----------------------------------------------------------------------------------------------------

    Node create(Node dir, String name, int mode, long rdev, String target, Creds c) throws ErrnoException {
        return make(dir, name, mode, rdev, target, -1, c).node();
    }

    /** A new object, the fd it was opened on when it was made (-1 unless asked for), and its stat then. */
    record Made(Node node, int fd, Stat st) {}

    /**
     * Makes a new object; a regular file is left open on {@code openFlags} (its access mode, O_APPEND, ...) when
     * they are not -1, so that create + open costs one open(2).
     */
    Made make(Node dir, String name, int mode, long rdev, String target, int openFlags, Creds c)
            throws ErrnoException {
        checkName(name);
        // Root may write into and search any directory: no stat needed to know.
        boolean deferred = checkNewName(dir, name, c, true);
        Node.RealStat known = dir.realStat;
        boolean knownParent = known != null && known.upper() && known.changes() == fs.changes - 1;
        copyUp.copyUp(dir);
        String parent = fs.paths.upperPath(dir);
        String dest = parent + "/" + name;
        // Only its mode and group matter here: a getattr right before (FUSE checks permissions with one) will do.
        Stat parentSt = knownParent ? known.st() : Linux.lstat(parent);
        boolean setgidDir = (parentSt.mode() & 02000) != 0;
        int gid = setgidDir ? parentSt.gid() : c.gid();
        // What an object made in place gets from being made by this process in this directory: chown only when
        // that is not the caller's (an object made aside, in the work dir, never inherits the setgid group).
        boolean chownInPlace = c.uid() != fs.processUid || !setgidDir && c.gid() != fs.processGid;
        int type = mode & Stat.S_IFMT;
        if (type == Stat.S_IFDIR && setgidDir) mode |= 02000;
        // the VFS's mode_strip_sgid: a group-executable set-group-ID file made in a set-group-ID directory by a
        // caller outside the directory's group (the file's group then) loses set-group-ID
        if (type != Stat.S_IFDIR && setgidDir && (mode & 02010) == 02010 && !c.isRoot() && !c.inGroup(gid))
            mode &= ~02000;
        // The caller's umask, unless the directory has a default ACL: the layer's filesystem then derives the mode
        // from that ACL as it makes the object in place (this process's own umask is 0).
        byte[] dflt = null;
        boolean dfltRead = false;
        if (c.umask() != 0 && type != Stat.S_IFLNK) {
            Long none = noDefaultAcl.get(dir);
            if (none == null || none != parentSt.ino()) {
                dflt = Linux.lgetxattrOrNull(parent, Acl.DEFAULT);
                if (dflt == null) noDefaultAcl.put(dir, parentSt.ino());
                else noDefaultAcl.remove(dir);
            }
            dfltRead = true;
            if (dflt == null) mode &= ~c.umask();
        }
        // Made in place, or, when the name is taken by a whiteout (the lookup saw nothing there, so that is all it
        // can be), made aside and renamed over it: one attempt, no stat of the name first.
        String made = dest;
        boolean overWhiteout = false;
        int fd;
        try {
            fd = makeObject(dest, mode, rdev, target, openFlags);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EEXIST) throw e;
            // (not looked up before: existsDeferred) a visible object there, or what a lookup sees as none
            if (deferred && lookup.child(dir, name) != null) throw OverlayFs.err(Errno.EEXIST, name);
            overWhiteout = true;
            made = fs.scratch.tempPath();
            // Made aside, in the work dir, the object does not get the directory's default ACL from the layer's
            // filesystem: it is given what that would have given, as the kernel overlay does.
            if (!dfltRead && type != Stat.S_IFLNK) dflt = Linux.lgetxattrOrNull(parent, Acl.DEFAULT);
            Acl.Inherited inh = dflt == null ? null : Acl.inherit(dflt, mode);
            if (inh != null) mode = inh.mode();
            fd = makeObject(made, mode, rdev, target, openFlags);
            try {
                if (inh != null && inh.access() != null) Linux.lsetxattr(made, Acl.ACCESS, inh.access(), 0);
                if (inh != null && type == Stat.S_IFDIR) Linux.lsetxattr(made, Acl.DEFAULT, dflt, 0);
            } catch (ErrnoException x) {
                Linux.closeQuietly(fd);
                removeQuietly(made);
                throw x;
            }
        }
        // A name hidden by an AUFS whiteout in the upper layer (written where no device could be made, or by
        // fuse-overlayfs) is taken over as one hidden by a device: a directory made there is opaque, and the
        // .wh.NAME goes once the object is in place (fuse-overlayfs would read a .wh.NAME beside a directory as
        // hiding the lower ones only; the kernel reads the opaque marker)
        boolean overAufs = !overWhiteout && dir.merge() && !dir.noAufsWhiteouts && AufsWhiteouts.whitedOut(dest);
        // A new directory in a merge dir is marked opaque when index/redirect are on, as the kernel does: it can
        // then never pick up a same-named lower directory later.
        boolean opaque = type == Stat.S_IFDIR
                && (overWhiteout || overAufs || dir.merge() && (fs.opts.index() || fs.opts.redirectCreate()));
        Stat st;
        try {
            boolean chown = overWhiteout || chownInPlace;
            finishObject(made, type, mode, chown ? c.uid() : -1, chown ? gid : -1, opaque);
            st = fd >= 0 ? Linux.fstat(fd) : Linux.lstat(made);
            if (overWhiteout) {
                if (type == Stat.S_IFDIR) {
                    Linux.rename(made, dest, Linux.RENAME_EXCHANGE);
                    Linux.unlink(made); // now the old whiteout
                } else {
                    Linux.rename(made, dest, 0);
                }
            }
        } catch (ErrnoException e) {
            Linux.closeQuietly(fd);
            removeQuietly(made);
            throw e;
        }
        if (overAufs) {
            try {
                AufsWhiteouts.removeWhiteout(dest);
            } catch (ErrnoException e) {
                Linux.closeQuietly(fd);
                throw e;
            }
        }
        if (openFlags < 0 && fd >= 0) {
            Linux.close(fd);
            fd = -1;
        }
        changed(dir);
        Node made1 = lookup.placeNew(dir, name, dest, st, opaque);
        if (type == Stat.S_IFDIR) made1.noAufsWhiteouts = true;      // made empty just now
        made1.prot = 0;   // a new inode inherits no append-only or immutable flag, and has no protattr
        made1.forgetUpperBlob();  // this node may have stood for an earlier inode of the same number
        made1.bornUpper = true;   // made just now: no origin xattr for a handle encode to read (Export#blobFor)
        return new Made(made1, fd, st);
    }

    /**
     * Whether a lookup under the read lock found no {@code name} in {@code dir} and nothing changed since: this
     * change, already counted, is the only one after it (see Node#absent).
     */
    private boolean justFoundAbsent(Node dir, String name) {
        Node.Absent a = dir.absent;
        return a != null && a.changes() == fs.changes - 1 && a.name().equals(name);
    }

    /**
     * Makes the object at {@code path}; a regular file is opened as it is made (on {@code openFlags}' access mode,
     * write-only when -1) and its fd returned, -1 for the other types. Never O_TRUNC: the file is new, and on ext4
     * a truncating open makes the close flush the data.
     */
    private static int makeObject(String path, int mode, long rdev, String target, int openFlags)
            throws ErrnoException {
        switch (mode & Stat.S_IFMT) {
            case Stat.S_IFDIR -> Linux.mkdir(path, mode & 07777);
            case Stat.S_IFLNK -> Linux.symlink(target, path);
            case Stat.S_IFREG -> {
                int access = openFlags < 0 ? Linux.O_WRONLY
                        : openFlags & ~(Linux.O_CREAT | Linux.O_EXCL | Linux.O_TRUNC | Linux.O_NOCTTY);
                return Linux.open(path, Linux.O_CREAT | Linux.O_EXCL | Linux.O_NOFOLLOW | access, mode & 07777);
            }
            default -> Linux.mknod(path, mode, rdev);
        }
        return -1;
    }

    /** Owner (-1: as made), the setuid/setgid bits the caller asked for, and the opaque marker. */
    private void finishObject(String path, int type, int mode, int uid, int gid, boolean opaque)
            throws ErrnoException {
        if ((uid != -1 || gid != -1)) {
            Linux.lchown(path, uid, gid);
            // chown cleared setuid/setgid: they come back on the permission bits the object was made with, not on
            // those asked for, which a default ACL may have cut down (and a chmod would write into the ACL's mask
            // and other entries)
            if (type != Stat.S_IFLNK && (mode & 06000) != 0) {
                int now = Linux.lstat(path).mode() & 07777;
                if ((now | (mode & 06000)) != now) Linux.chmod(path, now | (mode & 06000));
            }
        }
        if (opaque) fs.setX(path, OverlayXattr.OPAQUE, new byte[]{'y'});
    }

    private void removeQuietly(String path) {
        try {
            fs.scratch.removeTemp(path);
        } catch (ErrnoException ignored) {
            // best effort: scratch leftovers are removed at the next mount
        }
    }

    // --- link ------------------------------------------------------------------------------------------------------

    Node link(Node node, Node newDir, String newName, Creds c) throws ErrnoException {
        checkName(newName);
        if (node.isDir()) throw OverlayFs.err(Errno.EPERM, "link of a directory");
        checkNewName(newDir, newName, c);
        fs.fileAttr.checkChange(node, "link");
        copyUp.copyUp(node);
        copyUp.copyUp(newDir);
        String src = fs.paths.upperPath(node);
        String dest = fs.paths.upperPath(newDir) + "/" + newName;
        // the new name must find the data too, from wherever it is
        String redirect = metacopyRedirect(node, node.parent(), node.name(), false);
        if (redirect != null) fs.setX(src, OverlayXattr.REDIRECT, Linux.bytesOf(redirect));
        if (node.indexed()) fs.index.beforeLinkChange(node, src);
        if (Linux.lstatOrNull(dest) != null) {
            String temp = fs.scratch.tempPath();
            Linux.link(src, temp);
            try {
                Linux.rename(temp, dest, 0);
            } catch (ErrnoException e) {
                removeQuietly(temp);
                throw e;
            }
        } else {
            Linux.link(src, dest);
        }
        if (hasOrigin(src)) fs.setImpure(fs.paths.upperPath(newDir));
        if (node.indexed()) fs.index.adjust(node, +1);
        changed(newDir);
        node.placeAt(newDir, newName);
        return node;
    }

    /**
     * Whether an upper object counts as copied up from a lower one, so that a directory it is linked or moved into
     * must be impure. A non-directory only by its origin: a metadata-only copy of a lower hard link copied without
     * the index has a redirect but no origin, and the kernel does not count it (its inode is not hashed by the
     * lower one; rotating seed 5796: link of such a file made its new parent impure).
     */
    private boolean hasOrigin(String upperPath) throws ErrnoException {
        if (fs.getX(upperPath, OverlayXattr.ORIGIN) != null) return true;
        Stat st = Linux.lstatOrNull(upperPath);
        return st != null && st.isDir() && fs.getX(upperPath, OverlayXattr.REDIRECT) != null;
    }

    // --- unlink / rmdir --------------------------------------------------------------------------------------------

    void remove(Node dir, String name, boolean isDir, Creds c) throws ErrnoException {
        if (!dir.isDir()) throw OverlayFs.err(Errno.ENOTDIR, name);
        // the path walk searched the directory before the name was looked up: EACCES before ENOENT, and before
        // the VFS looks at "." and ".." (rmdir: EINVAL, ENOTEMPTY; unlink: EISDIR)
        if (!c.isRoot()) Permissions.check(dirAttr(dir), Permissions.X, c, fs.paths.aclOf(dir));
        if (name.equals(".") || name.equals(".."))
            throw OverlayFs.err(!isDir ? Errno.EISDIR : name.equals(".") ? Errno.EINVAL : Errno.ENOTEMPTY, name);
        Node child = lookup.child(dir, name);
        if (child == null) throw OverlayFs.err(Errno.ENOENT, name);
        // the VFS's may_delete: write and search on the directory (an immutable one is EPERM first), the sticky
        // rule, a protected (chattr +i/+a) directory or victim (EPERM), and only then the victim's type (a
        // stranger's rmdir of a file is EACCES, not ENOTDIR); FileAttr has the protection rules
        boolean prot = fs.fileAttr.prot(dir) != 0 || fs.fileAttr.prot(child) != 0;
        if (prot) fs.fileAttr.checkWrite(dir);
        Attr dirAttr = dirAttr(dir);
        Permissions.check(dirAttr, Permissions.W | Permissions.X, c, fs.paths.aclOf(dir));
        // the victim's owner matters only in a sticky directory, for a caller who is not root
        if ((dirAttr.mode() & 01000) != 0 && !c.isRoot()) Permissions.sticky(dirAttr, attr(child), c);
        if (prot) fs.fileAttr.checkDelete(dir, child);
        if (isDir && !child.isDir()) throw OverlayFs.err(Errno.ENOTDIR, name);
        if (!isDir && child.isDir()) throw OverlayFs.err(Errno.EISDIR, name);
        if (isDir && !readdir.isEmpty(child)) throw OverlayFs.err(Errno.ENOTEMPTY, name);
        // The removal of a born-upper non-directory (no lowers, no index entry) changes no handle's decode but its
        // own, which the node's unlink count voids (Node#unplace, Export#decode0): the others' remembered answers
        // stay. Anything else voids them all, as every change did (OverlayFs#decodeEpoch). The caller holds the
        // write lock, so no decode runs before this count is where it must be.
        if (isDir || child.hasLower() || child.indexed() || child.indexPath() != null || !child.isUpper()) {
            fs.decodeEpoch++;
        }
        copyUp.copyUp(dir);
        String indexPath = prepareIndexedRemoval(child);
        OpenFile.reopenOnUpper(fs, child);   // while its name still leads to the copy prepareIndexedRemoval made
        fs.noteRemovedDir(child);
        try {
            removeEntry(dir, name, child);
        } catch (ErrnoException e) {
            keepIndexedDir(child, indexPath, e);
            throw e;
        }
        finishIndexedRemoval(child, indexPath);
        child.unplace(dir, name, stillLeadsTo(child));
        changed(dir);
    }

    /**
     * Whether another name {@code n} was reached by still leads to it once one of its names went away, so that
     * {@link Node#unplace} can move it there: a client may keep reaching the node by that name without a new
     * lookup (the FUSE kernel caches names), and its real path must then still work. Tested after the removal, by
     * looking the name up afresh, which also places {@code n} there with what that name holds now: its upper inode,
     * or, for an uncovered lower alias of an indexed object, the index entry that is its upper inode.
     */
    private Predicate<Node.Alias> stillLeadsTo(Node n) {
        if (n.isDir()) return a -> false;
        return a -> {
            try {
                Lookup.Resolved r = lookup.resolve(a.parent(), a.name());
                return r != null && r.node() == n;
            } catch (ErrnoException e) {
                return false;
            }
        };
    }

    /**
     * An alias of an indexed lower object is copied up (linked to the index) before it is removed, so the union
     * count has an upper inode to live on (format doc §5.5). Returns the index entry to check afterwards.
     */
    private String prepareIndexedRemoval(Node child) throws ErrnoException {
        if (!fs.index.on()) return null;
        if (child.isDir()) {
            // An exported directory's index entry outlives it as a whiteout, so its handles go stale (§5.4).
            if (!fs.opts.nfsExport()) return null;
            // a lower directory is copied up first, as the kernel does, so that its index entry can be whited out
            if (!child.isUpper()) copyUp.copyUp(child);
            byte[] origin = fs.getX(fs.paths.upperPath(child), OverlayXattr.ORIGIN);
            if (origin == null || origin.length == 0) return null;
            String ip = fs.index.path(origin);
            Stat ist = Linux.lstatOrNull(ip);
            if (ist == null || !ist.isDir()) return null;
            // Crash order of the removal of an indexed directory (rmdir, rename over it), each state one the
            // kernel's next mount serves with nothing in its log (each built by hand and mounted, DirRemovalOrderTest):
            //   1. its index entry goes (an empty directory): the directory, an upper one with an origin and no
            //      entry, is served as before; a copy-up killed before its entry leaves the same (CopyUp#copyOther);
            //   2. a whiteout or the source replaces it (removeEntry, renameReal): the state after, with no entry;
            //   3. a whiteout takes the entry's place (finishIndexedRemoval), so old handles are stale (§5.4).
            // The kernel's own order (the directory first, the entry last) leaves, killed between the two, an
            // entry whose upper directory is gone: "orphan index entry" at the next mount, which whites it out.
            // Whiting the entry out first is worse: a live upper directory with an origin whose entry is a whiteout
            // is "bad index found", EIO. Between 1 and 2 the directory just has no entry (fsck reports it and
            // --repair writes it back: Fsck#checkMissingEntries); a removal refused between 1 and 2 writes it
            // back at once (keepIndexedDir). Between 2 and 3 a handle of the directory kept from before decodes to
            // ESTALE, as it should, but with "failed to lookup by real" in the kernel's log: with no entry the
            // kernel's decode walks the lower path down the overlay and meets the whiteout. No order avoids a log
            // line in every state: while the directory lives its entry must be a directory entry naming it or
            // absent (a whiteout is EIO), once it is gone a directory entry is an orphan (logged, whited out at
            // mount), so in the one step between, the entry is absent; and no single rename both replaces the
            // directory and whites the entry out. Absent is the mildest: nothing is logged at mount or lookup, the
            // answer is right, and the line comes only when a client presents a handle of the removed directory
            // (the kernel logs the same for any directory removed without a whiteout entry, e.g. by another tool).
            fs.scratch.removeTemp(ip);
            return ip;
        }
        if (!child.isUpper() && (child.indexPath() != null || fs.index.indexes(Linux.lstat(child.topLower().path())))) {
            copyUp.copyUp(child);
        }
        if (!child.isUpper() || !child.indexed()) return null;
        fs.index.beforeLinkChange(child, fs.paths.upperPath(child));
        byte[] origin = fs.getX(fs.paths.upperPath(child), OverlayXattr.ORIGIN);
        if (origin == null || origin.length == 0) return null;
        fs.index.takeOutIfLast(fs.index.path(origin), child.lowerNlink());    // crash order: see there
        return fs.index.path(origin);
    }

    /**
     * The removal of an indexed directory refused after step 1 of its order (prepareIndexedRemoval), by the real
     * rmdir or rename (EBUSY on a mount point, EIO, ENOSPC...): the directory is still at its name, so its entry is
     * written back (Index#addDirEntryAt, crash-safe as in a copy-up) and the layers are as before the call, as the
     * kernel's refused rmdir leaves them; without it the directory would keep no entry, and a handle of it would
     * go stale at its next rename. Once its name went to a whiteout or the source, the removal happened: the entry
     * stays out (the state after step 2, which the kernel serves). A failure here is added to the refusal's.
     */
    private void keepIndexedDir(Node child, String indexPath, ErrnoException refused) {
        if (indexPath == null || !child.isDir()) return;
        try {
            String up = fs.paths.upperPath(child);
            Stat st = Linux.lstatOrNull(up);
            if (st == null || !st.isDir() || st.ino() != child.upperIno()) return;
            fs.index.addDirEntryAt(indexPath, up, false);
        } catch (ErrnoException e) {
            refused.addSuppressed(e);
        }
    }

    private void finishIndexedRemoval(Node child, String indexPath) throws ErrnoException {
        if (indexPath == null) return;
        if (child.isDir()) {   // step 3 of the order in prepareIndexedRemoval
            Linux.rename(fs.scratch.tempWhiteout(), indexPath, Linux.RENAME_NOREPLACE);
            return;
        }
        Stat ist = Linux.lstatOrNull(indexPath);
        if (fs.index.dropped(child, ist == null ? 0 : ist.nlink(), child.lowerNlink() > 1)) fs.effects.attrsChanged(child);
        fs.index.afterUnlink(indexPath, child.lowerNlink());
    }

    /**
     * Takes a name out of the upper layer; where a lower layer still holds it, a whiteout takes its place in one
     * rename, so a crash never shows the lower object again.
     */
    private void removeEntry(Node dir, String name, Node child) throws ErrnoException {
        String up = fs.paths.upperPath(dir) + "/" + name;
        if (lowerPositive(dir, name)) {
            String wh = fs.scratch.tempWhiteoutOrNull();
            if (wh == null) {
                // no 0/0 device may be made: the AUFS whiteout first (while both are there, the name still shows),
                // then the upper object goes
                dir.noAufsWhiteouts = false;
                AufsWhiteouts.fallbackWhiteout(up);
                if (child.isUpper() && child.isDir()) {
                    String t = fs.scratch.tempPath();
                    Linux.rename(up, t, 0);
                    fs.scratch.removeTemp(t);
                } else if (child.isUpper()) {
                    Linux.unlink(up);
                }
                if (child.isDir()) fs.inodes.forgetInode(child);
                return;
            }
            try {
                if (child.isUpper() && child.isDir()) {
                    Linux.rename(wh, up, Linux.RENAME_EXCHANGE);
                    fs.scratch.removeTemp(wh); // the old directory, holding only whiteouts
                } else if (child.isUpper()) {
                    Linux.rename(wh, up, 0);
                } else {
                    Linux.rename(wh, up, Linux.RENAME_NOREPLACE);
                }
            } catch (ErrnoException e) {
                removeQuietly(wh);
                throw e;
            }
        } else if (child.isDir()) {
            // A merge directory with no lower namesake here (moved with a redirect) may hold whiteouts: it leaves in
            // one rename to the scratch dir, where it is emptied, as a whiteout replaces it above. Emptied in place,
            // a kill between two unlinks would show the lower entries they hid.
            if (holdsWhiteouts(up)) {
                String t = fs.scratch.tempPath();
                Linux.rename(up, t, Linux.RENAME_NOREPLACE);
                fs.scratch.removeTemp(t);
            } else {
                Linux.rmdir(up);
            }
        } else {
            Linux.unlink(up);
        }
        if (child.isDir()) fs.inodes.forgetInode(child);
    }

    /** Whether a lower layer of {@code dir} still shows {@code name} (so removing it needs a whiteout). */
    boolean lowerPositive(Node dir, String name) throws ErrnoException {
        if (dir.lowers() == null) return false;
        for (Node.Lower l : dir.lowers()) {
            String p = l.path() + "/" + name;
            Stat st = Linux.lstatOrNull(p);
            if (st == null) {
                if (AufsWhiteouts.whitedOut(p)) return false;
                continue;
            }
            return !(st.isWhiteout() || fs.isXwhiteout(p, st));
        }
        return false;
    }

    /**
     * Whether the upper copy of an empty merge directory holds whiteouts (format doc §4.7); ENOTEMPTY when it holds
     * anything else.
     */
    private boolean holdsWhiteouts(String upperDir) throws ErrnoException {
        Stat st = Linux.lstatOrNull(upperDir);
        if (st == null || !st.isDir()) return false;
        boolean any = false;
        for (var e : Linux.readdir(upperDir)) {
            if (e.isDotOrDotDot()) continue;
            String p = upperDir + "/" + e.name();
            Stat s = Linux.lstat(p);
            if (s.isWhiteout() || fs.isXwhiteout(p, s) || AufsWhiteouts.isMeta(e.name()) && !s.isDir()) any = true;
            else throw OverlayFs.err(Errno.ENOTEMPTY, upperDir);
        }
        return any;
    }

    /**
     * Empties the upper copy of an empty merge directory that is about to be renamed over, as the kernel does
     * (format doc §4.7): an empty opaque directory with its attributes is made in the scratch dir and exchanged
     * with it in one rename, then the old one is removed there. Killed at any step, the directory shows as it was
     * (empty); emptied in place, a kill between two unlinks would show the lower entries they hid.
     */
    private void clearWhiteouts(String upperDir) throws ErrnoException {
        if (!holdsWhiteouts(upperDir)) return;
        Stat st = Linux.lstat(upperDir);
        String t = fs.scratch.tempPath();
        Linux.mkdir(t, fs.scratchMode(true));
        try {
            Linux.lchown(t, st.uid(), st.gid());
            copyUp.copyXattrs(upperDir, -1, -1, t);
            fs.setX(t, OverlayXattr.OPAQUE, new byte[]{'y'});
            Linux.chmod(t, st.perm());
            Linux.utimens(t, st.atimeSec(), st.atimeNsec(), st.mtimeSec(), st.mtimeNsec(), true);
            Linux.rename(t, upperDir, Linux.RENAME_EXCHANGE);
        } catch (ErrnoException e) {
            removeQuietly(t);
            throw e;
        }
        fs.scratch.removeTemp(t);
    }

    // --- rename ----------------------------------------------------------------------------------------------------

    void rename(Node oldDir, String oldName, Node newDir, String newName, int flags, Creds c) throws ErrnoException {
        if ((flags & ~(Linux.RENAME_NOREPLACE | Linux.RENAME_EXCHANGE)) != 0
                || flags == (Linux.RENAME_NOREPLACE | Linux.RENAME_EXCHANGE)) {
            throw OverlayFs.err(Errno.EINVAL, "rename flags");
        }
        boolean exchange = (flags & Linux.RENAME_EXCHANGE) != 0;
        if (!oldDir.isDir() || !newDir.isDir()) throw OverlayFs.err(Errno.ENOTDIR, "rename");
        // the path walks searched both directories before any name in them was looked up (EACCES before ENOENT)
        if (!c.isRoot()) {
            Permissions.check(attr(oldDir), Permissions.X, c, fs.paths.aclOf(oldDir));
            Permissions.check(attr(newDir), Permissions.X, c, fs.paths.aclOf(newDir));
        }
        if (oldName.equals(".") || oldName.equals("..") || newName.equals(".") || newName.equals(".."))
            throw OverlayFs.err(Errno.EBUSY, "rename of . or ..");
        checkName(newName);
        Node src = lookup.child(oldDir, oldName);
        if (src == null) throw OverlayFs.err(Errno.ENOENT, oldName);
        Node tgt = lookup.child(newDir, newName);
        if ((flags & Linux.RENAME_NOREPLACE) != 0 && tgt != null) throw OverlayFs.err(Errno.EEXIST, newName);
        if (exchange && tgt == null) throw OverlayFs.err(Errno.ENOENT, newName);
        if (src.isDir() && isAncestorOrSelf(src, newDir)) throw OverlayFs.err(Errno.EINVAL, "rename into itself");
        if (tgt != null && tgt.isDir() && isAncestorOrSelf(tgt, oldDir))
            throw OverlayFs.err(exchange ? Errno.EINVAL : Errno.ENOTEMPTY, "rename over an ancestor");
        if (tgt == src) return; // the same inode under both names: nothing to do (POSIX)
        // the VFS's order (vfs_rename, may_delete): the source's directory and its sticky rule, then the target's
        // directory and sticky rule, and only then whether the target is of the source's type
        Attr oldAttr = attr(oldDir), newAttr = attr(newDir);
        fs.fileAttr.checkWrite(oldDir);
        Permissions.check(oldAttr, Permissions.W | Permissions.X, c, fs.paths.aclOf(oldDir));
        Permissions.sticky(oldAttr, attr(src), c);
        fs.fileAttr.checkDelete(oldDir, src);
        fs.fileAttr.checkWrite(newDir);
        Permissions.check(newAttr, Permissions.W | Permissions.X, c, fs.paths.aclOf(newDir));
        if (tgt != null) Permissions.sticky(newAttr, attr(tgt), c);
        if (tgt != null) fs.fileAttr.checkDelete(newDir, tgt);
        if (tgt != null && !exchange) {
            if (src.isDir() && !tgt.isDir()) throw OverlayFs.err(Errno.ENOTDIR, newName);
            if (!src.isDir() && tgt.isDir()) throw OverlayFs.err(Errno.EISDIR, newName);
        }
        boolean samedir = oldDir == newDir;
        // a directory that changes parent gets a new "..": write permission on it (both ways for an exchange)
        if (src.isDir() && !samedir) Permissions.check(attr(src), Permissions.W, c, fs.paths.aclOf(src));
        if (exchange && tgt.isDir() && !samedir) Permissions.check(attr(tgt), Permissions.W, c, fs.paths.aclOf(tgt));

        // A lower or merged directory can only move with a redirect to where its lower part still is.
        boolean srcNeedsRedirect = src.isDir() && src.hasLower();
        boolean tgtNeedsRedirect = exchange && tgt.isDir() && tgt.hasLower();
        if ((srcNeedsRedirect || tgtNeedsRedirect) && !fs.opts.redirectCreate())
            throw OverlayFs.err(Errno.EXDEV, "rename of a lower directory needs redirect_dir=on");
        // only now, as in the kernel's ovl_rename: a merge directory replaced must be empty, whiteouts aside. A pure
        // upper target is left to rename(2) below, which refuses it only after the source was copied up and given
        // its redirect or opaque marker (and, on ext4, after its whiteout touched the source parent), as the
        // kernel's rename leaves them.
        boolean mergeTarget = tgt != null && !exchange && tgt.isDir() && (tgt.hasLower() || tgt.merge());
        if (mergeTarget && !readdir.isEmpty(tgt)) throw OverlayFs.err(Errno.ENOTEMPTY, newName);

        copyUp.copyUp(oldDir);
        copyUp.copyUp(newDir);
        String srcRedirect = srcNeedsRedirect ? redirectFor(src, oldDir, oldName, samedir) : null;
        String tgtRedirect = tgtNeedsRedirect ? redirectFor(tgt, newDir, newName, samedir) : null;
        copyUp.copyUp(src);
        if (exchange) copyUp.copyUp(tgt);
        if (srcRedirect == null) srcRedirect = metacopyRedirect(src, oldDir, oldName, samedir);
        if (exchange && tgtRedirect == null) tgtRedirect = metacopyRedirect(tgt, newDir, newName, samedir);
        String tgtIndex = tgt != null && !exchange ? prepareIndexedRemoval(tgt) : null;
        String srcUp = fs.paths.upperPath(oldDir) + "/" + oldName;
        String dstUp = fs.paths.upperPath(newDir) + "/" + newName;
        Predicate<Node.Alias> tgtLeadsHere = tgt != null && !exchange ? stillLeadsTo(tgt) : a -> false;

        if (srcRedirect != null) fs.setX(srcUp, OverlayXattr.REDIRECT, Linux.bytesOf(srcRedirect));
        if (tgtRedirect != null) fs.setX(dstUp, OverlayXattr.REDIRECT, Linux.bytesOf(tgtRedirect));
        // A pure upper directory moved into a merge directory must not start merging with a lower namesake.
        if (src.isDir() && !srcNeedsRedirect && newDir.merge() && !fs.isOpaque(srcUp))
            fs.setX(srcUp, OverlayXattr.OPAQUE, new byte[]{'y'});
        if (exchange && tgt.isDir() && !tgtNeedsRedirect && oldDir.merge() && !fs.isOpaque(dstUp))
            fs.setX(dstUp, OverlayXattr.OPAQUE, new byte[]{'y'});
        if (!samedir && hasOrigin(srcUp)) fs.setImpure(fs.paths.upperPath(newDir));
        if (exchange && !samedir && hasOrigin(dstUp)) fs.setImpure(fs.paths.upperPath(oldDir));

        if (tgt != null && !exchange) {   // before its name is another's
            OpenFile.reopenOnUpper(fs, tgt);
            fs.noteRemovedDir(tgt);
        }
        try {
            renameReal(src, tgt, oldDir, oldName, exchange, mergeTarget, srcUp, dstUp, tgtIndex);
        } catch (ErrnoException e) {
            if (tgt != null && !exchange) keepIndexedDir(tgt, tgtIndex, e);
            // Refused after the preparations, as the kernel's rename can be (ENOTEMPTY onto a non-empty pure upper
            // directory): ext4 made the whiteout at the source first, moving the source parent's times, and the
            // new parent may have just been marked impure, which the kernel's next listing of it drops again. A
            // door caching either must look again (FUSE differential seed 110206).
            fs.effects.attrsChanged(oldDir);
            fs.effects.listingChanged(newDir);
            throw e;
        }
        src.moveTo(oldDir, oldName, newDir, newName);
        if (exchange) tgt.moveTo(newDir, newName, oldDir, oldName);
        else if (tgt != null) tgt.unplace(newDir, newName, tgtLeadsHere);
        changed(oldDir);
        changed(newDir);
    }

    /** The rename(2) part of {@link #rename}, once everything is copied up and marked. */
    private void renameReal(Node src, Node tgt, Node oldDir, String oldName, boolean exchange, boolean mergeTarget,
                            String srcUp, String dstUp, String tgtIndex) throws ErrnoException {
        if (exchange) {
            Linux.rename(srcUp, dstUp, Linux.RENAME_EXCHANGE);
        } else {
            if (mergeTarget && tgt.isUpper()) clearWhiteouts(dstUp);   // checked empty above: only whiteouts left
            boolean whiteoutAtSource = lowerPositive(oldDir, oldName);
            Stat dstSt = Linux.lstatOrNull(dstUp);
            boolean dstIsWhiteout = dstSt != null && tgt == null;
            if (dstIsWhiteout && (src.isDir() || whiteoutAtSource)) {
                // Swap with the whiteout already there: it lands at the source, where one is needed anyway (and
                // keeps its owner, as the kernel's rename switches whiteouts), or is removed. rename(2) could not
                // put a directory over a device in any case.
                Linux.rename(srcUp, dstUp, Linux.RENAME_EXCHANGE);
                if (!whiteoutAtSource) Linux.unlink(srcUp);
            } else if (whiteoutAtSource) {
                try {
                    Linux.rename(srcUp, dstUp, Linux.RENAME_WHITEOUT);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EPERM) throw e;
                    String probe = fs.scratch.tempWhiteoutOrNull();
                    if (probe != null) {                    // devices may be made: a refusal of another kind
                        removeQuietly(probe);
                        throw e;
                    }
                    // no whiteout device may be made here: the move, then an AUFS whiteout at the source
                    Linux.rename(srcUp, dstUp, 0);
                    oldDir.noAufsWhiteouts = false;
                    AufsWhiteouts.fallbackWhiteout(srcUp);
                }
            } else {
                Linux.rename(srcUp, dstUp, 0);
            }
            if (tgt != null && tgt.isDir()) fs.inodes.forgetInode(tgt);
            finishIndexedRemoval(tgt, tgtIndex);
        }
    }

    private static boolean isAncestorOrSelf(Node a, Node n) {
        for (Node p = n; p != null; p = p.parent()) if (p == a) return true;
        return false;
    }

    /**
     * The redirect a metadata-only copy needs before it moves or gets another name, so that it still finds its
     * data (format doc §4.6): null when it is not one, or the one it has does (an absolute one always; a relative
     * one within its parent); else as a directory's, but absolute also within one parent for a lower hard link,
     * whose upper aliases may end up in different directories. A link is never within one parent here: the new
     * name may be anywhere.
     */
    private String metacopyRedirect(Node n, Node parent, String name, boolean samedir) throws ErrnoException {
        if (n.isDir() || !n.metacopy() || !n.isUpper()) return null;
        boolean relative = samedir && n.lowerNlink() <= 1;
        String existing = rawRedirect(fs.paths.upperPath(n));
        if (existing != null && (existing.startsWith("/") || relative)) return null;
        return redirectFor(n, parent, name, relative);
    }

    /**
     * The redirect a moved lower directory gets (format doc §7): within one parent the name it had (or the redirect
     * it already has); across parents the absolute lower path, built from the ancestors' own redirects.
     */
    private String redirectFor(Node dir, Node parent, String name, boolean samedir) throws ErrnoException {
        String existing = dir.isUpper() ? rawRedirect(fs.paths.upperPath(dir)) : null;
        if (samedir) return existing != null ? existing : name;
        if (existing != null && existing.startsWith("/")) return existing;
        Deque<String> parts = new ArrayDeque<>();
        parts.addFirst(existing != null ? existing : name);
        for (Node a = parent; a != null && a.parent() != null; a = a.parent()) {
            String r = a.isUpper() ? rawRedirect(fs.paths.upperPath(a)) : null;
            if (r != null && r.startsWith("/")) {
                parts.addFirst(r.substring(1));
                break;
            }
            parts.addFirst(r != null ? r : a.name());
        }
        String abs = "/" + String.join("/", parts);
        if (abs.length() > REDIRECT_MAX) throw OverlayFs.err(Errno.EXDEV, "redirect too long");
        return abs;
    }

    private String rawRedirect(String path) throws ErrnoException {
        byte[] v = fs.getX(path, OverlayXattr.REDIRECT);
        return v == null ? null : Linux.byteString(v);
    }

    // --- setattr ---------------------------------------------------------------------------------------------------

    /**
     * The checks of {@link #setattr} before anything changes; returns the attributes they saw. {@code ownerOverride}:
     * the owner may truncate whatever the mode (an NFS server's rule, see Permissions#checkData).
     */
    Attr setattrAllowed(Node n, SetAttr a, Creds c, boolean ownerOverride) throws ErrnoException {
        fs.fileAttr.checkSetattr(n, a);    // notify_change: before the owner checks
        Attr cur = attr(n);
        if (a.mode() != null) Permissions.owner(cur, c);
        // setattr_prepare's chown_ok/chgrp_ok: only the owner may even "change" an id to the value it has
        if (a.uid() != null && !c.isRoot() && (c.uid() != cur.uid() || a.uid() != cur.uid()))
            throw OverlayFs.err(Errno.EPERM, "chown");
        if (a.gid() != null && !c.isRoot()
                && (c.uid() != cur.uid() || a.gid() != cur.gid() && !c.inGroup(a.gid())))
            throw OverlayFs.err(Errno.EPERM, "chgrp");
        if (a.size() != null) {
            if (n.isDir()) throw OverlayFs.err(Errno.EISDIR, "truncate");
            if (n.type != Stat.S_IFREG) throw OverlayFs.err(Errno.EINVAL, "truncate");
            Permissions.checkData(cur, Permissions.W, c, fs.paths.aclOf(n), ownerOverride);
        }
        if (a.hasTimes()) {
            boolean explicit = a.atimeNsec() != null && a.atimeNsec() != SetAttr.NOW
                    || a.mtimeNsec() != null && a.mtimeNsec() != SetAttr.NOW;
            if (explicit) Permissions.owner(cur, c);
            else if (!c.isRoot() && c.uid() != cur.uid()) Permissions.check(cur, Permissions.W, c, fs.paths.aclOf(n));
        }
        return cur;
    }

    void setattr(Node n, SetAttr a, Creds c, boolean ownerOverride) throws ErrnoException {
        Attr cur = setattrAllowed(n, a, c, ownerOverride);
        if (a.size() != null) copyUp.copyUpData(n);
        else copyUp.copyUp(n);
        String p = fs.paths.upperPath(n);
        if (a.uid() != null || a.gid() != null) {
            int uid = a.uid() == null ? -1 : a.uid(), gid = a.gid() == null ? -1 : a.gid();
            if (RealPaths.isFdPath(p)) Linux.fchown(RealPaths.fdOfPath(p), uid, gid);   // an unlinked open file
            else Linux.lchown(p, uid, gid);
        }
        if (a.mode() != null && n.type != Stat.S_IFLNK) {
            int mode = a.mode() & 07777;
            // A non-member may not set setgid, on a directory neither (setattr_prepare clears it silently; kernel
            // 6.18: chmod 02777 of a dir by its owner outside its group leaves 0777). The group is the new one when
            // the same call changes it.
            int group = a.gid() != null ? a.gid() : cur.gid();
            if (!c.isRoot() && (mode & 02000) != 0 && !c.inGroup(group)) mode &= ~02000;
            Linux.chmod(p, mode);
        }
        if (a.size() != null) Linux.truncate(p, a.size());
        // chown(f, -1, -1) copies up and changes the ctime, and the privileges a chown drops (set-user-ID, set-group-ID
        // with group-execute, security.capability) go, as on the kernel overlay: the same call on the upper inode
        if (a.isEmpty()) Linux.lchown(p, -1, -1);
        if (a.hasTimes()) {
            long aSec = a.atimeSec() == null ? 0 : a.atimeSec();
            long aNs = a.atimeNsec() == null ? Linux.UTIME_OMIT : a.atimeNsec();
            long mSec = a.mtimeSec() == null ? 0 : a.mtimeSec();
            long mNs = a.mtimeNsec() == null ? Linux.UTIME_OMIT : a.mtimeNsec();
            if (RealPaths.isFdPath(p)) Linux.futimens(RealPaths.fdOfPath(p), aSec, aNs, mSec, mNs);
            else Linux.utimens(p, aSec, aNs, mSec, mNs, true);
        }
    }

    /**
     * The VFS's checks of a set or remove of xattr {@code name} before the filesystem sees it (xattr_permission; for
     * the POSIX ACL names vfs_set_acl and set_posix_acl), in their order. Returns false when the call succeeds
     * doing nothing: removing the default ACL of a non-directory, which the VFS answers itself, for anyone and
     * with no copy-up (kernel 6.18).
     */
    boolean xattrPermission(Node n, String name, boolean remove, Creds c) throws ErrnoException {
        if (name.startsWith("trusted.") || name.startsWith("security.")) {
            if (!c.isRoot()) throw OverlayFs.err(Errno.EPERM, name);
        } else if (name.startsWith("user.")) {
            Attr a = attr(n);
            if (!n.isDir() && a.type() != Stat.S_IFREG) throw OverlayFs.err(Errno.EPERM, name);
            if (c.isRoot()) return true;
            // only the owner may change user.* of a sticky directory (before, and whatever, its mode says)
            if (n.isDir() && (a.mode() & 01000) != 0 && c.uid() != a.uid()) throw OverlayFs.err(Errno.EPERM, name);
            Permissions.check(a, Permissions.W, c, fs.paths.aclOf(n));
        } else if (name.startsWith("system.")) {
            if (name.equals(Acl.DEFAULT)) noDefaultAcl.remove(n);   // read again at the next create in n
            Attr a = attr(n);
            boolean acl = name.equals(Acl.ACCESS) || name.equals(Acl.DEFAULT);
            // a symlink has no ACLs: EOPNOTSUPP before the owner check and before any copy-up (set_posix_acl)
            if (acl && a.type() == Stat.S_IFLNK) throw OverlayFs.err(Errno.EOPNOTSUPP, name);
            // a default ACL only on a directory: setting one elsewhere is EACCES, removing one is a success
            if (name.equals(Acl.DEFAULT) && !n.isDir()) {
                if (remove) return false;
                throw OverlayFs.err(Errno.EACCES, name);
            }
            Permissions.owner(a, c);
        } else {
            throw OverlayFs.err(Errno.EOPNOTSUPP, name);
        }
        return true;
    }

    /**
     * The read side of xattr_permission: a non-root caller reads no trusted.* (ENODATA, as if absent), no user.*
     * of what is neither a file nor a directory (ENODATA), and user.* only where it may read.
     */
    void xattrReadPermission(Node n, String name, Creds c) throws ErrnoException {
        if (c.isRoot()) return;
        if (name.startsWith("trusted.")) throw OverlayFs.err(Errno.ENODATA, name);
        if (name.startsWith("user.")) {
            Attr a = attr(n);
            if (!n.isDir() && a.type() != Stat.S_IFREG) throw OverlayFs.err(Errno.ENODATA, name);
            Permissions.check(a, Permissions.R, c, fs.paths.aclOf(n));
        }
    }

    /**
     * Whether setting or removing the access ACL of {@code n} clears its set-group-ID bit first: the caller is
     * outside its group (and not root). The kernel overlay does that itself (copying up), before it sets or removes
     * the ACL with the mounter's rights, which would keep it; a removal then finds the upper copy and succeeds
     * where it would have been ENODATA on the lower one.
     */
    boolean aclKillsSgid(Node n, String name, Creds c) throws ErrnoException {
        if (c.isRoot() || !name.equals(Acl.ACCESS)) return false;
        Attr a = attr(n);
        return (a.mode() & 02000) != 0 && !c.inGroup(a.gid());
    }

    /** Clears set-group-ID of the real object at {@code real}, as {@link #aclKillsSgid} asks. */
    void killSgid(String real) throws ErrnoException {
        Stat st = fs.paths.statReal(real);
        Linux.chmod(real, st.mode() & 07777 & ~02000);
    }
}
