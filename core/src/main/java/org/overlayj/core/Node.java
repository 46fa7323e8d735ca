package org.overlayj.core;

/**
 * An overlay inode. Doors keep references and pass them back; identity is the object (one Node per overlay inode
 * while it is referenced), and {@link #ino()} is its stable st_ino.
 */
public final class Node {
    final long ino;

    Node(long ino) { this.ino = ino; }

    public long ino() { return ino; }
}
