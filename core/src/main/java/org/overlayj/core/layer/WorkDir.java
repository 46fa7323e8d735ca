package org.overlayj.core.layer;

import java.util.List;
import java.util.function.Consumer;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The work base directory W and its children {@code work} and {@code index} (format doc §1.4): creation at mount,
 * and the kernel's two-level cleanup of leftovers.
 *
 * <p>The cleanup follows the kernel exactly, because what it leaves behind decides whether the overlay mounts
 * read-write: a directory is first removed with rmdir; if that fails its entries are removed one level further
 * down (files and empty directories only); failures are logged and passed over; only a non-empty
 * {@code work/incompat} stops everything, with EINVAL. Entries are visited in getdents order, like the kernel's
 * readdir, so the same leftovers end in the same state.
 */
public final class WorkDir {
    private static final Logger LOG = LoggerFactory.getLogger(WorkDir.class);

    public static final String WORK = "work", INDEX = "index", INCOMPAT = "incompat";

    private WorkDir() {}

    /**
     * Creates {@code W/name} with mode 0000 and no POSIX ACLs. A non-persistent directory ({@code work}) that
     * exists is cleaned and recreated; a persistent one ({@code index}) is used as it is.
     *
     * @param givenWorkdir W as the user wrote it, for the kernel's message
     * @param warn         receives the kernel's warnings
     * @return the path, or null when it could not be created (the overlay must then be read-only)
     * @throws ErrnoException EINVAL when {@code W/work/incompat} holds a feature overlayj must not ignore
     */
    public static String create(String workBase, String name, boolean persist, String givenWorkdir,
                                Consumer<String> warn) throws ErrnoException {
        String path = workBase + "/" + name;
        boolean retried = false;
        while (true) {
            Stat st = Linux.lstatOrNull(path);
            if (st != null) {
                if (persist) return path;
                if (retried) return failed(givenWorkdir, name, Errno.EEXIST, warn);
                retried = true;
                try {
                    cleanup(workBase, name, 0, warn);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.EINVAL) throw e;
                }
                continue;
            }
            try {
                Linux.mkdir(path, privateMode());
            } catch (ErrnoException e) {
                return failed(givenWorkdir, name, e.errno(), warn);
            }
            try {
                // The kernel removes the new dir's POSIX ACLs and chmods it. A new directory has ACLs only by
                // inheriting W's default ACL, and other mode bits only from it or W's setgid bit: where W has
                // neither, the removals would find nothing and the chmod change nothing but the ctime, and each
                // is a journalled metadata change (ext4 opens a transaction even for an absent xattr) of every
                // mount. So they are made exactly where they can change something.
                if (!plain(workBase, path)) {
                    removeAcl(path, "system.posix_acl_default");
                    removeAcl(path, "system.posix_acl_access");
                    Linux.chmod(path, privateMode());   // clear any mode bits an inherited ACL gave
                }
            } catch (ErrnoException e) {
                return failed(givenWorkdir, name, e.errno(), warn);
            }
            return path;
        }
    }

    /**
     * The kernel makes its work dirs mode 0000 (only its privileged creds enter). A user outside any user namespace
     * (fusermount3 mounts) has no such creds: 0700, or it could not use them itself.
     */
    private static int privateMode() {
        return Linux.geteuid() == 0 ? 0 : 0700;
    }

    /** {@code made} (just made in {@code workBase}) has the private mode exactly and W has no default ACL. */
    private static boolean plain(String workBase, String made) throws ErrnoException {
        if ((Linux.lstat(made).mode() & 07777) != privateMode()) return false;
        return Linux.lgetxattrOrNull(workBase, "system.posix_acl_default") == null;
    }

    private static void removeAcl(String path, String name) throws ErrnoException {
        try {
            Linux.lremovexattr(path, name);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENODATA && e.errno() != Errno.EOPNOTSUPP) throw e;
        }
    }

    private static String failed(String givenWorkdir, String name, int errno, Consumer<String> warn) {
        warn.accept("failed to create directory " + Linux.toUtf8(givenWorkdir) + "/" + name + " (errno: " + errno
                + "); mounting read-only");
        return null;
    }

    /**
     * Removes {@code parent/name} the kernel's way (its ovl_workdir_cleanup at {@code level}: 0 for W/work, 1 for
     * its entries and for '#' index entries).
     *
     * @throws ErrnoException EINVAL for a non-empty {@code work/incompat}; the errno of a failed directory read
     */
    public static void cleanup(String parent, String name, int level, Consumer<String> warn) throws ErrnoException {
        String path = parent + "/" + name;
        Stat st = Linux.lstatOrNull(path);
        if (st == null) return;
        if (!st.isDir() || level > 1) {
            remove(parent, name, st, warn);
            return;
        }
        try {
            Linux.rmdir(path);
            return;
        } catch (ErrnoException e) {
            // not empty (or otherwise stuck): go one level down, then try again
        }
        recurse(path, name, level + 1, warn);
        remove(parent, name, st, warn);
    }

    private static void recurse(String dir, String dirName, int level, Consumer<String> warn)
            throws ErrnoException {
        boolean incompat = level == 2 && dirName.equals(INCOMPAT);
        List<DirEnt> entries = Linux.readdir(dir);
        for (DirEnt e : entries) {
            if (e.isDotOrDotDot()) continue;
            if (incompat) {
                String msg = "overlay with incompat feature '" + Linux.toUtf8(e.name()) + "' cannot be mounted";
                LOG.error("{}", msg);
                throw new ErrnoException(Errno.EINVAL, msg);
            }
            cleanup(dir, e.name(), level, warn);
        }
    }

    /** rmdir or unlink; a failure is logged like the kernel's "cleanup of ... failed" and otherwise ignored. */
    private static void remove(String parent, String name, Stat st, Consumer<String> warn) {
        String path = parent + "/" + name;
        try {
            if (st.isDir()) Linux.rmdir(path);
            else Linux.unlink(path);
        } catch (ErrnoException e) {
            warn.accept("cleanup of '" + Linux.toUtf8(LayerPaths.pd2Child(parent, name)) + "' failed ("
                    + LayerPaths.err(e) + ")");
        }
    }

    /** Deletes the '#' leftovers of interrupted index operations in W/index (the rest is index verification). */
    public static void cleanupIndexTemps(String indexDir, Consumer<String> warn) throws ErrnoException {
        for (DirEnt e : Linux.readdir(indexDir)) {
            if (e.isDotOrDotDot() || !e.name().startsWith("#")) continue;
            cleanup(indexDir, e.name(), 1, warn);
        }
    }

    /**
     * Creates {@code W/work/incompat/volatile/dirty} (directories and file mode 0000; owner-only for a plain user, see privateMode), which makes every later
     * mount refuse until the user removes it: a volatile overlay may have lost writes in a crash.
     */
    public static void createVolatileDirty(String workDir) throws ErrnoException {
        String p = workDir;
        for (String d : new String[] {INCOMPAT, "volatile"}) {
            p = p + "/" + d;
            Stat st = Linux.lstatOrNull(p);
            if (st == null) Linux.mkdir(p, privateMode());
        }
        p = p + "/dirty";
        if (Linux.lstatOrNull(p) == null) {
            int fd = Linux.open(p, Linux.O_CREAT | Linux.O_EXCL | Linux.O_WRONLY, privateMode() & 0600);
            Linux.close(fd);
        }
    }
}
