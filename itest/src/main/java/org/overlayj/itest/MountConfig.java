package org.overlayj.itest;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.List;

/**
 * The overlay features a sequence runs with, spelled once for every target: the kernel's -o string, the FUSE
 * command line, and the engine's options record. Index sequences also get lower hard-link groups (the layer
 * builder's flag), since that is what the inodes index is for.
 */
public record MountConfig(boolean redirectDir, boolean index, boolean nfsExport, boolean metacopy) {
    public static final MountConfig DEFAULT = new MountConfig(false, false, false);

    public MountConfig {
        if (nfsExport && !index) throw new IllegalArgumentException("nfs_export needs index=on");
        if (metacopy && (nfsExport || !redirectDir)) {
            throw new IllegalArgumentException("metacopy needs redirect_dir=on and conflicts with nfs_export");
        }
    }

    public MountConfig(boolean redirectDir, boolean index, boolean nfsExport) {
        this(redirectDir, index, nfsExport, false);
    }

    public MountConfig(boolean redirectDir, boolean index) {
        this(redirectDir, index, false);
    }

    /** The same features plus nfs_export=on (index sessions are cross-checked with it too). */
    public MountConfig withNfsExport() {
        return new MountConfig(redirectDir, true, true);
    }

    public String kernelOptions(LayerSet l) {
        StringBuilder s = new StringBuilder("lowerdir=").append(l.lowerdirOption())
                .append(",upperdir=").append(l.upper()).append(",workdir=").append(l.work());
        if (redirectDir) s.append(",redirect_dir=on");
        if (index) s.append(",index=on");
        if (nfsExport) s.append(",nfs_export=on");
        if (metacopy) s.append(",metacopy=on");
        return s.toString();
    }

    public OverlayOptions engineOptions(LayerSet l) {
        List<String> explicit = new ArrayList<>();
        if (redirectDir) explicit.add("redirect_dir");
        if (index) explicit.add("index");
        if (nfsExport) explicit.add("nfs_export");
        if (metacopy) explicit.add("metacopy");
        // This machine's module default is redirect_dir=off with redirect_always_follow=Y, i.e. "follow" (§1.1).
        OverlayOptions.RedirectDir rd = redirectDir ? OverlayOptions.RedirectDir.ON : OverlayOptions.RedirectDir.FOLLOW;
        return new OverlayOptions(
                l.lowers().stream().map(p -> Linux.fromUtf8(p.toString())).toList(),
                Linux.fromUtf8(l.upper().toString()), Linux.fromUtf8(l.work().toString()),
                rd, index, nfsExport, OverlayOptions.Uuid.AUTO, OverlayOptions.Xino.OFF, metacopy, false, false, explicit);
    }

    @Override public String toString() {
        return (redirectDir ? "redirect_dir=on" : "redirect_dir=default") + (index ? ",index=on" : "")
                + (nfsExport ? ",nfs_export=on" : "") + (metacopy ? ",metacopy=on" : "")
                + (index ? " + lower hard links" : "");
    }
}
