package org.overlayj.core;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The overlay's inode cache (the kernel's ovl_get_inode on the VFS inode hash): one {@link Node} per object in
 * use, by inode number, so two lookups of one object share its state (copy-up, link counts, open files). Nodes
 * are held weakly: one no door and no parent holds any more is collected, and its entry goes with it.
 */
final class InodeCache {
    private final Map<Long, WeakReference<Node>> inodes = new ConcurrentHashMap<>();
    /** Where the references of collected nodes are queued, so their map entries go without sweeping the map. */
    private final ReferenceQueue<Node> collected = new ReferenceQueue<>();
    private final AtomicLong generations = new AtomicLong(1);

    /**
     * The cached node for an inode number, or a new one when there is none (or the number was reused by another
     * type). Atomic: lookups run in parallel, and two Node objects for one inode would disagree about copy-up.
     */
    Node inode(long ino, int type) {
        purgeCollected();
        Node[] out = new Node[1];
        inodes.compute(ino, (k, ref) -> {
            Node n = ref == null ? null : ref.get();
            if (n != null && n.type == type) {
                out[0] = n;
                return ref;
            }
            n = new Node(ino, type, generations.getAndIncrement());
            out[0] = n;
            return new NodeRef(n, collected);
        });
        return out[0];
    }

    /** A weak reference that remembers its key, to remove exactly its own entry once its node was collected. */
    private static final class NodeRef extends WeakReference<Node> {
        final long ino;

        NodeRef(Node n, ReferenceQueue<Node> q) {
            super(n, q);
            this.ino = n.ino;
        }
    }

    /**
     * Drops the entries of collected nodes: each costs O(1), where the sweep of the whole map this replaces ran on
     * every call while the map's size sat on a multiple of 1024 (a walk that leaves 20,480 live nodes made every
     * later lookup scan them all).
     */
    private void purgeCollected() {
        for (Reference<? extends Node> r; (r = collected.poll()) != null; ) {
            inodes.remove(((NodeRef) r).ino, r);
        }
    }

    /** How many inode numbers the cache holds. */
    int size() {
        purgeCollected();
        return inodes.size();
    }

    /** Forgets every cached node but {@code root} (see OverlayFs#dropCaches). */
    void dropCaches(Node root) {
        inodes.clear();
        if (root != null) inodes.put(root.ino, new NodeRef(root, collected));
    }

    /** The inode numbers of the cached objects that have files open on them. */
    java.util.Set<Long> openInodes() {
        java.util.Set<Long> out = new java.util.HashSet<>();
        for (WeakReference<Node> ref : inodes.values()) {
            Node n = ref.get();
            if (n == null) continue;
            synchronized (n.openFiles) {
                if (!n.openFiles.isEmpty()) out.add(n.ino);
            }
        }
        return out;
    }

    Node cached(long ino) {
        WeakReference<Node> ref = inodes.get(ino);
        return ref == null ? null : ref.get();
    }

    void forgetInode(Node n) {
        inodes.remove(n.ino, inodes.get(n.ino));
    }
}
