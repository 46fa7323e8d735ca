package org.overlayj.core;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A listing's batch lookup (Overlay#lookupAll, what READDIRPLUS asks) looks its names up relative to the open lower
 * directories (Lookup.LowerDirs: statx, listxattrat and name_to_handle_at of one name each, where the single
 * lookups walk the whole layer path): what it finds is what the single lookups find, attributes and handles
 * alike, and what the kernel overlay shows.
 */
class LookupAllTest {
    /**
     * Two lower layers merged in d: zero-size files (whose xattrs are read: an xwhiteout is one of them), a lower
     * hard link pair (index and nfs_export: its index entry looked for, its blob made from the fd), a symlink, a
     * fifo, a subdirectory, and names only the bottom layer holds (the other directory's fd).
     */
    @Test void aBatchLookupFindsWhatSingleLookupsAndTheKernelFind() throws Exception {
        try (Layers L = new Layers(2)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/d/sub l2/d/sub2 && for i in 0 1 2 3 4 5; do touch l1/d/z$i; done"
                    + " && echo data > l1/d/f && echo low > l2/d/xw && touch l1/d/xw"
                    + " && setfattr -n trusted.overlay.whiteout -v y l1/d/xw && echo h > l1/d/h1 && ln l1/d/h1 l1/d/h2"
                    + " && ln -s f l1/d/sym && mkfifo l1/d/fifo && echo only > l2/d/onlylow && touch l2/d/z9"
                    + " && echo up > l2/d/f");
            List<String> names;
            List<String> batch = new ArrayList<>(), single = new ArrayList<>();
            var opts = new org.overlayj.core.config.OverlayOptions(L.lowers.stream().map(Object::toString).toList(),
                    L.upper.toString(), L.work.toString(), org.overlayj.core.config.OverlayOptions.RedirectDir.FOLLOW,
                    true, true, org.overlayj.core.config.OverlayOptions.Uuid.AUTO,
                    org.overlayj.core.config.OverlayOptions.Xino.OFF, false, false, false, List.of());
            try (Overlay o = Overlay.mount(opts, new EngineSeam.Recorder())) {
                Node d = EngineSmokeTest.walk(o, "d");
                names = EngineSmokeTest.names(o, d);
                assertTrue(names.size() >= Overlay.LOWER_DIRS_FROM, "a batch that opens its directories");
                List<Found> found = o.lookupAll(d, names, Creds.ROOT);
                for (int i = 0; i < names.size(); i++) {
                    Found f = found.get(i);
                    batch.add(line(names.get(i), f == null ? null : f.attr(), f == null ? null : o.encodeHandle(f.node())));
                }
                EngineSeam.dropCaches(o);           // each name from scratch, by path
                d = EngineSmokeTest.walk(o, "d");
                for (String n : names) {
                    Found f;
                    try {
                        f = o.lookupAttr(d, n, Creds.ROOT);
                    } catch (org.overlayj.sys.ErrnoException e) {
                        f = null;
                    }
                    single.add(line(n, f == null ? null : f.attr(), f == null ? null : o.encodeHandle(f.node())));
                }
            }
            assertEquals(single, batch, "the batch, as single lookups");
            L.kernelMount("index=on,nfs_export=on");
            List<String> kernel = new ArrayList<>();
            for (String n : names) {
                String out = Layers.shOut("stat -c '%f %s %i %h' " + L.mnt + "/d/" + n + " 2>/dev/null || echo ENOENT").trim();
                kernel.add(n + " " + out);
            }
            L.kernelUmount();
            assertEquals(kernel, batch.stream().map(s -> s.substring(0, s.lastIndexOf(' '))).toList(), "as the kernel");
            assertTrue(batch.contains("xw ENOENT -"), "the xwhiteout hides the name: " + batch);
        }
    }

    /** name, then mode (hex), size, ino and nlink as stat -c '%f %s %i %h' prints them, then the handle (hex). */
    private static String line(String name, Attr a, byte[] handle) {
        if (a == null) return name + " ENOENT -";
        return name + " " + Integer.toHexString(a.mode()) + " " + a.size() + " " + a.ino() + " " + a.nlink() + " "
                + java.util.HexFormat.of().formatHex(handle);
    }
}
