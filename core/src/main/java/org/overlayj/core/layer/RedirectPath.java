package org.overlayj.core.layer;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * What a lookup looks for next in the lower layers (the kernel's namei.c, format doc §3.5): {@code name} in the
 * parent's directory of each layer, or, once an absolute redirect was met, the path {@code abs} from each layer's
 * root. The engine's lookup and {@code fsck}'s walk both follow redirects through this one class, so the two cannot
 * resolve a chain of redirects differently.
 */
public final class RedirectPath {
    private String name;
    private String abs;

    public RedirectPath(String name) {
        this.name = name;
    }

    /** The name looked up in the parent's lower directories (while {@link #abs()} is null). */
    public String name() { return name; }

    /** The absolute path looked up from every lower root, or null. */
    public String abs() { return abs; }

    /**
     * A (valid) redirect met on the way, null for none, changes what is looked for in the layers below. A relative
     * one renames the last component of what was looked for: of the absolute path, once one was met (the kernel
     * keeps its prefix), so a chain of redirects through middle layers resolves as it does there.
     */
    public void follow(String redirect) {
        if (redirect == null) return;
        if (redirect.startsWith("/")) {
            abs = redirect;
        } else if (abs != null) {
            abs = abs.substring(0, abs.lastIndexOf('/') + 1) + redirect;
        } else {
            name = redirect;
        }
    }

    /** Whether a real directory is opaque, by the reader's markers (the engine caches them; fsck reads them). */
    @FunctionalInterface
    public interface OpaqueTest {
        boolean isOpaque(String path) throws ErrnoException;
    }

    /**
     * Where an absolute redirect leads in one layer: {@code path} of its last component (null when the walk found
     * nothing here), {@code end} when the walk met a whiteout or a non-directory on the way (the kernel then looks
     * in no layer below either), {@code opaqueOnTheWay} when a directory on the way is opaque (this layer is then
     * the last one looked in, as for a path walked through that opaque directory).
     */
    public record Walk(String path, boolean end, boolean opaqueOnTheWay) {}

    /** Walks {@code abs} from a layer root, one component at a time so no symlink inside the layer is followed. */
    public static Walk walkAbsolute(String root, String abs, OpaqueTest opaque) throws ErrnoException {
        String[] parts = abs.substring(1).split("/");
        String p = root;
        boolean opaqueOnTheWay = false;
        for (int i = 0; i < parts.length - 1; i++) {
            p = p + "/" + parts[i];
            Stat st = Linux.lstatOrNull(p);
            if (st == null) return new Walk(null, AufsWhiteouts.whitedOut(p), false);
            if (st.isWhiteout() || !st.isDir()) return new Walk(null, true, false);
            if (!opaqueOnTheWay && opaque.isOpaque(p)) opaqueOnTheWay = true;
        }
        return new Walk(p + "/" + parts[parts.length - 1], false, opaqueOnTheWay);
    }
}
