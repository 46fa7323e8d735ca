package org.overlayj.itest;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.List;

/**
 * The overlay features a sequence runs with, spelled once for every target: the kernel's -o string, the FUSE
 * command line, and the engine's options record.
 */
public record MountConfig(boolean redirectDir, boolean index) {
    public static final MountConfig DEFAULT = new MountConfig(false, false);

    public String kernelOptions(LayerSet l) {
        StringBuilder s = new StringBuilder("lowerdir=").append(l.lowerdirOption())
                .append(",upperdir=").append(l.upper()).append(",workdir=").append(l.work());
        if (redirectDir) s.append(",redirect_dir=on");
        if (index) s.append(",index=on");
        return s.toString();
    }

    public OverlayOptions engineOptions(LayerSet l) {
        List<String> explicit = new ArrayList<>();
        if (redirectDir) explicit.add("redirect_dir");
        if (index) explicit.add("index");
        // This machine's module default is redirect_dir=off with redirect_always_follow=Y, i.e. "follow" (§1.1).
        OverlayOptions.RedirectDir rd = redirectDir ? OverlayOptions.RedirectDir.ON : OverlayOptions.RedirectDir.FOLLOW;
        return new OverlayOptions(
                List.of(Linux.fromUtf8(l.lower1().toString()), Linux.fromUtf8(l.lower2().toString())),
                Linux.fromUtf8(l.upper().toString()), Linux.fromUtf8(l.work().toString()),
                rd, index, false, OverlayOptions.Uuid.AUTO, OverlayOptions.Xino.OFF, false, false, false, explicit);
    }

    @Override public String toString() {
        return (redirectDir ? "redirect_dir=on" : "redirect_dir=default") + (index ? ",index=on" : "");
    }
}
