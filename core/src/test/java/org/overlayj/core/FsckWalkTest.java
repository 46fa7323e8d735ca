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
}
