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
 * node stays referenced) exactly as long as the kernel holds lookups on it; FORGET drops it. Nodeid 1 is the
 * overlay root, pinned.
 *
 * <p>Nodeids are what the kernel puts in the file handles of the mount (with the generation), so (nodeid,
 * generation) must name one object for good. A node with a persistent handle (the engine's compact handle) gets
 * that as its nodeid, with generation {@link #PERSISTENT}: after a FORGET, or in a later mount, the kernel's lookup
 * of "." by that nodeid decodes it again. Other nodes get a nodeid counted up from 2, never one in use, with this
 * mount's own generation: a handle of one of them dies with the mount, or with the node here.
 */
final class NodeTable {
    /** The generation of nodes whose nodeid is their persistent handle: the same in every mount. */
    static final long PERSISTENT = 1;

    private static final class Slot {
        final long nodeid;
        final long generation;
        final Node node;
        long lookups;
        /** See {@link #madeHere}. */
        boolean noCapability;

        Slot(long nodeid, long generation, Node node) {
            this.nodeid = nodeid;
            this.generation = generation;
            this.node = node;
        }
    }

    private final Map<Long, Slot> byId = new HashMap<>();
    private final Map<Node, Slot> byNode = new IdentityHashMap<>();
    private long nextId = RawFileSystem.ROOT_ID + 1;
    /** This mount's generation for counted nodeids: not {@link #PERSISTENT}, and unlike an earlier mount's. */
    private final long sessionGeneration = 2 + (System.currentTimeMillis() / 1000 & 0x3fff_ffffL);

    NodeTable(Node root) {
        Slot s = new Slot(RawFileSystem.ROOT_ID, 0, root);
        byId.put(s.nodeid, s);
        byNode.put(root, s);
    }

    /** The nodeid and generation an entry reply names. */
    record Id(long nodeid, long generation) {}

    /**
     * The nodeid for {@code n}, counting one more kernel lookup on it. {@code handle} is its persistent handle, 0
     * when it has none; it is used only for a node the kernel does not hold yet.
     */
    synchronized Id ref(Node n, long handle) {
        Slot s = byNode.get(n);
        if (s == null) {
            if (handle != 0 && !byId.containsKey(handle)) {
                s = new Slot(handle, PERSISTENT, n);
            } else {
                while (byId.containsKey(nextId)) nextId++;
                s = new Slot(nextId++, sessionGeneration, n);
            }
            byId.put(s.nodeid, s);
            byNode.put(n, s);
        }
        s.lookups++;
        return new Id(s.nodeid, s.generation);
    }

    /** Whether the kernel holds {@code n} now (a new lookup needs no handle for it). */
    synchronized boolean holds(Node n) {
        return byNode.containsKey(n);
    }

    /**
     * Counts one more lookup on a nodeid the kernel asks about by itself (lookup of "."): one it holds, or null
     * when it is not here (forgotten, or of an earlier mount).
     */
    synchronized Known refKnown(long nodeid) {
        Slot s = byId.get(nodeid);
        if (s == null) return null;
        s.lookups++;
        return new Known(s.node, new Id(s.nodeid, s.generation));
    }

    /** A node the kernel holds, and the id it knows it by. */
    record Known(Node node, Id id) {}

    /**
     * Takes a node decoded from its persistent handle {@code nodeid} in again, counting a lookup: ESTALE when that
     * nodeid or that node is here already under another identity.
     */
    synchronized Id refDecoded(long nodeid, Node n) throws ErrnoException {
        Slot s = byId.get(nodeid);
        Slot had = byNode.get(n);
        if (s == null && had == null) {
            s = new Slot(nodeid, PERSISTENT, n);
            byId.put(nodeid, s);
            byNode.put(n, s);
        } else if (s == null || s != had || s.generation != PERSISTENT) {
            throw new ErrnoException(Errno.ESTALE, "nodeid " + nodeid + " names another node here");
        }
        s.lookups++;
        return new Id(s.nodeid, s.generation);
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

    /** Drops {@code n} lookups; returns the node when the kernel holds none any more (it evicted it), else null. */
    synchronized Node forget(long nodeid, long n) {
        if (nodeid == RawFileSystem.ROOT_ID) return null;
        Slot s = byId.get(nodeid);
        if (s == null) return null;
        s.lookups -= n;
        if (s.lookups <= 0) {
            byId.remove(nodeid);
            byNode.remove(s.node);
            return s.node;
        }
        return null;
    }

    /**
     * Marks the node a CREATE of this door just made: it has no security.capability until an xattr change through
     * this door ({@link #xattrChanging}) or until the kernel forgets it (the mark goes with its slot). The kernel
     * asks for that xattr before the first write to every new FUSE inode (file_remove_privs: an inode is not
     * S_NOSEC before one check), so a fresh file's first write(2) is answered without an engine call.
     */
    synchronized void madeHere(long nodeid) {
        Slot s = byId.get(nodeid);
        if (s != null) s.noCapability = true;
    }

    /** Whether {@code nodeid} is known to have no security.capability ({@link #madeHere}). */
    synchronized boolean noCapability(long nodeid) {
        Slot s = byId.get(nodeid);
        return s != null && s.noCapability;
    }

    /** An xattr of {@code nodeid} is about to be set or removed: whatever {@link #madeHere} knew is void. */
    synchronized void xattrChanging(long nodeid) {
        Slot s = byId.get(nodeid);
        if (s != null) s.noCapability = false;
    }

    /** Nodes the kernel still references, root included. */
    synchronized int size() {
        return byId.size();
    }
}
