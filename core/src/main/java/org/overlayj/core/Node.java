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
 *
 * <p>Its state has two parts, both private: its place (parent, name, other aliases; unlinked; disconnected) and its
 * {@link Residence}, where its inode lives, one immutable value. Both change only through the named transitions
 * below, each of which checks it is legal from where the node is (an illegal one is a bug: IllegalStateException).
 * The remaining plain fields are caches of what the layers can tell again. docs/architecture.md, "Node states".
 */
public final class Node {
    final long ino;
    final int type;
    /** Distinguishes this node from an earlier one with the same (reused) inode number. */
    private final long generation;

    // --- where the object is reached: its place (changed by placeAt, moveTo, unplace, decoded, foundRoot) --------

    private Node parent;
    private String name;
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
    private volatile boolean unlinked;
    /** Was ever {@link #unlinked}: a file released then closes its fd only when no reader can be using its path. */
    private volatile boolean everUnlinked;
    /**
     * A removed directory's real stat, taken right before its removal ({@link #removing}): a process inside it (its
     * cwd, an fd the FUSE door never saw: no OPENDIR) can still stat it. Kept rather than an fd, which an rm -r of
     * many directories would hold by the thousand until the nodes are collected.
     */
    private volatile org.overlayj.sys.Stat removedDir;
    /** The fh blob a decoded handle gave this node (disconnected nodes answer encode with it); set by decodes only. */
    private org.overlayj.core.fh.Fh handle;
    /** The files open on this object (guarded by the list itself): an unlinked object is reached through them. */
    final List<OpenFile> openFiles = new ArrayList<>(0);

    // --- where its inode lives: one immutable value, replaced only by the transitions below ----------------------

    private Residence residence = Residence.NEW;

    /**
     * Where the object's inode lives and what was learnt of its real inodes, as one immutable value (docs/architecture.md,
     * "Node states"). {@code kind}:
     * <ul>
     * <li>{@code NEW}: just made by the inode cache, not filled in yet (no lowers).</li>
     * <li>{@code LOWER}: lower inodes only (a lower metacopy file: its top lower and its data file below).</li>
     * <li>{@code UPPER}: an upper inode at the node's place, over its lowers (none: born upper).</li>
     * <li>{@code INDEX}: its upper inode is the index entry {@code indexPath}, with no upper alias: a lower hard link
     * whose other alias was copied up (a link-up is left), or a disconnected object reached through the entry.</li>
     * </ul>
     *
     * @param lowers lower inodes, top-down: one for a non-directory (two for a metacopy file: the top one and the
     *        data), the merged stack for a directory
     * @param indexPath the index entry that is its upper inode (INDEX only)
     * @param upperIno the inode number of the upper inode a lookup last found for this node (0: none seen yet, e.g.
     *        right after a copy-up): a lookup that finds this overlay inode number on another upper inode is ESTALE
     *        (Lookup#verify); kept when a lookup finds no upper inode
     * @param indexed the upper inode is (or will be) an index entry: union nlink rules apply (format doc §5.5);
     *        always for INDEX, never for LOWER
     * @param lowerNlink link count of the lower (origin) inode, for the union count rules
     * @param metacopy the upper (or index) inode is a metadata-only copy (NS metacopy, format doc §4.6), or a lower
     *        one is: its data is still a lower file's ({@code lowers.getLast()}), until an open for write or a
     *        truncate copies it in
     * @param dataMissing a metacopy file whose data none of the data-only layers has: it stats and lists, its data
     *        cannot be read (the kernel's lazy lowerdata lookup fails the open with ENOENT)
     * @param merge a directory whose content is merged from several layers, or an upper dir that may hide whiteouts
     * @param whiteouts a directory that is not a merge but whose real directory may hold whiteouts, which its listing
     *        must hide: its top lower dir carries an origin (the upper of an earlier overlay; the kernel's OVL_WHITEOUTS)
     */
    record Residence(Kind kind, List<Lower> lowers, String indexPath, long upperIno, boolean indexed, int lowerNlink,
                     boolean metacopy, boolean dataMissing, boolean merge, boolean whiteouts) {
        enum Kind { NEW, LOWER, UPPER, INDEX }

        static final Residence NEW = new Residence(Kind.NEW, null, null, 0, false, 0, false, false, false, false);

        Residence {
            boolean ok = switch (kind) {
                case NEW -> lowers == null && indexPath == null;
                case LOWER -> lowers != null && !lowers.isEmpty() && indexPath == null && !indexed;
                case UPPER -> lowers != null && indexPath == null;
                case INDEX -> lowers != null && indexPath != null && indexed;
            };
            if (!ok) throw new IllegalStateException("not a valid node residence: " + describe(kind, lowers, indexPath, indexed));
        }

        /** What a lookup learnt: its upper inode (or index entry) and lowers; the rest as the lookup found it. */
        static Residence found(boolean upper, List<Lower> lowers, String indexPath, long upperIno, boolean indexed,
                               int lowerNlink, boolean metacopy, boolean dataMissing, boolean merge, boolean whiteouts) {
            Kind k = upper ? Kind.UPPER : indexPath != null ? Kind.INDEX : Kind.LOWER;
            return new Residence(k, List.copyOf(lowers), indexPath, upperIno, indexed, lowerNlink, metacopy,
                    dataMissing, merge, whiteouts);
        }

        private static String describe(Kind kind, List<Lower> lowers, String indexPath, boolean indexed) {
            return kind + (lowers == null ? "" : ", lowers=" + lowers.size()) + (indexPath == null ? "" : ", index")
                    + (indexed ? ", indexed" : "");
        }

        @Override public String toString() {
            return describe(kind, lowers, indexPath, indexed) + (metacopy ? ", metacopy" : "")
                    + (dataMissing ? ", data missing" : "") + (merge ? ", merge" : "") + (whiteouts ? ", whiteouts" : "");
        }
    }

    // --- caches: facts that can be read again from the layers; each says who resets it -------------------------

    /**
     * The fh blob of the top lower inode, once made (name_to_handle_at); a node's top lower inode never changes and
     * the lower layers are read-only, so it stays right. Saves that system call per handle encoded (READDIRPLUS).
     */
    org.overlayj.core.fh.Fh lowerBlob;
    /**
     * The fh blob of the node's upper inode when that inode carries no origin (born upper, or the upper root): what
     * Export#blobFor answers for it, made once (an lgetxattr of the origin and a name_to_handle_at per handle
     * encoded otherwise: each NFS LOOKUP, CREATE and READDIRPLUS entry). Right while the node stays on that inode:
     * cleared by every transition that can move it to another one (its last name unlinked, after which a new inode
     * may get the same number and this very node; a copy-up, link-up or decode; a lookup that finds another upper
     * inode). Set under the namespace read lock by encodes, which all compute the same value; cleared under the
     * write lock.
     */
    volatile org.overlayj.core.fh.Fh upperBlob;
    /**
     * The node's upper inode was made by this mount as a new object (create, mkdir, mknod, symlink): it has no
     * origin xattr, so its first handle encode need not read one. Cleared with {@link #upperBlob}.
     */
    volatile boolean bornUpper;
    /**
     * How many times the node lost its last name ({@link #unplace}): a remembered handle decode (Export#answers) made
     * before is void, since the node may stand for a new inode of the same number by now.
     */
    private volatile int unlinks;
    /** A lower directory whose lower handle was checked to lead back to it (format doc §6.3): checked once. */
    boolean connectable;
    /**
     * This directory's upper dir was made by this mount (a copy-up or a mkdir: empty then) and no AUFS whiteout
     * was written into it since ({@link org.overlayj.core.layer.AufsWhiteouts#fallbackWhiteout}, the only writer):
     * a missing name's {@code .wh.NAME} need not be looked for there (one statx less per LOOKUP of a missing name
     * and per create). False when unknown: an upper dir found at mount time is looked in as before.
     */
    volatile boolean noAufsWhiteouts;
    /**
     * The object's protection flags (append-only, immutable: FileAttr#prot), -1 until first asked for. They change
     * only through FileAttr#set, which resets this.
     */
    volatile int prot = -1;
    /** Monotonic version of a directory's entries: the NFS cookie verifier; also drops cached listings. */
    long dirVersion;
    Readdir.Listing listing;
    /**
     * The names in this directory's lower directories, by lower directory path, as a listing read them (every name
     * getdents gave, whiteouts and AUFS metadata included): a lower layer does not change while mounted, so a
     * name missing there needs no statx in that layer ({@link Lookup}; the LOOKUP before each create of a new name
     * in a listed directory asked every lower layer for it). Null until a listing read them; never reset, since
     * it only states facts of read-only directories.
     */
    volatile java.util.Map<String, java.util.Set<String>> lowerNames;
    /**
     * What lookups under the read lock last learned of this directory and of this node's real inode, each with the
     * overlay's change count then ({@link OverlayFs#changes}): a change right after may use it instead of asking the
     * layers again when nothing else changed in between (the count is then one higher, its own). A FUSE or NFS
     * create is a LOOKUP that found nothing, then the CREATE: the create need not look for the name again.
     */
    volatile Absent absent;
    volatile RealStat realStat;
    /**
     * The overlay markers of an object this overlay made (Namespace#make), as it wrote them, its upper inode then,
     * and {@link OverlayFs#decodeEpoch} then: a lookup that finds that upper inode at this node's name while the
     * epoch is the same takes them rather than reading its xattrs again (Lookup#knownMarkers). Every change that
     * may write an overlay xattr on an existing object (rename, link, copy-up, setxattr, removals but of files
     * made here) moves the epoch on; edits behind the mount's back are undefined, as in the kernel, whose dcache keeps
     * the same facts.
     */
    volatile KnownMarkers knownMarkers;

    /** {@code name} was not in this directory (in no layer) at change count {@code changes}. */
    record Absent(String name, long changes) {}

    /** The stat of the node's real inode at change count {@code changes}, when that was its upper inode or not. */
    record RealStat(org.overlayj.sys.Stat st, boolean upper, long changes) {}

    /** See {@link #knownMarkers}. */
    record KnownMarkers(OverlayFs.Markers markers, long upperIno, long epoch) {}

    Node(long ino, int type, long generation) {
        this.ino = ino;
        this.type = type;
        this.generation = generation;
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
        pendingAlias = null;
    }

    /**
     * (dir, name) leads to this non-directory too, but it stays placed where it is (Lookup#fill): the alias is
     * remembered, and as the {@link #pendingAlias} a change through it places the node there first.
     */
    void rememberAlias(Node dir, String name) {
        if (isDir() || parent == dir && name.equals(this.name)) return;
        if (otherAliases == null) otherAliases = new java.util.LinkedHashSet<>(4);
        Alias a = new Alias(dir, name);
        otherAliases.remove(a);
        otherAliases.add(a);
        pendingAlias = a;
    }

    /**
     * The alias a lookup under the read lock last reached this node by without placing it there (an alias not
     * linked up of an indexed object upper at another name, Lookup#fill); null when its last lookup placed it.
     * Before, that lookup placed the node there, and the next change acted there (a copy-up links up the name the
     * node is placed at, as the kernel's copy-up links up the dentry it is given): CopyUp has
     * Lookup#placeAtPendingAlias do that placing under the write lock. Set under the node's monitor.
     */
    private volatile Alias pendingAlias;

    boolean hasPendingAlias() { return pendingAlias != null; }

    /** The {@link #pendingAlias}, cleared. */
    synchronized Alias takePendingAlias() {
        Alias a = pendingAlias;
        pendingAlias = null;
        return a;
    }

    /** The name (from, fromName) moved to (dir, name): the node is placed there, the old name is forgotten. */
    void moveTo(Node from, String fromName, Node dir, String name) {
        if (otherAliases != null) otherAliases.remove(new Alias(from, fromName));
        parent = dir;
        this.name = name;
        unlinked = false;
        pendingAlias = null;
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
        if (new Alias(dir, name).equals(pendingAlias)) pendingAlias = null;
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
        unlinks++;
        forgetUpperBlob();
    }

    /** Drops {@link #upperBlob} and {@link #bornUpper}: the node may be on another upper inode from here on. */
    void forgetUpperBlob() {
        upperBlob = null;
        bornUpper = false;
    }

    boolean hasOtherAliases() { return otherAliases != null && !otherAliases.isEmpty(); }

    // --- transitions of the residence (and the places they change): each checks it is legal here -------------------

    /**
     * What a lookup found for this object at its place (Lookup#fill). A lookup reads the layers anew, so what it
     * learnt replaces what was known, from any state: also an upper object found lower-only again (its upper inode
     * removed outside the mount), where the last upper inode number seen is kept for Lookup#verify.
     */
    void found(Residence r) {
        if (r.kind() == Residence.Kind.NEW) throw illegal("found", r);
        Residence was = residence;
        if (was.kind() != r.kind() || was.upperIno() != r.upperIno() || r.lowers() != null && !r.lowers().isEmpty()) {
            forgetUpperBlob();
        }
        residence = r;
    }

    /** The root: placed nowhere, named "", merging its upper root (if any) and the lower roots (Lookup#root). */
    void foundRoot(Residence r) {
        if (!isDir() || r.kind() != Residence.Kind.LOWER && r.kind() != Residence.Kind.UPPER) throw illegal("foundRoot", r);
        parent = null;
        name = "";
        residence = r;
    }

    /**
     * Copied up (CopyUp#copyUp): lower only, it gets an upper inode at its place, outside the index. A directory
     * becomes a merge dir, made empty just now (no AUFS whiteout to look for in it); a regular file is a
     * metadata-only copy when {@code metacopy}.
     */
    void copiedUp(boolean metacopy) {
        Residence r = residence;
        forgetUpperBlob();
        if (r.kind() != Residence.Kind.LOWER || metacopy && type != 0100000) throw illegal("copiedUp", r);
        residence = new Residence(Residence.Kind.UPPER, r.lowers(), null, r.upperIno(), r.indexed(), r.lowerNlink(),
                metacopy, r.dataMissing(), isDir() || r.merge(), r.whiteouts());
        if (isDir()) noAufsWhiteouts = true;
    }

    /**
     * Linked up (CopyUp#copyUp, format doc §4.5, §5): it gets an upper inode at its place that is a link of its index
     * entry, made just now or by an earlier copy-up of another alias; from lower only, or from INDEX (the link-up
     * that was left). {@code lowerNlink} and {@code metacopy} as the entry says.
     */
    void linkedUp(int lowerNlink, boolean metacopy) {
        Residence r = residence;
        forgetUpperBlob();
        if (isDir() || r.kind() != Residence.Kind.LOWER && r.kind() != Residence.Kind.INDEX) throw illegal("linkedUp", r);
        residence = new Residence(Residence.Kind.UPPER, r.lowers(), null, r.upperIno(), true, lowerNlink, metacopy,
                r.dataMissing(), r.merge(), r.whiteouts());
    }

    /**
     * Copied up into the index only (CopyUp#copyUpDisconnected, format doc §6.4): a disconnected lower object, whose
     * name is unknown, gets the index entry {@code indexPath} as its upper inode.
     */
    void indexedAt(String indexPath, int lowerNlink, boolean metacopy) {
        Residence r = residence;
        forgetUpperBlob();
        if (isDir() || parent != null || r.kind() != Residence.Kind.LOWER) throw illegal("indexedAt", r);
        residence = new Residence(Residence.Kind.INDEX, r.lowers(), indexPath, r.upperIno(), true, lowerNlink,
                metacopy, r.dataMissing(), r.merge(), r.whiteouts());
    }

    /** The data of its metadata-only copy was copied in (CopyUp#copyInData): the upper (or index) inode is whole. */
    void dataCopiedIn() {
        Residence r = residence;
        if (!r.metacopy() || r.kind() != Residence.Kind.UPPER && r.kind() != Residence.Kind.INDEX) {
            throw illegal("dataCopiedIn", r);
        }
        residence = new Residence(r.kind(), r.lowers(), r.indexPath(), r.upperIno(), r.indexed(), r.lowerNlink(),
                false, r.dataMissing(), r.merge(), r.whiteouts());
    }

    /**
     * Decoded from a handle {@code fh} with no name known (Export#decodeLower: cold caches): disconnected, placed
     * nowhere, reached through {@code lowers} (an fd's path; null: the ones it has, an fd taken by an earlier decode)
     * and through its index entry {@code indexPath} when there is one. From a new node or one decoded before (a
     * disconnected node never has an upper alias: its copy-up goes into the index).
     */
    void decoded(List<Lower> lowers, String indexPath, int lowerNlink, org.overlayj.core.fh.Fh fh) {
        Residence r = residence;
        forgetUpperBlob();
        if (isDir() || r.kind() == Residence.Kind.UPPER || lowers == null && r.kind() == Residence.Kind.NEW) {
            throw illegal("decoded", r);
        }
        parent = null;
        name = null;
        residence = new Residence(indexPath != null ? Residence.Kind.INDEX : Residence.Kind.LOWER,
                lowers != null ? lowers : r.lowers(), indexPath, r.upperIno(), indexPath != null, lowerNlink,
                r.metacopy(), r.dataMissing(), r.merge(), r.whiteouts());
        handle = fh;
    }

    /**
     * No name leads to it any more, but its index entry {@code indexPath} still links its upper inode, and a handle
     * {@code fh} names it (Export#throughIndex): it becomes disconnected on the entry, as a cold decode makes it.
     */
    void disconnectedOnIndex(String indexPath, org.overlayj.core.fh.Fh fh) {
        Residence r = residence;
        forgetUpperBlob();
        if (isDir() || !unlinked || r.kind() == Residence.Kind.NEW) throw illegal("disconnectedOnIndex", r);
        parent = null;
        name = null;
        unlinked = false;
        residence = new Residence(Residence.Kind.INDEX, r.lowers(), indexPath, r.upperIno(), true, r.lowerNlink(),
                r.metacopy(), r.dataMissing(), r.merge(), r.whiteouts());
        handle = fh;
    }

    /** A directory about to be removed, with its real stat now ({@link #removedDir}); {@link #unplace} follows. */
    void removing(org.overlayj.sys.Stat st) {
        if (!isDir()) throw illegal("removing", residence);
        removedDir = st;
        forgetUpperBlob();
    }

    private IllegalStateException illegal(String transition, Residence to) {
        return new IllegalStateException("node " + ino + " (" + (isDir() ? "dir" : "type " + Integer.toOctalString(type))
                + ", " + (parent == null ? name == null ? "disconnected" : "/" : "placed") + (unlinked ? ", unlinked" : "")
                + ", " + residence + "): " + transition + " is not a transition from here"
                + (to != residence ? " (to " + to + ")" : ""));
    }

    // --- readers -------------------------------------------------------------------------------------------------

    Residence residence() { return residence; }
    Node parent() { return parent; }
    String name() { return name; }
    long generation() { return generation; }
    boolean unlinked() { return unlinked; }
    boolean everUnlinked() { return everUnlinked; }
    int unlinks() { return unlinks; }
    org.overlayj.sys.Stat removedDir() { return removedDir; }
    org.overlayj.core.fh.Fh handle() { return handle; }
    long upperIno() { return residence.upperIno(); }
    boolean metacopy() { return residence.metacopy(); }
    boolean dataMissing() { return residence.dataMissing(); }
    String indexPath() { return residence.indexPath(); }
    boolean indexed() { return residence.indexed(); }
    int lowerNlink() { return residence.lowerNlink(); }
    List<Lower> lowers() { return residence.lowers(); }
    boolean merge() { return residence.merge(); }
    boolean whiteouts() { return residence.whiteouts(); }

    public long ino() { return ino; }

    public boolean isDir() { return type == 0040000; }

    /**
     * Whether the object has its upper inode (a copy-up would do nothing). Read without the engine's lock: a hint
     * for a door's scheduling (FUSE quick requests), never for a decision about the layers.
     */
    public boolean isUpper() { return residence.kind() == Residence.Kind.UPPER; }

    int type() { return type; }

    boolean hasLower() {
        List<Lower> l = residence.lowers();
        return l != null && !l.isEmpty();
    }

    Lower topLower() {
        List<Lower> l = residence.lowers();
        return l == null || l.isEmpty() ? null : l.getFirst();
    }

    @Override public String toString() {
        return "Node[ino=" + ino + ", " + (parent == null ? "/" : name) + ", " + residence + "]";
    }
}
