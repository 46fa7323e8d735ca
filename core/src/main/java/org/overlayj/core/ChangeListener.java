package org.overlayj.core;

/**
 * What an operation changed besides what it was asked to change, for doors whose clients cache names and
 * attributes (the FUSE door lets the kernel cache them for long and drops what these calls name). The engine knows
 * no door: it only says which overlay objects look different now.
 *
 * <p>Called on the thread that made the change, after the engine released its locks and before the operation
 * returns (also when it then failed), so a door can pass the news on before it answers. A listener must not call
 * back into the overlay and must not throw.
 */
public interface ChangeListener {
    /**
     * The visible attributes of {@code n} may have changed. Sent for every object that got an upper inode: an
     * ancestor directory copied up on the way turns from lower-only into a merge directory, whose link count the
     * overlay reports as 1 (the lower directory had its own count).
     */
    default void attrsChanged(Node n) {}

    /**
     * A listing of directory {@code dir} may read differently though no name came or went: the order of a merge
     * directory's names depends on which layers hold them, and a copy-up puts one more of them in the upper layer;
     * the d_ino of an entry follows its st_ino. Sent for the parent of every object that got an upper inode.
     */
    default void listingChanged(Node dir) {}

    /**
     * The name {@code name} in directory {@code dir} now leads to an object with another st_ino, so a client's
     * cached name → inode mapping is stale: a copy-up that could not keep the lower inode number (a lower hard link
     * without the index, a lower fs without file handles).
     */
    default void entryChanged(Node dir, String name) {}
}
