package org.overlayj.core;

import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * Copy-up (the kernel's copy_up.c, format doc §4): an object gets an upper inode before it is changed. Parents
 * first; the object is built under a temporary identity in the scratch directory (an O_TMPFILE, or a {@code #hex}
 * name) and appears under its final name in one step, so a crash leaves only scratch leftovers that the next mount
 * removes. Everything is preserved but the private {@code NS*} xattrs; {@code NS origin} names the lower inode.
 */
final class CopyUp {
    private static final int CHUNK = 1 << 20;
    /** Smaller files are copied under the namespace lock: a second lock round costs more than their copy. */
    static final long COPY_AHEAD_MIN = 1 << 20;
    private final OverlayFs fs;
    /** Data copied ahead for the operation running now (under the write lock); copyRegular takes it if it fits. */
    private CopiedData ahead;
    /** See {@link #offer}: the size the operation truncates to, -1 when it does not. */
    private long truncateTo = -1;

    /**
     * A lower regular file's data (and its fsync) copied into an anonymous upper file before the namespace write
     * lock is taken, so that a long copy does not hold up every other namespace operation (the kernel, too, copies
     * data under locks of the object only). Valid for the lower inode it was read from while that inode is as it
     * was (dev, ino, size, mtime, ctime); a copy-up that finds the object done or changed meanwhile drops it.
     */
    record CopiedData(String src, Stat st, long length, int fd) implements AutoCloseable {
        boolean fits(String path, Stat now, long wanted) {
            return src.equals(path) && length == wanted && st.dev() == now.dev() && st.ino() == now.ino()
                    && st.size() == now.size() && st.mtimeSec() == now.mtimeSec() && st.mtimeNsec() == now.mtimeNsec()
                    && st.ctimeSec() == now.ctimeSec() && st.ctimeNsec() == now.ctimeNsec();
        }

        @Override public void close() {
            Linux.closeQuietly(fd);
        }
    }

    CopyUp(OverlayFs fs) {
        this.fs = fs;
    }

    /**
     * The lower file whose data {@link #copyAhead} may copy for a copy-up of {@code n}: null when {@code n} is not
     * a lower-only regular file, or the upper fs has no O_TMPFILE. Caller holds the namespace read lock.
     */
    String copyAheadSource(Node n) {
        if (n.isUpper() || n.indexPath() != null || n.parent() == null || n.type != Stat.S_IFREG || n.metacopy()) return null;
        if (fs.upperRoot == null || !fs.layers.tmpfile()) return null;
        return n.topLower().path();
    }

    /** The copy of {@link #copyAheadSource}'s file, made with no lock held; null if it is small. */
    CopiedData copyAhead(String src, long truncateTo) throws ErrnoException {
        Stat st = fs.paths.statReal(src);
        long length = dataToCopy(st, truncateTo);
        if (!st.isReg() || length < COPY_AHEAD_MIN) return null;
        int in = openLower(src);
        int out = -1;
        try {
            out = Linux.openTmpfile(fs.layers.scratchDir(), 0600);
            copyCounted(in, out, length);
            if (!fs.opts.volatileMode()) sync(out);
            CopiedData d = new CopiedData(src, st, length, out);
            out = -1;
            fs.probe.copiedAhead();
            return d;
        } finally {
            Linux.closeQuietly(in);
            Linux.closeQuietly(out);
        }
    }

    /**
     * What the copy-ups of the operation about to run under the write lock may use, until {@link #withdraw()}:
     * {@code data} copied ahead (null: none), taken by the copy-up of that lower file; the caller closes it after.
     * {@code truncateTo} >= 0 when the operation truncates the file it copies up to that size (an O_TRUNC open:
     * 0; a truncate): no data beyond it is copied. The kernel does so for O_TRUNC opens (an O_TRUNC open of a
     * 512 MiB lower file took it 2 ms and left an empty upper file) but copies everything before a truncate (1.5 s
     * to truncate that file to 0); the result is the same file.
     */
    void offer(CopiedData data, long truncateTo) {
        ahead = data;
        this.truncateTo = truncateTo;
    }

    void withdraw() {
        ahead = null;
        truncateTo = -1;
    }

    /** How much of a lower file a copy-up copies when the operation truncates to {@code truncateTo} (-1: not). */
    static long dataToCopy(Stat st, long truncateTo) {
        return truncateTo < 0 ? st.size() : Math.min(truncateTo, st.size());
    }

    /**
     * Gives {@code n} an upper inode (and its ancestors first); under metacopy=on a lower regular file gets a
     * metadata-only copy (format doc §4.6). Caller holds the namespace write lock.
     */
    void copyUp(Node n) throws ErrnoException {
        copyUp(n, false);
    }

    /**
     * As {@link #copyUp(Node)}, for an operation that changes the data (an open for write or with O_TRUNC, a
     * truncate): the upper inode gets the data too, also when it is a metadata-only copy already.
     */
    void copyUpData(Node n) throws ErrnoException {
        copyUp(n, true);
        if (n.metacopy()) copyInData(n);
    }

    private void copyUp(Node n, boolean data) throws ErrnoException {
        if (n.isUpper()) return;
        if (fs.upperRoot == null) throw OverlayFs.err(Errno.EROFS, "read-only overlay");
        if (n.parent() == null && !(singleLink(n) && reconnect.reconnect(n))) {
            copyUpDisconnected(n);
            return;
        }
        if (n.isUpper()) return;    // reconnected: found at its upper alias (copied up before it was decoded)
        copyUp(n.parent());
        String parentUpper = fs.paths.upperPath(n.parent());
        String dest = parentUpper + "/" + n.name();
        if (n.indexPath() != null) {
            // Another alias of this lower hard link was copied up already: only the link-up is left.
            fs.index.linkUp(n, n.indexPath(), dest, parentUpper, n.lowerNlink(), null);
            n.linkedUp(n.lowerNlink(), n.metacopy());
            fs.effects.copiedUp(n);
            return;
        }
        Node.Lower lo = n.topLower();
        Stat st = Linux.lstat(lo.path());
        // The kernel records the origin of a directory, of a single-link file and of what it indexes only: a lower
        // hard link copied up without the index is a new inode, its origin would name an inode shared with others
        // (format doc E18, also for a metadata-only copy; shown by rotating layers, where a link made by one mount is a lower hard link of the next)
        byte[] origin = st.isDir() || st.nlink() == 1 || fs.index.indexes(st) ? originOf(lo) : null;
        // A lower metacopy file (a middle layer's, its data further down) gets a metacopy copy too, as on the kernel
        // (ovl_need_meta_copy_up looks at the options and the open flags only): lookup finds the data through it.
        boolean meta = fs.opts.metacopy() && !data && st.isReg();
        String dataSrc = fs.paths.dataPath(n);
        if (fs.index.indexes(st) && origin.length > 0) {
            fs.index.remember(n, st.nlink());
            String ip = fs.index.path(origin);
            boolean metaNow = meta;
            if (Linux.lstatOrNull(ip) == null) {
                copyUpIndexed(n, lo, st, origin, ip, dest, parentUpper, dataSrc, meta);
            } else {
                // another alias made the entry (this node was looked up before): what it is, the alias is
                metaNow = fs.getX(ip, OverlayXattr.METACOPY) != null;
                fs.index.linkUp(n, ip, dest, parentUpper, st.nlink(), null);
            }
            n.linkedUp(st.nlink(), metaNow);
            fs.effects.copiedUp(n);
            return;
        }
        Stat parentSt = Linux.lstat(parentUpper);
        fs.setImpure(parentUpper);
        if (st.isReg()) copyRegular(lo.path(), dataSrc, st, origin, dest, meta, null);
        else copyOther(lo.path(), st, origin, dest, null);
        // A copy-up is not a change of the parent as far as a client can see: keep its times.
        Linux.utimens(parentUpper, parentSt.atimeSec(), parentSt.atimeNsec(), parentSt.mtimeSec(),
                parentSt.mtimeNsec(), true);
        n.copiedUp(st.isReg() && meta);     // a directory: a merge dir, made empty just now (copyOther)
        fs.effects.copiedUp(n);
        if (!n.isDir() && !keepsLowerIno(origin, st)) fs.effects.entryChanged(n.parent(), n.name());
    }

    /**
     * The first copy-up of an indexed non-directory (format doc §4.5), ordered so that a process killed before any
     * of its system calls leaves layers the kernel's next mount (§5.7) keeps as they were or as they are after:
     * the kernel turns an index entry that is its inode's only link into a whiteout ("orphan", and the lower
     * object then gives EIO) unless its union count is above 0 — and the count it computes is 0 whenever the lower
     * inode has a single link. So:
     * <ul>
     * <li>lower nlink > 1 (a lower hard link): the copy gets every xattr, {@code NS nlink} "L+0" among them (union
     * = the lower count: no alias is covered yet), before it is linked into the index, where the kernel keeps it
     * and shows it for every alias; the link-up follows ({@link Index#linkUp}). Linking the alias first instead
     * would split the hard link if killed before the index link.</li>
     * <li>lower nlink 1 (nfs_export indexes everything): the copy, finished, appears at its name in the upper dir
     * first, and is linked into the index after. Killed in between, the upper file has an origin but no index
     * entry, which the kernel serves as a copied-up file that is not indexed (its own st_ino; a lower handle of it
     * from before decodes to the lower file, its old data) and never links: fsck reports it and --repair makes the
     * link (Index#linkIntoIndex); the index entry never exists without its alias.</li>
     * </ul>
     * Syscalls: none more than the kernel's order (one fewer getxattr and setxattr for a single-link file).
     */
    private void copyUpIndexed(Node n, Node.Lower lo, Stat st, byte[] origin, String ip, String dest,
                               String parentUpper, String dataSrc, boolean meta) throws ErrnoException {
        if (st.nlink() > 1) {
            OverlayXattr.Nlink count = OverlayXattr.Nlink.of(true, st.nlink(), st.nlink());
            if (st.isReg()) copyRegular(lo.path(), dataSrc, st, origin, ip, meta, count);
            else copyOther(lo.path(), st, origin, ip, count);
            fs.index.linkUp(n, ip, dest, parentUpper, st.nlink(), st.nlink());
            return;
        }
        Stat parentSt = Linux.lstat(parentUpper);
        fs.setImpure(parentUpper);
        // union 1, relative to the upper count 2 it has once linked into the index (the kernel's final value)
        OverlayXattr.Nlink count = OverlayXattr.Nlink.of(false, 1, 2);
        if (st.isReg()) copyRegular(lo.path(), dataSrc, st, origin, dest, meta, count);
        else copyOther(lo.path(), st, origin, dest, count);
        Linux.link(dest, ip);
        Linux.utimens(parentUpper, parentSt.atimeSec(), parentSt.atimeNsec(), parentSt.mtimeSec(),
                parentSt.mtimeNsec(), true);
    }

    /**
     * Whether a non-directory copied up outside the index keeps the lower inode number, by the rule of
     * Lookup#inoOf: only an origin with one link lends its number (never under nfs_export, which indexes).
     */
    private boolean keepsLowerIno(byte[] origin, Stat lower) {
        return origin != null && origin.length > 0 && lower.nlink() == 1 && !(fs.opts.nfsExport() && fs.index.on());
    }

    /** Gives a disconnected node its name again when one leads to it (Export#reconnect; set by Overlay). */
    interface Reconnect {
        boolean reconnect(Node n) throws ErrnoException;
    }

    Reconnect reconnect = n -> false;

    /** A disconnected lower file with one link: its copy-up must not be index-only (see Export#reconnect). */
    private boolean singleLink(Node n) throws ErrnoException {
        // only nodes decoded from a handle (an unlinked node, with no place either, keeps its old path)
        if (n.handle() == null || n.isDir() || !n.hasLower() || !fs.index.on()) return false;
        return fs.paths.statReal(n.topLower().path()).nlink() == 1;
    }

    /**
     * A node decoded from a handle has no known name: the copy of a lower hard link goes into the index only
     * (format doc §6.4), where any alias finds it at its next lookup, and the kernel's mount keeps it (it reads
     * the union count from {@code NS nlink} when the lower has several links). A file with one link is reconnected
     * at its name first (or refused): its index-only copy would be an orphan to the kernel.
     */
    private void copyUpDisconnected(Node n) throws ErrnoException {
        if (n.indexPath() != null) return;
        if (n.isDir() || n.handle() == null || !fs.index.on())
            throw OverlayFs.err(Errno.ESTALE, "disconnected object cannot be copied up");
        Node.Lower lo = n.topLower();
        Stat st = fs.paths.statReal(lo.path());
        // One link and no name of this overlay leads to it (see Export#reconnect): an index-only copy would be an
        // orphan at the next mount, its data lost. The object is gone from the overlay as far as names go: ESTALE.
        if (st.nlink() == 1) throw OverlayFs.err(Errno.ESTALE, "disconnected file with no name in the overlay");
        byte[] origin = n.handle().bytes();
        String ip = fs.index.path(origin);
        boolean meta = n.metacopy();
        if (Linux.lstatOrNull(ip) == null) {
            if (!st.isReg()) throw OverlayFs.err(Errno.ESTALE, "disconnected special file");
            fs.index.remember(n, st.nlink());
            // U+(n-1): union n with the index link alone. An entry of a single-link lower inode with no alias is
            // an orphan to the kernel's next mount whatever it says (format doc §5.7): fsck --repair reports it.
            copyRegular(lo.path(), fs.paths.dataPath(n), st, origin, ip, false,
                    OverlayXattr.Nlink.of(false, st.nlink(), 1));
            meta = false;
        }
        n.indexedAt(ip, st.nlink(), meta);
        fs.effects.copiedUp(n);
    }

    /** The fh blob of the lower inode, or empty when its filesystem has no file handles (format doc E17). */
    private byte[] originOf(Node.Lower lo) throws ErrnoException {
        try {
            return fs.blobOf(lo.path(), lo.layer()).bytes();
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EOPNOTSUPP || e.errno() == Errno.EOVERFLOW) return new byte[0];
            throw e;
        }
    }

    /**
     * A regular file: metadata from {@code src}, data from {@code dataSrc} (another file when src is a lower
     * metacopy file), or no data when {@code meta}: then a sparse file of the same size marked {@code NS metacopy}.
     * Every xattr, {@code nlink} too (null: none), is on the copy before it gets its name {@code dest}.
     */
    private void copyRegular(String src, String dataSrc, Stat st, byte[] origin, String dest, boolean meta,
                             OverlayXattr.Nlink nlink) throws ErrnoException {
        int in = openLower(src);
        int dataIn = -1;
        int out = -1;
        boolean borrowed = false;
        String temp = null;
        try {
            if (!meta && !dataSrc.equals(src)) dataIn = openLower(dataSrc);
            int from = dataIn >= 0 ? dataIn : in;
            CopiedData data = meta ? null : ahead;
            long length = meta ? 0 : dataToCopy(st, truncateTo);
            if (data != null && data.fits(src, st, length)) {
                ahead = null;
                out = data.fd();
                borrowed = true;                    // whoever offered it closes it
            } else if (fs.layers.tmpfile()) {
                out = Linux.openTmpfile(fs.layers.scratchDir(), 0600);
                copyCounted(from, out, length);
            } else {
                temp = fs.scratch.tempPath();
                out = Linux.open(temp, Linux.O_CREAT | Linux.O_EXCL | Linux.O_RDWR, fs.scratchMode(false));
                copyCounted(from, out, length);
            }
            // The size of a metadata-only copy, with no data (sparse), before the xattrs: a truncate removes
            // security.capability, which the copy must keep (the kernel's does, xfstests overlay/064).
            if (meta) Linux.ftruncate(out, st.size());
            // Owner before xattrs and mode: chown(2) clears setuid/setgid and security.capability.
            Linux.fchown(out, st.uid(), st.gid());
            copyXattrs(src, in, out, null);
            fs.fileAttr.copyUp(in, out, null);
            if (origin != null) Linux.fsetxattr(out, fs.x(OverlayXattr.ORIGIN), origin, 0);
            if (nlink != null) Linux.fsetxattr(out, fs.x(OverlayXattr.NLINK), nlink.bytes(), 0);
            if (meta) Linux.fsetxattr(out, fs.x(OverlayXattr.METACOPY), new byte[0], 0);
            Linux.fchmod(out, st.perm());
            Linux.futimens(out, st.atimeSec(), st.atimeNsec(), st.mtimeSec(), st.mtimeNsec());
            // the kernel syncs a copy of data unless the overlay is volatile (ovl_should_sync), once, after the data
            // and before the metadata (ovl_copy_up_file): data copied ahead was synced there already
            if (!meta && !borrowed && !fs.opts.volatileMode()) sync(out);
            int o = out;
            String t = temp;
            intoParent(dest, () -> {
                if (t == null) Linux.linkFd(o, dest);
                else Linux.rename(t, dest, Linux.RENAME_NOREPLACE);
            });
            temp = null;
        } finally {
            Linux.closeQuietly(in);
            Linux.closeQuietly(dataIn);
            if (!borrowed) Linux.closeQuietly(out);
            if (temp != null) {
                try {
                    Linux.unlink(temp);
                } catch (ErrnoException ignored) {
                    // the next mount cleans the scratch dir
                }
            }
        }
    }

    /**
     * The data of a metadata-only copy copied into it, in place (format doc §4.6): security.capability, which
     * writing data removes, is put back, and {@code NS metacopy} goes last, after an fsync, so a crash midway
     * leaves a metacopy file that still reads the lower data. The kernel does not put the times back: copying
     * any data moves mtime to now (atime stays), copying none (an empty file, an O_TRUNC open) leaves both
     * (kernel 6.18: chmod then an O_RDWR open of a 6-byte and a 0-byte lower file under metacopy=on).
     */
    private void copyInData(Node n) throws ErrnoException {
        String up = fs.paths.realPath(n);
        int in = openLower(fs.paths.dataPath(n));
        int out = -1;
        try {
            out = fs.paths.openReal(up, Linux.O_WRONLY);
            Stat st = Linux.fstat(out);
            byte[] cap = Linux.lgetxattrOrNull(up, "security.capability");
            long size = dataToCopy(st, truncateTo);
            copyCounted(in, out, size);   // an O_TRUNC open or a truncate: no more
            if (cap != null) Linux.fsetxattr(out, "security.capability", cap, 0);
            // a sparse copy may have written nothing, a reflink may keep mtime: say "now" explicitly
            if (size > 0) {
                Linux.futimens(out, 0, Linux.UTIME_OMIT, 0, Linux.UTIME_NOW);
                fs.effects.attrsChanged(n);   // an open reply carries no attributes: a client's cached mtime is stale
            }
            if (!fs.opts.volatileMode()) sync(out);
            Linux.fremovexattr(out, fs.x(OverlayXattr.METACOPY));
        } finally {
            Linux.closeQuietly(in);
            Linux.closeQuietly(out);
        }
        n.dataCopiedIn();
    }

    private void sync(int fd) throws ErrnoException {
        Linux.fsync(fd);
        fs.probe.copySynced();
    }

    private int openLower(String src) throws ErrnoException {
        try {
            return fs.paths.openReal(src, Linux.O_RDONLY | Linux.O_NOATIME);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EPERM) throw e;
            return fs.paths.openReal(src, Linux.O_RDONLY);
        }
    }

    private void copyCounted(int in, int out, long size) throws ErrnoException {
        if (size == 0) return;
        copyData(in, out, size);
        fs.probe.dataCopied();
    }

    /**
     * The first {@code size} bytes of {@code in}: a reflink if the filesystem shares extents, else copy_file_range
     * skipping holes, else read/write.
     */
    static void copyData(int in, int out, long size) throws ErrnoException {
        if (size == 0) return;
        try {
            Linux.ficlone(out, in);
            Linux.ftruncate(out, size);             // the clone has all of the file; size may be less
            return;
        } catch (ErrnoException e) {
            // not a reflink filesystem, or across filesystems: copy
        }
        DirectCopy direct = DirectCopy.worthIt(in, size) ? DirectCopy.open(in, out) : null;
        try {
            copyRanges(in, out, size, direct);
        } finally {
            if (direct != null) direct.close();
        }
        Linux.ftruncate(out, size);
    }

    /** The data ranges (SEEK_DATA to SEEK_HOLE) of the first {@code size} bytes: direct, else copy_file_range. */
    private static void copyRanges(int in, int out, long size, DirectCopy direct) throws ErrnoException {
        long pos = 0;
        boolean cfr = true;
        byte[] buf = null;
        while (pos < size) {
            long data;
            try {
                data = Linux.lseek(in, pos, Linux.SEEK_DATA);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.ENXIO) break; // only a hole is left
                data = pos;
            }
            if (data >= size) break;                // only a hole is left before size
            long hole;
            try {
                hole = Math.min(Linux.lseek(in, data, Linux.SEEK_HOLE), size);   // size may be short of the file's
            } catch (ErrnoException e) {
                hole = size;
            }
            pos = data;
            while (pos < hole) {
                if (direct != null) {
                    pos += direct.copy(pos, hole);
                    if (pos >= hole) break;
                    direct.close();                     // refused here (or the input ended): the rest through the cache
                    direct = null;
                }
                long len = Math.min(CHUNK, hole - pos);
                long n = 0;
                if (cfr) {
                    try {
                        n = Linux.copyFileRange(in, pos, out, pos, len);
                    } catch (ErrnoException e) {
                        cfr = false;
                    }
                }
                if (!cfr) {
                    // no larger than what is left: across filesystems (EXDEV) every copy-up comes here, most of
                    // them of small files, and a zeroed 1 MiB array each was a sixth of the server's CPU in a
                    // chown -R of 2,000 lower files (perf, 2026-12-07; memset under new_type_array)
                    if (buf == null) buf = new byte[(int) Math.min(CHUNK, size - pos)];
                    n = Linux.pread(in, buf, 0, (int) len, pos);
                    int w = 0;
                    while (w < n) w += Linux.pwrite(out, buf, w, (int) n - w, pos + w);
                }
                if (n == 0) break;
                pos += n;
            }
            if (pos >= hole) pos = hole;
        }
    }

    private void copyOther(String src, Stat st, byte[] origin, String dest, OverlayXattr.Nlink nlink)
            throws ErrnoException {
        String temp = fs.scratch.tempPath();
        boolean symlink = st.isLink();
        switch (st.type()) {
            case Stat.S_IFDIR -> Linux.mkdir(temp, fs.scratchMode(true));
            case Stat.S_IFLNK -> Linux.symlink(fs.paths.readlinkReal(src), temp);
            default -> Linux.mknod(temp, st.type(), st.rdev());
        }
        try {
            Linux.lchown(temp, st.uid(), st.gid());
            copyXattrs(src, -1, -1, temp);
            if (st.isDir()) copyDirFlags(src, temp);
            // user.* xattrs are not allowed on symlinks and special files: the kernel leaves origin out there.
            boolean originAllowed = !(fs.opts.userxattr() && !st.isDir());
            if (origin != null && originAllowed) Linux.lsetxattr(temp, fs.x(OverlayXattr.ORIGIN), origin, 0);
            if (nlink != null && originAllowed) Linux.lsetxattr(temp, fs.x(OverlayXattr.NLINK), nlink.bytes(), 0);
            // a directory moved to another parent must be writable by a mover without CAP_DAC_OVERRIDE (its ".."
            // changes): a plain user's copy gets its mode once at its name
            boolean modeLast = st.isDir() && !fs.dacOverride;
            if (!symlink && !modeLast) Linux.chmod(temp, st.perm());
            Linux.utimens(temp, st.atimeSec(), st.atimeNsec(), st.mtimeSec(), st.mtimeNsec(), true);
            intoParent(dest, () -> Linux.rename(temp, dest, Linux.RENAME_NOREPLACE));
            if (modeLast) Linux.chmod(dest, st.perm());
        } catch (ErrnoException e) {
            try {
                fs.scratch.removeTemp(temp);
            } catch (ErrnoException ignored) {
                // the next mount cleans the scratch dir
            }
            throw e;
        }
        // The directory's index entry comes after the directory is at its name, not before as in the kernel's
        // copy-up: killed in between, the kernel's next mount finds an upper directory with an origin and no index
        // entry, which it merges and serves (with the upper st_ino and upper handles; a lower handle from before
        // decodes until the directory is renamed, ESTALE after: the kernel never adds the entry, fsck reports it and
        // --repair writes it), where an entry naming a directory still in the scratch dir would be an orphan once
        // that is cleaned: whited out, and the lower directory and everything under it EIO ("suspected uncovered
        // redirected dir") from then on.
        if (st.isDir() && fs.opts.nfsExport() && fs.index.on() && origin != null && origin.length > 0) {
            fs.index.addDirEntry(origin, dest, true);
        }
    }

    /** A directory's inode flags (FileAttr#copyUp), read through an fd of the lower directory. */
    private void copyDirFlags(String src, String temp) throws ErrnoException {
        int fd;
        try {
            fd = fs.paths.openReal(src, Linux.O_RDONLY | Linux.O_DIRECTORY);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EACCES) return;  // a plain user's mount, a mode-0 lower dir: no flags to read
            throw e;
        }
        try {
            fs.fileAttr.copyUp(fd, -1, temp);
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    /**
     * Puts the copy at {@code dest}. The kernel copies up with the mounter's creds, which may write into an upper
     * directory whose mode forbids it (a lower 0555 directory copied up, then a file in it written): so may a
     * plain user's mount, see {@link OverlayFs#lendingWrite}.
     */
    private void intoParent(String dest, OverlayFs.Step put) throws ErrnoException {
        if (fs.dacOverride) put.run();
        else fs.lendingWrite(dest.substring(0, dest.lastIndexOf('/')), put);
    }

    /**
     * All xattrs but our private ones (escaped {@code NS overlay.*} ones are copied as they are). POSIX ACLs and
     * security.* must copy; anything else the target refuses as unsupported is skipped, as the kernel does.
     */
    void copyXattrs(String src, int srcFd, int fd, String destPath) throws ErrnoException {
        for (String name : srcFd >= 0 ? Linux.flistxattr(srcFd) : Linux.llistxattr(src)) {
            if (fs.ns.isPrivate(name) || AufsWhiteouts.isForeignMarker(name)) continue;
            byte[] v;
            try {
                v = srcFd >= 0 ? Linux.fgetxattr(srcFd, name) : Linux.lgetxattr(src, name);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.ENODATA) continue;
                throw e;
            }
            try {
                if (fd >= 0) Linux.fsetxattr(fd, name, v, 0);
                else Linux.lsetxattr(destPath, name, v, 0);
            } catch (ErrnoException e) {
                boolean must = name.startsWith("security.") || name.startsWith("system.posix_acl");
                if (must || e.errno() != Errno.EOPNOTSUPP && e.errno() != Errno.EPERM) throw e;
            }
        }
    }
}
