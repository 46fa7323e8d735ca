package org.overlayj.nfs.nlm;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The locks, waiting lock requests and share reservations on one file of one export. Byte-range locks follow
 * POSIX fcntl: an owner's new lock replaces its own locks where they overlap (so a shared lock inside an exclusive
 * one splits it), adjacent or overlapping locks of one owner and type merge, an unlock may split a lock in two.
 * Not thread-safe: the {@link LockManager} serialises all access.
 */
final class FileLocks {
    record Held(LockOwner owner, ByteRange range, boolean exclusive) {}

    /** DOS share reservation: what the owner opened for ({@code access}) and what it denies others ({@code mode}). */
    record Share(ClientHost host, String oh, int mode, int access) {}

    final List<Held> held = new ArrayList<>();
    /** Blocking requests that conflicted, in arrival order: the first one that fits gets the range first. */
    final List<Block> waiting = new ArrayList<>();
    final List<Share> shares = new ArrayList<>();

    /** A lock of another owner that {@code range} would conflict with, or null. */
    Held conflict(LockOwner owner, ByteRange range, boolean exclusive) {
        for (Held h : held) {
            if (!h.owner().equals(owner) && h.range().overlaps(range) && (exclusive || h.exclusive())) return h;
        }
        return null;
    }

    /** The owners of every lock {@code range} would conflict with. */
    List<LockOwner> conflicting(LockOwner owner, ByteRange range, boolean exclusive) {
        List<LockOwner> l = new ArrayList<>();
        for (Held h : held) {
            if (!h.owner().equals(owner) && h.range().overlaps(range) && (exclusive || h.exclusive())) l.add(h.owner());
        }
        return l;
    }

    /** Sets the owner's lock on {@code range} (the caller checked there is no conflict). */
    void apply(LockOwner owner, ByteRange range, boolean exclusive) {
        remove(owner, range);
        ByteRange merged = range;
        for (Iterator<Held> it = held.iterator(); it.hasNext(); ) {
            Held h = it.next();
            if (h.owner().equals(owner) && h.exclusive() == exclusive && h.range().touches(merged)) {
                merged = merged.union(h.range());
                it.remove();
            }
        }
        held.add(new Held(owner, merged, exclusive));
    }

    /** Releases the owner's locks on {@code range}, keeping the parts of them outside it. */
    void remove(LockOwner owner, ByteRange range) {
        List<Held> kept = new ArrayList<>();
        for (Iterator<Held> it = held.iterator(); it.hasNext(); ) {
            Held h = it.next();
            if (!h.owner().equals(owner) || !h.range().overlaps(range)) continue;
            it.remove();
            ByteRange r = h.range();
            if (Long.compareUnsigned(r.first(), range.first()) < 0)
                kept.add(new Held(owner, new ByteRange(r.first(), range.first() - 1), h.exclusive()));
            if (range.last() != ByteRange.END && Long.compareUnsigned(r.last(), range.last()) > 0)
                kept.add(new Held(owner, new ByteRange(range.last() + 1, r.last()), h.exclusive()));
        }
        held.addAll(kept);
    }

    /** The waiting request of this owner for exactly this range and type, or null. */
    Block waitingFor(LockOwner owner, ByteRange range, boolean exclusive) {
        for (Block b : waiting) {
            if (b.owner().equals(owner) && b.range().equals(range) && b.exclusive() == exclusive) return b;
        }
        return null;
    }

    /** A share reservation of another owner that {@code access}/{@code mode} would conflict with, or null. */
    Share shareConflict(ClientHost host, String oh, int mode, int access) {
        for (Share s : shares) {
            if (s.host().equals(host) && s.oh().equals(oh)) continue;
            if ((s.access() & mode) != 0 || (s.mode() & access) != 0) return s;
        }
        return null;
    }

    void removeShare(ClientHost host, String oh) {
        shares.removeIf(s -> s.host().equals(host) && s.oh().equals(oh));
    }

    /** Drops every lock, waiting request and share of {@code host}. */
    void dropHost(ClientHost host) {
        held.removeIf(h -> h.owner().host().equals(host));
        waiting.removeIf(b -> b.owner().host().equals(host));
        shares.removeIf(s -> s.host().equals(host));
    }

    boolean hasState(ClientHost host) {
        for (Held h : held) if (h.owner().host().equals(host)) return true;
        for (Block b : waiting) if (b.owner().host().equals(host)) return true;
        for (Share s : shares) if (s.host().equals(host)) return true;
        return false;
    }

    boolean isEmpty() { return held.isEmpty() && waiting.isEmpty() && shares.isEmpty(); }
}
