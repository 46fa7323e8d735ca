package org.overlayj.core;

import org.overlayj.core.layer.Layer;

import java.util.List;

/**
 * An overlay inode. Doors keep references and pass them back; there is one Node per overlay inode while it is
 * referenced, and {@link #ino()} is its stable st_ino (format doc §6.5).
 *
 * <p>Where it lives: a directory has exactly one place, (parent, name); a non-directory remembers the alias it was
 * last reached by. The upper path is derived from that place, so renaming a directory moves its whole subtree with
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

    /** The object has an upper inode, at parent's upper path + name (or at {@link #indexPath} when disconnected). */
    boolean upper;
    /** For an indexed object reached with no upper alias: the index entry that is its upper inode. */
    String indexPath;
    /** The upper inode is (or will be) an index entry: union nlink rules apply (format doc §5.5). */
    boolean indexed;
    /** Link count of the lower (origin) inode, for the union count rules. */
    int lowerNlink;
    /** The fh blob a decoded handle gave this node (disconnected nodes answer encode with it). */
    org.overlayj.core.fh.Fh handle;
    /** A lower directory whose lower handle was checked to lead back to it (format doc §6.3). */
    boolean connectable;
    /** Lower inodes, top-down: one for a non-directory, the merged stack for a directory. */
    List<Lower> lowers;
    /** Directory content is merged from several layers, or it is an upper dir that may hide whiteouts. */
    boolean merge;
    /** Monotonic version of a directory's entries: the NFS cookie verifier; also drops cached listings. */
    long dirVersion;
    Readdir.Listing listing;
    /** Some open fd on the real inode, so an unlinked-but-open file still answers getattr. */
    volatile int openFd = -1;

    Node(long ino, int type) {
        this.ino = ino;
        this.type = type;
    }

    /** A real lower inode of this object: its layer and absolute path. */
    record Lower(Layer layer, String path) {}

    public long ino() { return ino; }

    public boolean isDir() { return type == 0040000; }

    int type() { return type; }

    boolean hasLower() { return lowers != null && !lowers.isEmpty(); }

    Lower topLower() { return hasLower() ? lowers.getFirst() : null; }

    @Override public String toString() {
        return "Node[ino=" + ino + ", " + (parent == null ? "/" : name) + (upper ? ", upper" : "")
                + (hasLower() ? ", lower=" + lowers.size() : "") + "]";
    }
}
