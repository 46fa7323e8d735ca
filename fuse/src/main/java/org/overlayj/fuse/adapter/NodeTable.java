package org.overlayj.fuse.adapter;

import org.overlayj.core.Node;
import org.overlayj.fuse.RawFileSystem;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The FUSE nodeid ↔ engine {@link Node} map with the kernel's lookup counts. A node stays here (and the engine
 * node stays referenced) exactly as long as the kernel holds lookups on it; FORGET drops it. Nodeids are handed
 * out once and never reused, so (nodeid, generation) is unique for the life of the mount, as the kernel's
 * export support expects. Nodeid 1 is the overlay root, pinned.
 */
final class NodeTable {
    private static final class Slot {
        final long nodeid;
        final Node node;
        long lookups;

        Slot(long nodeid, Node node) {
            this.nodeid = nodeid;
            this.node = node;
        }
    }

    private final Map<Long, Slot> byId = new HashMap<>();
    private final Map<Node, Slot> byNode = new IdentityHashMap<>();
    private long nextId = RawFileSystem.ROOT_ID + 1;

    NodeTable(Node root) {
        Slot s = new Slot(RawFileSystem.ROOT_ID, root);
        byId.put(s.nodeid, s);
        byNode.put(root, s);
    }

    /** The nodeid for {@code n}, counting one more kernel lookup on it. */
    synchronized long ref(Node n) {
        Slot s = byNode.get(n);
        if (s == null) {
            s = new Slot(nextId++, n);
            byId.put(s.nodeid, s);
            byNode.put(n, s);
        }
        s.lookups++;
        return s.nodeid;
    }

    /** Counts one more lookup on a nodeid the kernel already knows (lookup of "."). */
    synchronized void ref(long nodeid) throws ErrnoException {
        Slot s = byId.get(nodeid);
        if (s == null) throw new ErrnoException(Errno.ESTALE, "nodeid " + nodeid + " was forgotten");
        s.lookups++;
    }

    /** The nodeid the kernel knows {@code n} by, or 0 when it holds none (nothing of it is cached there). */
    synchronized long idOf(Node n) {
        Slot s = byNode.get(n);
        return s == null ? 0 : s.nodeid;
    }

    synchronized Node get(long nodeid) throws ErrnoException {
        Slot s = byId.get(nodeid);
        if (s == null) throw new ErrnoException(Errno.ESTALE, "unknown nodeid " + nodeid);
        return s.node;
    }

    synchronized void forget(long nodeid, long n) {
        if (nodeid == RawFileSystem.ROOT_ID) return;
        Slot s = byId.get(nodeid);
        if (s == null) return;
        s.lookups -= n;
        if (s.lookups <= 0) {
            byId.remove(nodeid);
            byNode.remove(s.node);
        }
    }

    /** Nodes the kernel still references, root included. */
    synchronized int size() {
        return byId.size();
    }
}
