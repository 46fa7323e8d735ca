package org.overlayj.cli;

import java.util.ArrayList;
import java.util.List;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.layer.IdmappedMounts;
import org.overlayj.core.layer.LayerPaths;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;

/**
 * Rootful podman 4.3 with {@code --uidmap} (containers/storage before it stopped doing so for mount programs)
 * hands the mount program its lower layers on idmapped mounts <em>and</em> {@code uidmapping=}/{@code gidmapping=}
 * for the same shift: read as given, every lower owner would be shifted twice (shown as the overflow id). Where
 * the options map owners, such a lower is read through a mount of its filesystem that is not idmapped, so that
 * the mapping options shift it once, as they shift the upper layer. (The mount that is not idmapped also stays
 * when containers/storage detaches the idmapped one after the mount program returns.)
 */
final class IdmappedLowers {
    private IdmappedLowers() {}

    static OverlayOptions unshifted(OverlayOptions o, Logger log) throws ErrnoException {
        List<String> out = new ArrayList<>();
        boolean changed = false;
        java.util.Set<Long> idmapped = IdmappedMounts.ids();
        if (idmapped.isEmpty()) return o;
        for (String l : o.lowerDirs()) {
            String canonical;
            try {
                canonical = LayerPaths.realPath(l);
            } catch (ErrnoException e) {
                out.add(l);                        // the mount checks say what is wrong with it
                continue;
            }
            if (!IdmappedMounts.onIdmappedMount(canonical, idmapped)) {
                out.add(l);
                continue;
            }
            String plain = IdmappedMounts.unmapped(canonical);
            if (plain == null) {
                log.warn("lowerdir {} is on an idmapped mount and owners are mapped by the options too: no mount of"
                        + " its filesystem without the idmapping is visible here, so its owners show shifted twice",
                        Linux.toUtf8(l));
                out.add(l);
            } else {
                log.info("lowerdir {} is on an idmapped mount and owners are mapped by the options too: read"
                        + " through {} (no idmapping), so that they are mapped once", Linux.toUtf8(l),
                        Linux.toUtf8(plain));
                out.add(plain);
                changed = true;
            }
        }
        return changed ? o.withLowerDirs(out) : o;
    }
}
