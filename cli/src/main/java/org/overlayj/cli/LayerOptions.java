package org.overlayj.cli;

import org.overlayj.core.config.MountOptions;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/** The {@code -o OPTS} of the tools: the same overlay options as the mount (kernel syntax), naming the layers. */
final class LayerOptions {
    @Option(names = "-o", paramLabel = "OPTS", required = true, description = "Overlay options as for the mount "
            + "(lowerdir=,upperdir=,workdir=,index=,nfs_export=,uuid=,...; kernel syntax); may repeat. Generic mount "
            + "options are accepted and ignored.")
    List<String> options = new ArrayList<>();

    OverlayOptions parse() throws ErrnoException {
        return MountOptions.parse(Linux.fromUtf8(String.join(",", options))).overlay();
    }

    /** Exit codes shared by the tools. */
    static final int OK = 0, FOUND = 1, ERROR = 2;
}
