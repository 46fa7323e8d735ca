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

    /** Opens one handle a sequence took: what it names, or an errno. */
    interface HandleOpener {
        String open(int slot) throws org.overlayj.sys.ErrnoException;
    }

    /**
     * Every handle taken, opened, as a sequence does after a drop_caches or a remount: "h0: ...; h1: ESTALE". One
     * format for every target, since their answers are compared.
     */
    static String openAll(Iterable<Integer> slots, HandleOpener opener) {
        StringBuilder s = new StringBuilder();
        for (int slot : slots) {
            String one;
            try {
                one = opener.open(slot);
            } catch (org.overlayj.sys.ErrnoException e) {
                one = org.overlayj.sys.Errno.name(e.errno());
            }
            s.append(s.isEmpty() ? "" : "; ").append('h').append(slot).append(": ").append(one);
        }
        return s.toString();
    }
}
