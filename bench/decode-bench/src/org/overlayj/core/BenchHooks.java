package org.overlayj.core;

/**
 * The decode benchmark's way into the engine's package-private state. It lives in the bench sources (same package
 * name, on the class path only) and calls the core tests' seam ({@link EngineSeam}, in core/target/test-classes,
 * which run.sh puts on the class path), so the engine's public API stays as it is and its production classes keep
 * nothing for benchmarks.
 */
public final class BenchHooks {
    private BenchHooks() {}

    /** Drops the engine's node and origin caches: the next decode starts as after a fresh mount. */
    public static void dropCaches(Overlay o) {
        EngineSeam.dropCaches(o);
    }

    /** Whether a decoded node has a place in the tree (a non-directory with no kernel dentry to name it has not). */
    public static boolean connected(Node n) {
        return n.parent() != null || n.name() != null;
    }

    /** Counts a change without making one: what decodes remembered is void, the caches stay. */
    public static void countChange(Overlay o) {
        EngineSeam.countChange(o);
    }
}
