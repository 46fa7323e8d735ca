package org.overlayj.core.layer;

import java.util.ArrayList;
import java.util.List;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * Path facts the mount checks need: canonical paths, the ancestors of a layer root inside its filesystem (the
 * kernel walks dentry parents; we walk the canonical path and stay on the root's device), and the kernel's
 * {@code %pd2} rendering of a directory in messages.
 */
public final class LayerPaths {
    private LayerPaths() {}

    /** An object's identity: device and inode. */
    record Id(long dev, long ino) {
        static Id of(Stat st) {
            return new Id(st.dev(), st.ino());
        }
    }

    /** The canonical path of an existing directory (symlinks resolved), as the kernel's path walk sees it. */
    public static String realPath(String path) throws ErrnoException {
        int fd = Linux.open(path, Linux.O_PATH | Linux.O_DIRECTORY, 0);
        try {
            return Linux.fdPath(fd);
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    static String parent(String canonical) {
        int i = canonical.lastIndexOf('/');
        return i <= 0 ? "/" : canonical.substring(0, i);
    }

    static String basename(String canonical) {
        if (canonical.equals("/")) return "/";
        return canonical.substring(canonical.lastIndexOf('/') + 1);
    }

    /**
     * The strict ancestors of a canonical path, nearest first, that lie on the same device as the path itself
     * (dentry parents never leave their filesystem).
     */
    static List<String> ancestors(String canonical) throws ErrnoException {
        List<String> out = new ArrayList<>();
        long dev = Linux.stat(canonical).dev();
        String p = canonical;
        while (!p.equals("/")) {
            p = parent(p);
            Stat st = Linux.stat(p);
            if (st.dev() != dev) break;
            out.add(p);
        }
        return out;
    }

    /** The path is the root of its filesystem as far as a dentry walk can tell (its parent is on another device). */
    static boolean isFsRoot(String canonical) throws ErrnoException {
        if (canonical.equals("/")) return true;
        return Linux.stat(parent(canonical)).dev() != Linux.stat(canonical).dev();
    }

    /** The kernel's {@code %pd2}: the last two names of a dentry inside its filesystem ("w/work", "/sub", "/"). */
    static String pd2(String path) {
        try {
            String c = realPath(path);
            if (isFsRoot(c)) return "/";
            String p = parent(c);
            return (isFsRoot(p) ? "" : basename(p)) + "/" + basename(c);
        } catch (ErrnoException e) {
            String p = parent(path);
            return basename(p) + "/" + basename(path);
        }
    }

    /** {@code %pd2} of a child that may no longer exist, from its (existing) parent directory. */
    static String pd2Child(String parentDir, String name) {
        try {
            String c = realPath(parentDir);
            return (isFsRoot(c) ? "" : basename(c)) + "/" + name;
        } catch (ErrnoException e) {
            return basename(parentDir) + "/" + name;
        }
    }

    /** The errno of a failed call, as the kernel prints it ("-2"). */
    static String err(ErrnoException e) {
        return "-" + e.errno();
    }

    static boolean exists(String path) throws ErrnoException {
        return Linux.lstatOrNull(path) != null;
    }

    static ErrnoException inval(String message) {
        return new ErrnoException(Errno.EINVAL, message);
    }
}
