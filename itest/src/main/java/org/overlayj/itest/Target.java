package org.overlayj.itest;

/**
 * Something the same script runs against: a kernel overlay mount, an overlayj FUSE mount, or the engine itself.
 * Each target works on its own copy of the layers.
 */
public interface Target extends AutoCloseable {
    String name();

    /** The layer copy this target runs over. */
    LayerSet layers();

    /** Runs one op; never throws for an errno, which is part of the outcome. */
    Outcome apply(Op op);

    /** The visible tree, read through the target itself. */
    TreeView view();

    /** Unmounts / closes; idempotent. */
    @Override void close() throws Exception;
}
