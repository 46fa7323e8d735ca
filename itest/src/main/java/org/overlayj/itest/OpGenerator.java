package org.overlayj.itest;

import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A seeded source of ops that picks sensible targets from the current visible tree of the oracle: mostly valid
 * ops, and about one in eight aimed at the wrong kind of object or a missing name, so that errnos get compared too.
 * The same seed and the same oracle give the same ops, which is what makes a sequence replayable.
 */
public final class OpGenerator {
    private static final int[] FILE_MODES = {0644, 0600, 0755, 04755, 02755, 0444, 0640};
    private static final int[] DIR_MODES = {0755, 0700, 0775, 02775};
    private static final String[] XATTRS = {"user.x", "user.y", "user.z"};
    private static final String[] LINK_TARGETS = {"a", "../b", "nowhere", "/nonexistent/x", "c/d"};

    private final Random r;
    private final long seed;
    private final boolean dirRenames;
    private final boolean aliases;

    /** @param dirRenames whether renames of directories are generated (meant for redirect_dir=on runs) */
    public OpGenerator(long seed, boolean dirRenames) {
        this(seed, dirRenames, false);
    }

    /**
     * @param aliases aim about half of the file ops (write, append, truncate, link, unlink, rename, chmod, chown)
     *                at hard-linked files, the lower hard-link groups of index runs and the links made since
     */
    public OpGenerator(long seed, boolean dirRenames, boolean aliases) {
        this(seed, dirRenames, aliases, false, false);
    }

    /**
     * @param held    about a third of the ops hold descriptors open (read-only or read-write, at most {@link
     *                #SLOTS}), read and write through them, reopen them through /proc/self/fd and close them; and
     *                a third of the other ops aim at the held files, so that unlinks, renames over them and
     *                copy-ups happen while they are open
     * @param handles (with {@code held}; for nfs_export mounts) file handles are taken and opened, now and then
     *                after a drop_caches or a remount
     */
    public OpGenerator(long seed, boolean dirRenames, boolean aliases, boolean held, boolean handles) {
        this.r = new Random(seed ^ 0x5DEECE66DL);
        this.seed = seed;
        this.dirRenames = dirRenames;
        this.aliases = aliases;
        this.held = held;
        this.handles = held && handles;
    }

    /**
     * With {@code aliases}: now and then a {@link Op.LinkGroup} of 10-20 links, decided apart from {@link #r} so that
     * a sequence is the same as without them until the first group.
     */
    public OpGenerator linkGroups(boolean on) {
        groups = on ? new Random(seed * 31 + 7) : null;
        return this;
    }

    private Random groups;

    /**
     * Non-root callers (issue 19, issue 21): a third of the ops are made by one of {@link #CALLERS} instead of
     * root, and now and then an op only they make interesting (ACLs, a trusted.* or user.* xattr where only root or
     * an owner may set one, sticky and setgid directory modes, touch). Decided by a stream of its own, so the rest
     * of a sequence is drawn as without them.
     */
    public OpGenerator users(boolean on) {
        users = on ? new Random(seed * 131 + 3) : null;
        return this;
    }

    private Random users;

    /** Rotating layers (issue 19 bug 2): now and then the upper becomes the top lower under a fresh upper. */
    public OpGenerator rotations(boolean on) {
        rotations = on ? new Random(seed * 977 + 5) : null;
        return this;
    }

    private Random rotations;

    /**
     * Inode flags and fallocate modes (issue 21 item 11): now and then a {@link Op.Chattr} (immutable, append-only,
     * noatime, sync, nodump set or cleared) or a {@link Op.Fallocate} (the modes a FUSE client passes on), drawn
     * from a stream of their own so that the rest of a sequence is drawn as without them.
     */
    public OpGenerator inodeFlags(boolean on) {
        iflags = on ? new Random(seed * 613 + 11) : null;
        return this;
    }

    private Random iflags;
    private static final int[] CHATTR_FLAGS = {0x10, 0x10, 0x20, 0x20, 0x80, 0x08, 0x40};
    private static final int[] FALLOC_MODES = {0, 1, 3, 3, 0x10, 0x11};

    /**
     * With inode flags: an unlink, rmdir or rename aimed at the wrong kind of object is aimed at the right kind. A
     * FUSE client checks the kind itself (EISDIR, ENOTDIR) before the door can answer EPERM for a protected
     * object or directory, where the kernel overlay's VFS says EPERM first: a difference no FUSE server can remove
     * (README, known limits), kept out of these sequences; the wrong kinds are exercised by the others.
     */
    private static Op rightKind(Op op, List<VisibleSnapshot.Item> tree) {
        java.util.Map<String, VisibleSnapshot.Item> at = new java.util.HashMap<>();
        for (VisibleSnapshot.Item i : tree) at.put(i.path(), i);
        return switch (op) {
            case Op.Unlink u when at.containsKey(u.path()) && at.get(u.path()).isDir() -> new Op.Rmdir(u.path());
            case Op.Rmdir d when at.containsKey(d.path()) && !at.get(d.path()).isDir() -> new Op.Unlink(d.path());
            case Op.Rename m when m.flags() != Linux.RENAME_EXCHANGE && at.containsKey(m.path())
                    && at.containsKey(m.to()) && at.get(m.path()).isDir() != at.get(m.to()).isDir()
                    -> new Op.Rename(m.path(), m.to() + "x", m.flags());
            default -> op;
        };
    }

    /** A chattr or fallocate on a regular file or directory (not the root: an immutable root stops a sequence). */
    private Op iflagsOp(List<VisibleSnapshot.Item> tree) {
        List<VisibleSnapshot.Item> l = tree.stream()
                .filter(i -> !i.path().equals("/") && (i.isReg() || i.isDir())).toList();
        if (l.isEmpty()) return null;
        VisibleSnapshot.Item it = l.get(iflags.nextInt(l.size()));
        if (it.isReg() && iflags.nextInt(3) == 0) {
            return new Op.Fallocate(it.path(), FALLOC_MODES[iflags.nextInt(FALLOC_MODES.length)],
                    iflags.nextInt(3) * 4096L + iflags.nextInt(100), 1 + iflags.nextInt(9000), iflags.nextBoolean());
        }
        int f = CHATTR_FLAGS[iflags.nextInt(CHATTR_FLAGS.length)];
        // as often cleared as set, so that protected objects become changeable again within a sequence
        return iflags.nextBoolean() ? new Op.Chattr(it.path(), f, 0) : new Op.Chattr(it.path(), 0, f);
    }

    /** The callers: the builder's owners and groups (1000, 1001; groups 100, 1001) and a stranger to all. */
    static final List<Op.Caller> CALLERS = List.of(new Op.Caller(1000, 1000, List.of(1001)),
            new Op.Caller(1001, 1001, List.of()), new Op.Caller(65534, 65534, List.of(100)));
    private static final String[] ACCESS_ACLS = {"u::rwx,u:1000:r-x,g::r-x,m::r-x,o::---",
            "u::rw-,u:1001:---,g::r--,m::r--,o::r--", "u::rwx,g::r-x,g:1001:rwx,m::rwx,o::---",
            "u::rw-,g::rw-,o::r--", "u::rwx,u:65534:rwx,g::---,m::rwx,o::---", ""};
    private static final String[] DEFAULT_ACLS = {"u::rwx,u:1000:rwx,g::r-x,m::rwx,o::r-x",
            "u::rwx,g::rwx,g:100:r-x,m::rwx,o::---", "u::rwx,g::r-x,o::r-x", ""};
    /** What a getxattr asks for: the names the other ops set (user.x of the layer builder too). */
    private static final String[] GET_XATTRS = {"user.x", "user.u", "trusted.t", "system.posix_acl_access"};
    private static final int[] USER_DIR_MODES = {01777, 0777, 03777, 02770, 01755};

    /** An op only non-root callers make interesting, or null. */
    private Op userOp(List<VisibleSnapshot.Item> tree, List<VisibleSnapshot.Item> dirs) {
        int k = users.nextInt(10);
        return switch (k) {
            case 0, 1 -> new Op.SetAcl(any(tree), false, ACCESS_ACLS[users.nextInt(ACCESS_ACLS.length)]);
            case 2 -> new Op.SetAcl(pick(dirs).path(), true, DEFAULT_ACLS[users.nextInt(DEFAULT_ACLS.length)]);
            case 3 -> new Op.SetXattr(any(tree), users.nextBoolean() ? "trusted.t" : "user.u", "w" + users.nextInt(9), 0);
            case 4, 5 -> new Op.Chmod(pick(dirs).path(), USER_DIR_MODES[users.nextInt(USER_DIR_MODES.length)]);
            case 6 -> new Op.Touch(any(tree));
            case 7 -> new Op.Chmod(notLink(tree), users.nextBoolean() ? 0666 : 02777);
            case 8 -> new Op.GetXattr(any(tree), GET_XATTRS[users.nextInt(GET_XATTRS.length)]);
            default -> null;
        };
    }

    private static final int SLOTS = 3;
    private final boolean held, handles;
    /** The path each slot was last opened on, and each handle taken of. */
    private final String[] heldPaths = new String[SLOTS], handlePaths = new String[SLOTS];

    /** A descriptor or handle op, or null for an ordinary one. */
    private Op heldOp(List<VisibleSnapshot.Item> tree, List<VisibleSnapshot.Item> files, List<VisibleSnapshot.Item> dirs) {
        int k = r.nextInt(100);
        if (handles) {
            if (k < 3) return new Op.Remount();
            if (k < 7) return new Op.DropCaches();
            if (k < 14) {
                int slot = r.nextInt(SLOTS);
                handlePaths[slot] = any(tree);
                return new Op.TakeHandle(handlePaths[slot], slot);
            }
            if (k < 20) return new Op.OpenHandle(r.nextInt(SLOTS));
        }
        if (k < 24) return null;
        int slot = r.nextInt(SLOTS);
        if (k < 40) {
            List<VisibleSnapshot.Item> l = files.isEmpty() || r.nextInt(8) == 0
                    ? tree.stream().filter(VisibleSnapshot.Item::isDir).toList() : files;
            heldPaths[slot] = pick(l).path();
            boolean write = !l.getFirst().isDir() && r.nextInt(3) == 0;
            return new Op.Hold(heldPaths[slot], slot, write);
        }
        if (k < 56) return new Op.ReadHeld(slot);
        if (k < 63) return new Op.WriteHeld(slot, r.nextInt(4) == 0 ? 0 : r.nextInt(300), 1 + r.nextInt(64), r.nextInt(1000));
        if (k < 74) return new Op.Reopen(slot, r.nextInt(4) == 0);
        if (k < 78) {
            heldPaths[slot] = null;
            return new Op.Release(slot);
        }
        // the name of a held file changes under it: what the open file must survive
        String p = heldPaths[slot];
        if (p == null || p.equals("/")) return null;
        int c = r.nextInt(6);
        if (c == 0) return new Op.Unlink(p);
        if (c == 1 && !files.isEmpty()) return new Op.Rename(pick(files).path(), p, 0);   // over it
        if (c == 2) return new Op.Rename(p, fresh(dirs), 0);
        if (c == 3) return new Op.Chmod(p, pick(FILE_MODES));                              // a copy-up
        if (c == 4) return new Op.Link(p, fresh(dirs));
        return new Op.Truncate(p, r.nextInt(3) == 0 ? 0 : r.nextInt(400));
    }

    private java.util.Set<String> links = java.util.Set.of();

    public Op next(List<VisibleSnapshot.Item> tree) {
        if (rotations != null && rotations.nextInt(12) == 0) return new Op.Rotate();
        if (iflags != null && iflags.nextInt(6) == 0) {
            Op f = iflagsOp(tree);
            if (f != null) return f;
        }
        if (users == null) return iflags == null ? nextOp(tree) : rightKind(nextOp(tree), tree);
        Op.Caller who = users.nextInt(3) == 0 ? CALLERS.get(users.nextInt(CALLERS.size())) : null;
        Op op = null;
        if (users.nextInt(6) == 0) {
            List<VisibleSnapshot.Item> dirs = tree.stream().filter(VisibleSnapshot.Item::isDir).toList();
            op = userOp(tree, dirs);
        }
        if (op == null) op = nextOp(tree);
        return who == null || !byCaller(op) ? op : new Op.As(who, op);
    }

    /** What a caller may be given: not the harness's own doings (handles, drop_caches, remounts, closes). */
    private static boolean byCaller(Op op) {
        return !(op instanceof Op.TakeHandle || op instanceof Op.OpenHandle || op instanceof Op.DropCaches
                || op instanceof Op.Remount || op instanceof Op.Release || op instanceof Op.Rotate);
    }

    private Op nextOp(List<VisibleSnapshot.Item> tree) {
        links = new java.util.HashSet<>();
        for (VisibleSnapshot.Item i : tree) if (i.isLink()) links.add(i.path());
        List<VisibleSnapshot.Item> dirs = new ArrayList<>(), files = new ArrayList<>(), nonDirs = new ArrayList<>();
        List<VisibleSnapshot.Item> linked = new ArrayList<>();
        for (VisibleSnapshot.Item i : tree) {
            if (i.isDir()) dirs.add(i);
            else {
                nonDirs.add(i);
                if (i.isReg()) files.add(i);
                if (i.isReg() && i.nlink() > 1) linked.add(i);
            }
        }
        if (held && r.nextInt(2) == 0) {
            Op h = heldOp(tree, files, dirs);
            if (h != null) return h;
        }
        boolean onAliases = aliases && !linked.isEmpty() && r.nextBoolean();
        if (onAliases) {
            files = linked;
            nonDirs = linked;
        }
        // now and then a group of 10-20 links to one regular file, most removed again (index runs: the union
        // count and the aliases a client may hold are exercised as generic/002 does)
        if (groups != null && aliases && !files.isEmpty() && groups.nextInt(25) == 0) {
            return new Op.LinkGroup(pick(files).path(), 10 + groups.nextInt(11));
        }
        if (held && r.nextInt(3) == 0) {
            // aim at what is held open, or was: the names an open file loses or keeps
            java.util.Set<String> h = new java.util.HashSet<>();
            for (String p : heldPaths) if (p != null) h.add(p);
            for (String p : handlePaths) if (p != null) h.add(p);
            List<VisibleSnapshot.Item> aimed = tree.stream().filter(i -> h.contains(i.path()) && !i.isDir()).toList();
            if (!aimed.isEmpty()) {
                List<VisibleSnapshot.Item> reg = aimed.stream().filter(VisibleSnapshot.Item::isReg).toList();
                if (!reg.isEmpty()) files = reg;   // never a symlink: writes follow one
                nonDirs = aimed;
            }
        }
        boolean wrong = r.nextInt(8) == 0;
        int k = r.nextInt(120);
        if (k < 8) return new Op.Mkdir(wrong ? any(tree) : fresh(dirs), pick(DIR_MODES));
        if (k < 20) {
            int size = r.nextInt(10) == 0 ? 0 : 1 + r.nextInt(200);
            return new Op.Create(wrong ? any(tree) : fresh(dirs), pick(FILE_MODES), size, r.nextInt(1000));
        }
        if (k < 30) {
            String p = wrong ? anyButFifo(tree) : pathOf(files, dirs);
            if (k >= 28) return new Op.Overwrite(p, 1 + r.nextInt(64), r.nextInt(1000));
            return new Op.Write(p, r.nextInt(4) == 0 ? 70 * 1024 + r.nextInt(100) : r.nextInt(300), 1 + r.nextInt(64), r.nextInt(1000));
        }
        if (k < 35) return new Op.Append(wrong ? anyButFifo(tree) : pathOf(files, dirs), 1 + r.nextInt(100), r.nextInt(1000));
        if (k < 40) return new Op.Truncate(wrong ? anyButFifo(tree) : pathOf(files, dirs), r.nextInt(3) == 0 ? 0 : r.nextInt(400));
        if (k < 46) return new Op.Chmod(wrong ? fresh(dirs) : onAliases ? pick(files).path() : notLink(tree),
                r.nextBoolean() ? pick(FILE_MODES) : pick(DIR_MODES));
        if (k < 51) {
            int[] ids = {0, 1000, 1001, 65534, -1};
            return new Op.Chown(wrong ? fresh(dirs) : onAliases ? pick(files).path() : any(tree),
                    ids[r.nextInt(ids.length)], ids[r.nextInt(ids.length)]);
        }
        if (k < 56) {
            long m = LayerBuilder.EPOCH + 200_000_000L + r.nextInt(1_000_000);
            return new Op.Utimes(wrong ? fresh(dirs) : any(tree), m + r.nextInt(100), r.nextInt(1_000_000_000), m, r.nextInt(1_000_000_000));
        }
        if (k < 62) {
            int[] flags = {0, 0, 0, Linux.XATTR_CREATE, Linux.XATTR_REPLACE};
            return new Op.SetXattr(wrong ? fresh(dirs) : notLink(tree), pick(XATTRS), "v" + r.nextInt(50), flags[r.nextInt(flags.length)]);
        }
        if (k < 65) return new Op.RemoveXattr(any(tree), r.nextInt(3) == 0 ? "user.x" : pick(XATTRS));
        if (k < 69) return new Op.Symlink(pick(LINK_TARGETS), wrong ? any(tree) : fresh(dirs));
        if (k < 74) return new Op.Link(wrong ? any(tree) : pathOf(files, dirs), wrong ? pathOf(files, dirs) : fresh(dirs));
        if (k < 82) return new Op.Unlink(wrong ? any(tree) : pathOf(nonDirs, dirs));
        if (k < 88) return new Op.Rmdir(wrong ? any(tree) : dirNotRoot(dirs, nonDirs));
        if (k < 106) return rename(tree, dirs, nonDirs, wrong);
        if (k < 113) return new Op.Read(wrong ? fresh(dirs) : pathOf(files, dirs));
        return new Op.Readdir(wrong ? any(tree) : pick(dirs).path());
    }

    private Op rename(List<VisibleSnapshot.Item> tree, List<VisibleSnapshot.Item> dirs,
                      List<VisibleSnapshot.Item> nonDirs, boolean wrong) {
        int f = r.nextInt(10);
        int flags = f < 6 ? 0 : f < 8 ? Linux.RENAME_NOREPLACE : Linux.RENAME_EXCHANGE;
        boolean dir = (dirRenames ? r.nextInt(3) == 0 : r.nextInt(10) == 0) && dirs.size() > 1;
        String from = wrong ? fresh(dirs) : dir ? dirNotRoot(dirs, nonDirs) : pathOf(nonDirs, dirs);
        String to;
        if (flags == Linux.RENAME_EXCHANGE || r.nextInt(3) == 0) {
            // over an existing object: same kind mostly, any kind sometimes
            to = r.nextInt(4) == 0 ? any(tree) : dir ? dirNotRoot(dirs, nonDirs) : pathOf(nonDirs, dirs);
        } else {
            to = fresh(dirs);
        }
        return new Op.Rename(from, to, flags);
    }

    private <T> T pick(List<T> l) { return l.get(r.nextInt(l.size())); }

    private int pick(int[] a) { return a[r.nextInt(a.length)]; }

    private String pick(String[] a) { return a[r.nextInt(a.length)]; }

    private String any(List<VisibleSnapshot.Item> tree) {
        List<VisibleSnapshot.Item> l = tree.stream().filter(i -> !i.path().equals("/")).toList();
        return l.isEmpty() ? "/missing" : pick(l).path();
    }

    /**
     * Any object but a FIFO (opening one could block) or a symlink: ops that follow a final symlink are never aimed
     * at one, since a target like "../x" or "/x" leads out of the overlay into the harness's own files.
     */
    private String anyButFifo(List<VisibleSnapshot.Item> tree) {
        List<VisibleSnapshot.Item> l = tree.stream()
                .filter(i -> !i.path().equals("/") && i.type() != 0010000 && !i.isLink()).toList();
        return l.isEmpty() ? "/missing" : pick(l).path();
    }

    private String notLink(List<VisibleSnapshot.Item> tree) {
        List<VisibleSnapshot.Item> l = tree.stream().filter(i -> !i.isLink()).toList();
        return pick(l).path();
    }

    /** A path from {@code l}, or a fresh name when {@code l} is empty. */
    private String pathOf(List<VisibleSnapshot.Item> l, List<VisibleSnapshot.Item> dirs) {
        return l.isEmpty() ? fresh(dirs) : pick(l).path();
    }

    private String dirNotRoot(List<VisibleSnapshot.Item> dirs, List<VisibleSnapshot.Item> nonDirs) {
        List<VisibleSnapshot.Item> l = dirs.stream().filter(i -> !i.path().equals("/")).toList();
        return l.isEmpty() ? pathOf(nonDirs, dirs) : pick(l).path();
    }

    /**
     * A name in an existing directory; from a small pool, so it sometimes exists already or existed before. Never
     * an existing symlink, since some callers use it with ops that follow one (see {@link #anyButFifo}).
     */
    private String fresh(List<VisibleSnapshot.Item> dirs) {
        String[] pool = {"n0", "n1", "n2", "n3", "a", "b", "c", "wo", "op"};
        for (int attempt = 0; ; attempt++) {
            String d = pick(dirs).path();
            String p = (d.equals("/") ? "" : d) + "/" + pool[r.nextInt(pool.length)];
            if (!links.contains(p)) return p;
            if (attempt > 20) return "/n-missing";
        }
    }
}
