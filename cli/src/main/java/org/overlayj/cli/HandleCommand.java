package org.overlayj.cli;

import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.tools.LayerSet;
import org.overlayj.core.tools.Handles;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.HexFormat;
import java.util.concurrent.Callable;

/**
 * {@code overlayj handle}: the overlay's NFS file handle of a path, or what a handle resolves to. Looks at the
 * layers offline (Overlay#inspect: the engine's lookup and handles, nothing written, no mount-time clean-up), but
 * for the one handle that needs a copy-up first, as on the kernel: then the layers are opened as a mount opens
 * them, and closed before it exits.
 */
@Command(name = "handle", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
                "Prints the NFS file handle of a path in the overlay, or what a handle resolves to.",
                "",
                "With PATH (inside the overlay, relative to its root): the hex of the handle bytes, exactly what "
                        + "name_to_handle_at gives (type 0xf8) on a kernel mount of the same layers with "
                        + "index=on,nfs_export=on.",
                "",
                "With --decode HEX: path: the overlay path (or \"disconnected\"); layer: where the object is now "
                        + "(upper, or lower N); handle: whether the handle names an upper or a lower inode; type; "
                        + "ino: the st_ino the overlay shows. A handle of a deleted object prints ESTALE.",
                "",
                "The layers are read as they are, offline (as fsck reads them): nothing is written and the "
                        + "mount-time index clean-up is not made (where it would change an index entry, see "
                        + "'overlayj index verify', a mount may decode differently). One exception, as on the "
                        + "kernel: under nfs_export the handle of a lower directory that its handle could not lead "
                        + "back to (a redirect in a higher lower layer, or a renamed ancestor that is not indexed) "
                        + "is given out only after the directory is copied up, and so indexed: then the layers are "
                        + "opened as a mount opens them (same checks and mount-time clean-up), the copy-up is made "
                        + "and said on stderr, and they must not be mounted meanwhile."},
        footer = {"", "Exit status: 0 done; 1 the handle is stale (ESTALE); 2 error (options, layers, no such path).",
                "", "Examples:",
                "  overlayj handle -o lowerdir=/l,upperdir=/u,workdir=/w,nfs_export=on dir/file",
                "  overlayj handle -o lowerdir=/l,upperdir=/u,workdir=/w,nfs_export=on --decode 00000000fb1d00..."})
public final class HandleCommand implements Callable<Integer> {
    @Mixin LayerOptions layers;

    @Option(names = "--decode", paramLabel = "HEX",
            description = "Decode this handle (hex) instead of encoding a path.")
    String decode;

    @Parameters(arity = "0..1", paramLabel = "PATH", description = "Path inside the overlay (relative to its root).")
    String path;

    @Spec CommandSpec spec;

    @Override public Integer call() {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        if ((decode == null) == (path == null)) {
            err.println("overlayj handle: give either PATH or --decode HEX");
            return LayerOptions.ERROR;
        }
        byte[] handle = null;
        if (decode != null) {
            try {
                handle = HexFormat.of().parseHex(decode.trim().toLowerCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                err.println("overlayj handle: --decode wants hex digits: " + e.getMessage());
                return LayerOptions.ERROR;
            }
        }
        try {
            OverlayOptions options = layers.parse();
            if (handle == null) {
                byte[] h = null;
                try (LayerSet ls = LayerSet.open(options);
                     Overlay o = Overlay.inspect(options, ls.upper(), ls.lowers())) {
                    h = Handles.encode(o, Linux.fromUtf8(path));
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EROFS || options.upperDir() == null) throw e;
                }
                if (h == null) {
                    // a lower directory whose handle could not lead back to it: the kernel copies it up (and so
                    // indexes it) when it hands the handle out, and so does this, on the layers opened as a mount
                    try (Overlay o = Overlay.mount(options)) {
                        h = Handles.encode(o, Linux.fromUtf8(path));
                    }
                    err.println("overlayj handle: " + path + " was copied up (indexed) so that its handle leads back"
                            + " to it, as the kernel does when it hands such a handle out");
                }
                out.println(HexFormat.of().formatHex(h));
                return LayerOptions.OK;
            }
            try (LayerSet ls = LayerSet.open(options); Overlay o = Overlay.inspect(options, ls.upper(), ls.lowers())) {
                return decode(o, handle, out, err);
            }
        } catch (ErrnoException e) {
            err.println("overlayj handle: " + e.detail() + " (" + Errno.name(e.errno()) + ")");
            return LayerOptions.ERROR;
        } finally {
            out.flush();
            err.flush();
        }
    }

    private static int decode(Overlay o, byte[] handle, PrintWriter out, PrintWriter err) throws ErrnoException {
        try {
            Handles.Info i = Handles.decode(o, handle);
            out.println("path: " + (i.path() == null ? "disconnected" : i.path()));
            out.println("layer: " + i.layer());
            out.println("handle: " + (i.upperHandle() ? "upper" : "lower"));
            out.println("type: " + i.type());
            out.println("ino: " + i.ino());
            return LayerOptions.OK;
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ESTALE) throw e;
            out.println("ESTALE");
            err.println("overlayj handle: " + e.detail());
            return LayerOptions.FOUND;
        }
    }
}
