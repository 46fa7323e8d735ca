package org.overlayj.cli;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.tools.IndexReport;
import org.overlayj.core.tools.LayerSet;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** {@code overlayj index}: the inodes index (W/index) read offline; changes nothing. */
@Command(name = "index", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
                "Lists or verifies the inodes index (WORKDIR/index) offline; changes nothing.",
                "",
                "list (the default): one line per entry: NAME KIND nlink=N [union=U] upper=PATHS origin=PATH, "
                        + "where KIND is hard-link, dir, whiteout, orphan, temp or bad, union is the count the "
                        + "'nlink' xattr gives, upper the upper aliases (or the directory 'upper' names) and origin "
                        + "where the lower object the name encodes is (\"-\" when gone).",
                "",
                "verify: what the kernel's index check at the next read-write index=on mount would do: remove "
                        + "temporaries and stale entries, turn orphans into whiteouts (nfs_export) or remove them, "
                        + "or refuse the mount. One line per entry it would change: NAME: KIND: WHY: ACTION."},
        footer = {"", "Exit status: 0 clean (list: always 0); 1 verify found entries a mount would change or refuse; "
                + "2 error.", "", "Example:", "  overlayj index -o lowerdir=/l,upperdir=/u,workdir=/w,index=on verify"})
public final class IndexCommand implements Callable<Integer> {
    @Mixin LayerOptions layers;

    @Parameters(arity = "0..1", paramLabel = "list|verify", defaultValue = "list", description = "What to do.")
    String action;

    @Spec CommandSpec spec;

    @Override public Integer call() {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        if (!action.equals("list") && !action.equals("verify")) {
            err.println("overlayj index: unknown action '" + action + "' (list or verify)");
            return LayerOptions.ERROR;
        }
        try {
            OverlayOptions o = layers.parse();
            if (!o.hasUpper()) {
                err.println("overlayj index: no upperdir/workdir: there is no index");
                return LayerOptions.ERROR;
            }
            try (LayerSet ls = LayerSet.open(o)) {
                IndexReport r = IndexReport.scan(ls);
                return action.equals("list") ? list(r, out) : verify(r, o, out);
            }
        } catch (ErrnoException e) {
            err.println("overlayj index: " + e.detail() + " (" + Errno.name(e.errno()) + ")");
            return LayerOptions.ERROR;
        } finally {
            out.flush();
            err.flush();
        }
    }

    private static int list(IndexReport r, PrintWriter out) {
        for (IndexReport.Entry e : r.entries()) {
            StringBuilder b = new StringBuilder(Linux.toUtf8(e.name()));
            b.append(' ').append(e.kind().label).append(" nlink=").append(e.nlink());
            if (e.union() != null) b.append(" union=").append(e.union());
            b.append(" upper=").append(e.upperPaths().isEmpty() ? "-" : String.join(",", e.upperPaths()));
            b.append(" origin=").append(e.origin() == null ? "-" : e.origin());
            out.println(b);
        }
        out.println("index: " + r.entries().size() + " entries");
        return LayerOptions.OK;
    }

    private static int verify(IndexReport r, OverlayOptions o, PrintWriter out) {
        if (!o.index()) out.println("note: index=off in OPTS: such a mount does not check the index; "
                + "verified as for index=on" + (o.nfsExport() ? ",nfs_export=on" : ""));
        int problems = 0;
        for (IndexReport.DirCheck d : r.dirChecks()) {
            out.println("index: " + d.message() + ": " + d.verdict().text);
            problems++;
        }
        for (IndexReport.Entry e : r.entries()) {
            if (!e.problem()) continue;
            out.println(Linux.toUtf8(e.name()) + ": " + e.kind().label + ": " + e.why() + ": " + e.verdict().text);
            problems++;
        }
        out.println("index: " + r.entries().size() + " entries, " + problems + " problem" + (problems == 1 ? "" : "s"));
        return problems == 0 ? LayerOptions.OK : LayerOptions.FOUND;
    }
}
