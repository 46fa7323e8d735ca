package org.overlayj.core.layer;

import org.overlayj.core.config.OverlayOptions;

import java.util.List;

/** The verified layers of one overlay, as MountChecks prepared them. */
public record LayerStack(OverlayOptions options, Layer upper, List<Layer> lowers, String workBase, String workDir,
                         String indexDir, boolean readOnly, boolean tmpfile, boolean samefs, byte[] overlayUuid,
                         List<String> warnings) implements AutoCloseable {
    public LayerStack {
        lowers = List.copyOf(lowers);
        warnings = List.copyOf(warnings);
    }

    /** Where temporary objects are built: W/index when the index is on, else W/work. */
    public String scratchDir() { return options.index() && indexDir != null ? indexDir : workDir; }

    /** The real name of an overlay xattr, e.g. xattr("origin") = "trusted.overlay.origin". */
    public String xattr(String name) { return options.xattrPrefix() + name; }

    @Override public void close() {}
}
