package org.overlayj.cli;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.tools.Fsck;
import org.overlayj.core.tools.LayerSet;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code overlayj fsck}: offline consistency check of layers in the kernel's overlayfs format. */
@Command(name = "fsck", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
                "Offline check of overlay layers in the kernel's format; --repair makes the kernel's own repairs.",
                "",
                "Looks every name up with the overlay's own lookup (the one a mount serves with, read-only: nothing is "
                        + "written) and reports: lookups that fail, with the errno and the reason the kernel's "
                        + "lookup fails with (a bad or uncovered index entry, a metacopy file without data, a "
                        + "refused redirect, two upper objects with one origin: ESTALE, overlapping layers); whiteouts the kernel does not honor (aufs-style "
                        + ".wh. files, 'whiteout' xattrs on non-empty files, 0/0 devices in unmerged directories); "
                        + "'opaque', 'redirect', 'origin', 'impure', 'nlink', 'uuid', 'metacopy' and 'protattr' "
                        + "xattrs that are malformed or point nowhere; metadata-only copies whose data lookup "
                        + "cannot find; index entries a mount would remove, turn into whiteouts or refuse "
                        + "(as 'overlayj index verify'); "
                        + "lower aliases whose index entry makes lookup fail with EIO; copied-up directories and "
                        + "single-link files with no index entry under nfs_export=on (index-missing, a note: a "
                        + "copy-up or removal cut short, or a copy-up made without nfs_export; the kernel serves "
                        + "them as they are, but a file handle from before goes stale once a directory is renamed, "
                        + "and decodes to a file's old lower data); "
                        + "leftovers in WORKDIR/work and "
                        + "WORKDIR/work/incompat. One line per finding: CODE: WHERE: WHAT. A note (tagged [note]; "
                        + "the first " + FsckCommand.NOTES_SHOWN + " shown without --repair) is a state the kernel accepts as it "
                        + "is: it does not count as a finding.",
                "",
                "--repair makes only the repairs the kernel itself makes at a read-write mount: it removes "
                        + "WORKDIR/work leftovers (two levels deep, never work/incompat) and '#' temporaries in "
                        + "WORKDIR/index, removes stale index entries, and turns orphan index entries into whiteouts "
                        + "(nfs_export=on) or removes them (index=on only) - but an index entry of a lower object "
                        + "the overlay still shows with no upper copy (an interrupted copy-up, or the whiteout the "
                        + "kernel made of one) is removed, keeping the object reachable; and the missing index "
                        + "entry of a copied-up directory or file is written, as a copy-up writes it (the kernel keeps "
                        + "it and decodes the old handles to it again). Everything else is reported, never changed. It refuses (EBUSY) while the upper or work dir is in use by a mount."},
        footer = {"", "Exit status: 0 clean (notes only, or none); 1 findings (also when --repair fixed them all); 2 error.",
                "", "Example:", "  overlayj fsck -o lowerdir=/l1:/l2,upperdir=/u,workdir=/w,index=on --repair"})
public final class FsckCommand implements Callable<Integer> {
    /**
     * Notes shown without --repair: layers copied up without nfs_export and checked with it have one per copied-up
     * directory and file, which would bury the findings.
     */
    static final int NOTES_SHOWN = 10;

    @Mixin LayerOptions layers;

    @Option(names = "--repair", description = "Make the repairs the kernel makes at mount (see above).")
    boolean repair;

    @Spec CommandSpec spec;

    @Override public Integer call() {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        try {
            OverlayOptions o = layers.parse();
            try (LayerSet ls = LayerSet.open(o)) {
                AutoCloseable lock = repair ? ls.lockForRepair() : () -> { };
                try (lock) {
                    Fsck f = Fsck.check(ls);
                    List<Fsck.Finding> fixed = repair ? f.repair() : List.of();
                    int notes = 0;
                    for (Fsck.Finding x : f.findings()) {
                        if (x.note() && !repair && ++notes > NOTES_SHOWN) continue;
                        String tag = fixed.contains(x) ? " [repaired]"
                                : x.kernelRepairs() ? " [kernel repairs at mount]" : x.note() ? " [note]" : "";
                        out.println(x + tag);
                    }
                    if (notes > NOTES_SHOWN) {
                        out.println("fsck: " + (notes - NOTES_SHOWN) + " more notes not shown (--repair shows and"
                                + " repairs them all)");
                    }
                    int n = f.problems().size(), all = f.findings().size();
                    out.println("fsck: " + n + " finding" + (n == 1 ? "" : "s")
                            + (all > n ? ", " + (all - n) + " note" + (all - n == 1 ? "" : "s") : "")
                            + (repair ? ", " + fixed.size() + " repaired" : ""));
                    return n == 0 ? LayerOptions.OK : LayerOptions.FOUND;
                }
            }
        } catch (ErrnoException e) {
            err.println("overlayj fsck: " + e.detail() + " (" + Errno.name(e.errno()) + ")");
            return LayerOptions.ERROR;
        } catch (Exception e) {
            err.println("overlayj fsck: internal error: " + e);
            return LayerOptions.ERROR;
        } finally {
            out.flush();
            err.flush();
        }
    }
}
