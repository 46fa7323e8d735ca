package org.overlayj.core;

import java.util.List;

/**
 * The side effects of a change that the doors are told of (ChangeListener): what a change did besides its own job
 * (a copy-up changes attributes and the parent's listing, a hard link's count moves...). Collected under the
 * namespace write lock, told once it is released ({@link Overlay}), since a listener's news may make a client call
 * back in.
 */
final class Effects {
    final List<ChangeListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** A change to report once the namespace lock is released. */
    sealed interface Effect {}
    record AttrsChanged(Node node) implements Effect {}
    record ListingChanged(Node dir) implements Effect {}
    record EntryChanged(Node dir, String name) implements Effect {}

    /** Effects of the change in progress; only touched under the write lock, so one list serves every thread. */
    private List<Effect> effects = new java.util.ArrayList<>();

    void attrsChanged(Node n) {
        if (!listeners.isEmpty()) effects.add(new AttrsChanged(n));
    }

    /** {@code n} got an upper inode: its attributes and its parent's listing may read differently. */
    void copiedUp(Node n) {
        attrsChanged(n);
        if (n.parent() != null && !listeners.isEmpty()) effects.add(new ListingChanged(n.parent()));
    }

    /** {@code dir}'s listing may read differently (or reading it would change something, as an impure marker). */
    void listingChanged(Node dir) {
        if (!listeners.isEmpty()) effects.add(new ListingChanged(dir));
    }

    void entryChanged(Node dir, String name) {
        if (!listeners.isEmpty()) effects.add(new EntryChanged(dir, name));
    }

    /** Takes the effects collected so far; the caller still holds the write lock. */
    List<Effect> takeEffects() {
        if (effects.isEmpty()) return List.of();
        List<Effect> out = effects;
        effects = new java.util.ArrayList<>();
        return out;
    }

    /** Tells the listeners the effects {@link #takeEffects} took; outside the lock. */
    void tell(List<Effect> effects) {
        for (Effect e : effects) {
            for (ChangeListener c : listeners) {
                try {
                    switch (e) {
                        case AttrsChanged(Node n) -> c.attrsChanged(n);
                        case ListingChanged(Node dir) -> c.listingChanged(dir);
                        case EntryChanged(Node dir, String name) -> c.entryChanged(dir, name);
                    }
                } catch (RuntimeException ex) {
                    org.slf4j.LoggerFactory.getLogger(Overlay.class).warn("change listener failed", ex);
                }
            }
        }
    }
}
