package org.overlayj.core;

import org.overlayj.core.layer.Layer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * An overlay inode. Doors keep references and pass them back; there is one Node per overlay inode while it is
 * referenced, and {@link #ino()} is its stable st_ino (format doc §6.5).
 *
 * <p>Where it lives: a directory has exactly one place, (parent, name); a non-directory is placed at the alias it was
 * last reached by and remembers the other aliases it was reached by (see {@link #otherAliases}). The upper path is
 * derived from that place, so renaming a directory moves its whole subtree with
 * no bookkeeping; the lower paths never change while mounted (lower layers are read-only, and a renamed directory
 * keeps its lowers through its redirect). All mutable state is guarded by the overlay's namespace lock.
 */
public final class Node {
    final long ino;
    final int type;
    /** Distinguishes this node from an earlier one with the same (reused) inode number. */
    long generation;

    Node parent;
    String name;
    /**
     * The other names a non-directory with several links was reached by, most recent last (null while there is
     * only one). When the name it is placed at goes away (unlink, rename), it moves to one of these that still
     * leads to it: a client may keep reaching it through another name without a new lookup (the FUSE kernel caches
     * names), and its upper path must then still work. Not bounded: a name forgotten here is one the node could
     * not move to, and with 18 links removed newest first the first name was lost (xfstests generic/002).
     */
    private java.util.LinkedHashSet<Alias> otherAliases;
    /**
     * No name known to this overlay leads to the object any more (its last one was unlinked or renamed over): its
     * real inode is reached only through the files open on it ({@link #openFiles}), never through the name it had,
     * which may be gone or be another object's by now. Cleared when a lookup finds it again.
     */
    volatile boolean unlinked;
    /** Was ever {@link #unlinked}: a file released then closes its fd only when no reader can be using its path. */
    volatile boolean everUnlinked;
    /**
     * A removed directory's real stat, taken right before its removal: a process inside it (its cwd, an fd the FUSE
     * door never saw: no OPENDIR) can still stat it. Kept rather than an fd, which an rm -r of many directories
     * would hold by the thousand until the nodes are collected.
     */
    volatile org.overlayj.sys.Stat removedDir;
    /** The files open on this object (guarded by the list itself): an unlinked object is reached through them. */
    final List<OpenFile> openFiles = new ArrayList<>(0);

    /** The object has an upper inode, at parent's upper path + name (or at {@link #indexPath} when disconnected). */
    boolean upper;
    /**
     * The inode number of the upper inode a lookup last found for this node (0: none seen yet, e.g. right after a
     * copy-up): a lookup that finds this overlay inode number on another upper inode is ESTALE (Lookup#verify).
     */
    long upperIno;
    /**
     * The upper (or index) inode is a metadata-only copy (NS metacopy, format doc §4.6): its data is still the top
     * lower's, until an open for write or a truncate copies it in.
     */
    boolean metacopy;
    /**
     * A lower metacopy file whose data none of the data-only layers has: it stats and lists, its data cannot be
     * read (the kernel's lazy lowerdata lookup fails the open with ENOENT).
     */
    boolean dataMissing;
    /** For an indexed object reached with no upper alias: the index entry that is its upper inode. */
    String indexPath;
    /** The upper inode is (or will be) an index entry: union nlink rules apply (format doc §5.5). */
    boolean indexed;
    /** Link count of the lower (origin) inode, for the union count rules. */
    int lowerNlink;
    /**
     * The fh blob of the top lower inode, once made (name_to_handle_at); a node's top lower inode never changes and
     * the lower layers are read-only, so it stays right. Saves that system call per handle encoded (READDIRPLUS).
     */
    org.overlayj.core.fh.Fh lowerBlob;
    /** The fh blob a decoded handle gave this node (disconnected nodes answer encode with it). */
    org.overlayj.core.fh.Fh handle;
    /** A lower directory whose lower handle was checked to lead back to it (format doc §6.3). */
    boolean connectable;
    /** Lower inodes, top-down: one for a non-directory, the merged stack for a directory. */
    List<Lower> lowers;
    /** Directory content is merged from several layers, or it is an upper dir that may hide whiteouts. */
    boolean merge;
    /**
     * This directory's upper dir was made by this mount (a copy-up or a mkdir: empty then) and no AUFS whiteout
     * was written into it since ({@link org.overlayj.core.layer.AufsWhiteouts#fallbackWhiteout}, the only writer):
     * a missing name's {@code .wh.NAME} need not be looked for there (one statx less per LOOKUP of a missing name
     * and per create). False when unknown: an upper dir found at mount time is looked in as before.
     */
    volatile boolean noAufsWhiteouts;
    /**
     * A directory that is not a merge but whose real directory may hold whiteouts, which its listing must hide: its
     * top lower dir carries an origin (the upper of an earlier overlay; the kernel's OVL_WHITEOUTS).
     */
    boolean whiteouts;
    /**
     * The object's protection flags (append-only, immutable: FileAttr#prot), -1 until first asked for. They change
     * only through FileAttr#set, which resets this.
     */
    volatile int prot = -1;
    /** Monotonic version of a directory's entries: the NFS cookie verifier; also drops cached listings. */
    long dirVersion;
    Readdir.Listing listing;
    /**
     * What lookups under the read lock last learned of this directory and of this node's real inode, each with the
     * overlay's change count then ({@link OverlayFs#changes}): a change right after may use it instead of asking the
     * layers again when nothing else changed in between (the count is then one higher, its own). A FUSE or NFS
     * create is a LOOKUP that found nothing, then the CREATE: the create need not look for the name again.
     */
    volatile Absent absent;
    volatile RealStat realStat;

    /** {@code name} was not in this directory (in no layer) at change count {@code changes}. */
    record Absent(String name, long changes) {}

    /** The stat of the node's real inode at change count {@code changes}, when that was its upper inode or not. */
    record RealStat(org.overlayj.sys.Stat st, boolean upper, long changes) {}

    Node(long ino, int type) {
        this.ino = ino;
        this.type = type;
    }

    /** A real lower inode of this object: its layer and absolute path. */
    record Lower(Layer layer, String path) {}

    /** One name of an object: the directory node and the name in it. */
    record Alias(Node parent, String name) {}

    /** Places the node at (dir, name); a non-directory remembers where it was placed before. */
    void placeAt(Node dir, String name) {
        if (!isDir() && !unlinked && parent != null && this.name != null
                && (parent != dir || !this.name.equals(name))) {
            if (otherAliases == null) otherAliases = new java.util.LinkedHashSet<>(4);
            otherAliases.remove(new Alias(dir, name));
            Alias was = new Alias(parent, this.name);
            otherAliases.remove(was);
            otherAliases.add(was);
        }
        parent = dir;
        this.name = name;
        unlinked = false;
    }

    /** The name (from, fromName) moved to (dir, name): the node is placed there, the old name is forgotten. */
    void moveTo(Node from, String fromName, Node dir, String name) {
        if (otherAliases != null) otherAliases.remove(new Alias(from, fromName));
        parent = dir;
        this.name = name;
        unlinked = false;
    }

    /**
     * Set while {@link #unplace} looks for another name: the node's recorded place is the name that just went away
     * (after a rename over it, that name holds another inode), so a lookup of an alias must not take the stale place
     * for a second upper inode claiming this object (Lookup.verify).
     */
    boolean leaving;

    /**
     * The name (dir, name) no longer leads to this node. If it was the node's place, the node moves to the most
     * recent other alias that {@code leadsHere} confirms; with none left it is {@link #unlinked} (an open file
     * still reaches its inode through its fd).
     */
    void unplace(Node dir, String name, Predicate<Alias> leadsHere) {
        if (otherAliases != null) otherAliases.remove(new Alias(dir, name));
        if (parent != dir || this.name == null || !this.name.equals(name)) return;
        leaving = true;
        try {
            while (otherAliases != null && !otherAliases.isEmpty()) {
                Alias a = otherAliases.removeLast();
                if (leadsHere.test(a)) {
                    parent = a.parent();
                    this.name = a.name();
                    // the test may have looked the alias up, which remembers the place it left: the name that is gone
                    if (otherAliases != null) otherAliases.remove(new Alias(dir, name));
                    return;
                }
            }
        } finally {
            leaving = false;
        }
        unlinked = true;
        everUnlinked = true;
    }

    boolean hasOtherAliases() { return otherAliases != null && !otherAliases.isEmpty(); }

    // readers of the identity fields (all but the caches are read through these)
    Node parent() { return parent; }
    String name() { return name; }
    long generation() { return generation; }
    boolean unlinked() { return unlinked; }
    boolean everUnlinked() { return everUnlinked; }
    org.overlayj.sys.Stat removedDir() { return removedDir; }
    long upperIno() { return upperIno; }
    boolean metacopy() { return metacopy; }
    boolean dataMissing() { return dataMissing; }
    String indexPath() { return indexPath; }
    boolean indexed() { return indexed; }
    int lowerNlink() { return lowerNlink; }
    List<Lower> lowers() { return lowers; }
    boolean merge() { return merge; }
    boolean whiteouts() { return whiteouts; }
    org.overlayj.core.fh.Fh handle() { return handle; }

    public long ino() { return ino; }

    public boolean isDir() { return type == 0040000; }

    /**
     * Whether the object has its upper inode (a copy-up would do nothing). Read without the engine's lock: a hint
     * for a door's scheduling (FUSE quick requests), never for a decision about the layers.
     */
    public boolean isUpper() { return upper; }

    int type() { return type; }

    boolean hasLower() { return lowers != null && !lowers.isEmpty(); }

    Lower topLower() { return hasLower() ? lowers.getFirst() : null; }

    @Override public String toString() {
        return "Node[ino=" + ino + ", " + (parent == null ? "/" : name) + (upper ? ", upper" : "")
                + (hasLower() ? ", lower=" + lowers.size() : "") + "]";
    }
}
