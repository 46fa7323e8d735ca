package org.overlayj.core.layer;

import java.util.Arrays;
import java.util.List;

import org.overlayj.core.config.OverlayOptions;

/**
 * The verified layers of one overlay and what the mount-time checks found out about them. Holds the in-use
 * locks of the upper and work directories until {@link #close()}.
 *
 * @param options        effective options, after any downgrade the checks made
 * @param upper          null if none
 * @param lowers         top-down
 * @param workBase       W (workdir=), or null
 * @param workDir        W/work, or null (no upper, or it could not be created: read-only)
 * @param indexDir       W/index, or null (index off)
 * @param readOnly       the overlay must be read-only (no upper, or no usable work dir)
 * @param tmpfile        the upper fs supports O_TMPFILE
 * @param samefs         all layers on one filesystem
 * @param overlayUuid    16 bytes: the overlay's own uuid (from NS uuid with uuid=on/auto), zeros otherwise
 * @param warnings       the kernel's warnings and notices for this mount, in order
 * @param xinoBits       high inode bits reserved for the fsid (0: xino not in use)
 * @param renameWhiteout the upper fs supports RENAME_WHITEOUT
 * @param dType          the upper fs reports d_type in readdir
 * @param xattrs         the upper fs stores NS xattrs
 * @param lock           the in-use locks held for this overlay
 */
public record LayerStack(OverlayOptions options, Layer upper, List<Layer> lowers, String workBase, String workDir,
                         String indexDir, boolean readOnly, boolean tmpfile, boolean samefs, byte[] overlayUuid,
                         List<String> warnings, int xinoBits, boolean renameWhiteout, boolean dType,
                         boolean xattrs, InUse.Locks lock) implements AutoCloseable {

    public LayerStack {
        lowers = List.copyOf(lowers);
        warnings = List.copyOf(warnings);
        overlayUuid = overlayUuid.clone();
        if (lock == null) lock = InUse.Locks.NONE;
    }

    @Override public byte[] overlayUuid() { return overlayUuid.clone(); }

    /** Where temporary objects are built: the index dir when index is on, else the work dir. */
    public String scratchDir() {
        return indexDir != null && options.index() ? indexDir : workDir;
    }

    /** The full name of an overlay xattr: {@code xattr("origin")} is "trusted.overlay.origin" or "user.overlay.origin". */
    public String xattr(String name) {
        return options.xattrPrefix() + name;
    }

    /** All layers, upper (if any) first: index i of the list is layer i only when there is an upper. */
    public List<Layer> layers() {
        if (upper == null) return lowers;
        return java.util.stream.Stream.concat(java.util.stream.Stream.of(upper), lowers.stream()).toList();
    }

    /** Releases the in-use locks of the upper and work directories. Idempotent. */
    @Override public void close() {
        lock.close();
    }

    @Override public boolean equals(Object o) {
        return o instanceof LayerStack s && s.options.equals(options) && java.util.Objects.equals(s.upper, upper)
                && s.lowers.equals(lowers) && Arrays.equals(s.overlayUuid, overlayUuid)
                && java.util.Objects.equals(s.workBase, workBase) && s.readOnly == readOnly;
    }

    @Override public int hashCode() { return options.hashCode(); }
}
