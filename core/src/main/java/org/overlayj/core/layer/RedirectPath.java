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

    /** A directory's redirect, validated (null when it has none), for the walk of an absolute path. */
    @FunctionalInterface
    public interface RedirectTest {
        String redirect(String dirPath) throws ErrnoException;
    }

    /**
     * Walks {@code abs} from a layer root without reading redirects on the way (the data-only layers, which the
     * kernel walks as a plain path), one component at a time so no symlink inside the layer is followed.
     */
    public static Walk walkAbsolute(String root, String abs, OpaqueTest opaque) throws ErrnoException {
        RedirectPath r = new RedirectPath(null);
        r.abs = abs;
        return r.walk(root, opaque, p -> null);
    }

    /**
     * Walks {@link #abs()} from the root of one lower layer, one component at a time so no symlink inside the
     * layer is followed. A directory met on the way with a redirect changes what the layers below look for, as
     * the kernel's lookup does (it checks every element of an absolute path): a relative one renames that
     * component, an absolute one replaces the path up to it; the walk in this layer goes on under the directory
     * found. So a file moved out of a directory that an older mount renamed is still found below (a middle layer
     * holds the renamed directory with its redirect). An opaque directory on the way makes this layer the last
     * one, unless a directory after it has an absolute redirect.
     */
    public Walk walk(String root, OpaqueTest opaque, RedirectTest redirects) throws ErrnoException {
        String[] parts = abs.substring(1).split("/");
        String p = root;
        // what the layers below look for up to the current component, as redirects met so far changed it
        String head = "";
        boolean stop = false;
        Walk w = null;
        int i = 0;
        for (; i < parts.length - 1 && w == null; i++) {
            p = p + "/" + parts[i];
            String before = head;
            head = head + "/" + parts[i];
            Stat st = Linux.lstatOrNull(p);
            if (st == null) w = new Walk(null, AufsWhiteouts.whitedOut(p), false);
            else if (st.isWhiteout() || !st.isDir()) w = new Walk(null, true, false);
            else if (opaque.isOpaque(p)) stop = true;              // (its redirect is not read: the kernel's order)
            else {
                String r = redirects.redirect(p);
                if (r != null && r.startsWith("/")) {
                    head = r;
                    stop = false;
                } else if (r != null) {
                    head = before + "/" + r;
                }
            }
        }
        StringBuilder rest = new StringBuilder(head);
        for (int j = i; j < parts.length; j++) rest.append('/').append(parts[j]);
        abs = rest.toString();
        return w != null ? w : new Walk(p + "/" + parts[parts.length - 1], false, stop);
    }
}
