package org.overlayj.core.layer;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.List;

/** Mount-time verification and preparation of the layers (the kernel's super.c concern). Minimal version. */
public final class MountChecks {
    private MountChecks() {}

    public static LayerStack prepare(OverlayOptions o) throws ErrnoException {
        List<Layer> lowers = new ArrayList<>();
        int i = 1;
        boolean samefs = true;
        Long dev0 = null;
        for (String l : o.lowerDirs()) {
            Stat st = Linux.stat(l);
            if (!st.isDir()) throw new ErrnoException(Errno.ENOTDIR, l + " is not a directory");
            lowers.add(new Layer(i++, l, st.dev(), new byte[16], false));
            if (dev0 == null) dev0 = st.dev(); else samefs &= dev0 == st.dev();
        }
        Layer upper = null;
        String work = null, index = null;
        if (o.upperDir() != null) {
            Stat st = Linux.stat(o.upperDir());
            upper = new Layer(0, o.upperDir(), st.dev(), new byte[16], true);
            samefs &= dev0 == null || dev0 == st.dev();
            work = o.workDir() + "/work";
            if (Linux.lstatOrNull(work) != null) removeTree(work);
            Linux.mkdir(work, 0);
            if (o.index()) {
                index = o.workDir() + "/index";
                if (Linux.lstatOrNull(index) == null) Linux.mkdir(index, 0);
                for (var e : Linux.readdir(index)) if (e.name().startsWith("#")) removeTree(index + "/" + e.name());
            }
        }
        return new LayerStack(o, upper, lowers, o.workDir(), work, index, upper == null, true, samefs, new byte[16],
                List.of());
    }

    private static void removeTree(String path) throws ErrnoException {
        Stat st = Linux.lstat(path);
        if (st.isDir()) {
            for (var e : Linux.readdir(path)) if (!e.isDotOrDotDot()) removeTree(path + "/" + e.name());
            Linux.rmdir(path);
        } else {
            Linux.unlink(path);
        }
    }
}
