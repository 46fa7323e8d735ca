package org.overlayj.core;

import org.overlayj.core.layer.AufsWhiteouts;
import org.overlayj.core.layer.LayerStack;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Temporary objects in the scratch dir (W/work, or W/index with index=on; the kernel's ovl_lookup_temp and
 * ovl_whiteout in dir.c): an object is built there under a {@code #<hex>} name and renamed into place in one step,
 * so a crash leaves only scratch leftovers that the next mount removes.
 */
final class ScratchNames {
    private final LayerStack layers;
    private final AtomicLong tempCounter = new AtomicLong(System.nanoTime() & 0xffff);

    ScratchNames(LayerStack layers) {
        this.layers = layers;
    }

    /** A fresh temporary name in the scratch dir (W/work, or W/index with index=on): {@code #<hex>}. */
    String tempPath() {
        return layers.scratchDir() + "/#" + Long.toHexString(tempCounter.getAndIncrement());
    }

    /** 0/0 whiteouts can be made here; cleared once mknod is refused (a user outside any user namespace). */
    private volatile boolean deviceWhiteouts = true;

    /**
     * A whiteout made in the scratch dir, to be renamed into place; or null where this process may not make one
     * (mknod refused with EPERM: no CAP_MKNOD in its user namespace): then the caller writes what fuse-overlayfs
     * writes there, an AUFS whiteout ({@link AufsWhiteouts#fallbackWhiteout}). Said once in the log.
     */
    String tempWhiteoutOrNull() throws ErrnoException {
        if (!deviceWhiteouts) return null;
        try {
            return tempWhiteout();
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EPERM) throw e;
            deviceWhiteouts = false;
            org.slf4j.LoggerFactory.getLogger(ScratchNames.class).warn("whiteouts cannot be made here (mknod: EPERM): "
                    + "writing AUFS .wh.NAME files instead, as fuse-overlayfs does");
            return null;
        }
    }

    /** Creates a whiteout in the scratch dir and returns its path, to be renamed into place. */
    String tempWhiteout() throws ErrnoException {
        String p = tempPath();
        Linux.mkwhiteout(p);
        return p;
    }

    /** Removes a temporary tree from the scratch dir (whiteouts and empty dirs of a cleared merge dir). */
    void removeTemp(String path) throws ErrnoException {
        Stat st = Linux.lstatOrNull(path);
        if (st == null) return;
        if (st.isDir()) {
            for (var e : Linux.readdir(path)) if (!e.isDotOrDotDot()) removeTemp(path + "/" + e.name());
            Linux.rmdir(path);
        } else {
            Linux.unlink(path);
        }
    }
}
