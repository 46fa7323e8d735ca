package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.tools.Fsck;
import org.overlayj.core.tools.LayerSet;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * fsck walks the tree by the engine's own redirect rule (layer/RedirectPath), so it checks the objects a lookup
 * resolves to — the kernel's — and not others: each case mounted by the kernel, by the engine, and checked by fsck.
 */
class FsckWalkTest {

    /**
     * A chain of redirects: upper X redirects to "/m/x", which in the middle layer redirects (relatively) to "y": the
     * bottom layer is looked up at "/m/y" (the kernel keeps the absolute prefix). A misplaced 'opaque' xattr marks
     * each bottom file so that fsck's findings show which ones its walk met: it must meet m/y's, never m/x's.
     */
    @Test void relativeRedirectAfterAnAbsoluteOneRenamesItsLastComponent() throws Exception {
        try (Layers L = new Layers(2)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/m/x l2/m/x l2/m/y upper/X && echo 1 > l2/m/y/file1"
                    + " && echo 2 > l2/m/x/file2 && echo 0 > l1/m/x/file0"
                    + " && setfattr -n trusted.overlay.opaque -v y l2/m/y/file1 l2/m/x/file2"
                    + " && setfattr -n trusted.overlay.redirect -v y l1/m/x"
                    + " && setfattr -n trusted.overlay.redirect -v /m/x upper/X");
            L.kernelMount("redirect_dir=on");
            String kernel;
            try {
                kernel = Layers.shOut("ls " + L.mnt.resolve("X") + " | tr '\\n' ' '").trim();
            } finally {
                L.kernelUmount();
            }
            assertEquals("file0 file1", kernel, "the kernel follows the chain to l2/m/y");
            try (Overlay o = L.mount(false, true)) {
                assertEquals(List.of("file0", "file1"), EngineSmokeTest.names(o, EngineSmokeTest.walk(o, "X")).stream().sorted().toList(),
                        "the engine");
            }
            try (LayerSet ls = LayerSet.open(L.options(false, true))) {
                List<String> where = Fsck.check(ls).findings().stream().filter(f -> f.code().equals("opaque"))
                        .map(Fsck.Finding::where).distinct().sorted().toList();
                assertEquals(List.of("lower 2:/m/y/file1"), where, "fsck meets what lookup resolves to");
            }
        }
    }

    /**
     * An upper metadata-only copy whose data is in no lower layer: the kernel's lookup fails with EIO, so does the
     * engine's, and fsck reports it (one with its data below is no finding).
     */
    @Test void metacopyWithoutLowerDataIsReported() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && echo d > l1/g && echo 1 > upper/f && echo 2 > upper/g"
                    + " && truncate -s 0 upper/f upper/g && setfattr -n trusted.overlay.metacopy upper/f upper/g");
            String opts = "lowerdir=" + L.lowerdir() + ",upperdir=" + L.upper + ",workdir=" + L.work
                    + ",metacopy=on,redirect_dir=on";
            L.kernelMount("metacopy=on,redirect_dir=on");
            String kernel;
            try {
                kernel = Layers.shOut("cd " + L.mnt + " && for n in f g; do cat $n 2>&1 | sed 's/.*Input\\/output"
                        + " error.*/EIO/'; done | tr '\\n' ' '").trim();
            } finally {
                L.kernelUmount();
            }
            assertEquals("EIO d", kernel);
            var parsed = org.overlayj.core.config.MountOptions.parse(opts, "/",
                    org.overlayj.core.config.ModuleDefaults.BUILTIN);
            try (Overlay o = Overlay.mount(parsed.overlay())) {
                var e = assertThrows(org.overlayj.sys.ErrnoException.class, () -> EngineSmokeTest.walk(o, "f"));
                assertEquals(org.overlayj.sys.Errno.EIO, e.errno(), "the engine");
                assertNotNull(EngineSmokeTest.walk(o, "g"));
            }
            try (LayerSet ls = LayerSet.open(parsed.overlay())) {
                List<String> where = Fsck.check(ls).findings().stream().filter(f -> f.code().equals("metacopy"))
                        .map(Fsck.Finding::where).toList();
                assertEquals(List.of("upper:/f"), where);
            }
        }
    }
}
