package org.overlayj.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.MountOptions;

import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code overlayj handle}: the handles it prints are the kernel's, byte for byte; decoding names the object. */
class HandleCommandTest {
    private ToolLayers L;

    @BeforeEach void layers() throws Exception {
        L = new ToolLayers();
        L.kernelScenario();
    }

    @AfterEach void cleanup() throws Exception {
        L.close();
    }

    private static final List<String> PATHS = List.of("", "a", "a3", "a4", "d", "d/e", "d/e/g", "d/e/new", "rd2",
            "rd2/x", "single", "d/pure", "d/pure/p", "keep");

    @Test void handlesAreTheKernelsAndDecodeToTheirObject() throws Exception {
        Map<String, String> kernel = new LinkedHashMap<>();
        Map<String, Long> kernelIno = new LinkedHashMap<>();
        L.kernelMount(ToolLayers.FEATURES);
        for (String p : PATHS) {
            kernel.put(p, L.kernelHandle(p));
            kernelIno.put(p, (Long) Files.getAttribute(L.mnt.resolve(p), "unix:ino",
                    java.nio.file.LinkOption.NOFOLLOW_LINKS));
        }
        String deleted = L.kernelHandle("keep");
        ToolLayers.sh("rm " + L.mnt.resolve("keep"));     // nfs_export: its index entry becomes a whiteout
        L.kernelUmount();

        Map<String, String> ours = new LinkedHashMap<>();
        for (String p : PATHS) {
            if (p.equals("keep")) continue;
            ToolLayers.Run r = ToolLayers.overlayj("handle", "-o", L.opts(), p.isEmpty() ? "/" : p);
            assertEquals(0, r.code(), r.toString());
            ours.put(p, r.out().trim());
        }
        Map<String, String> expected = new LinkedHashMap<>(kernel);
        expected.remove("keep");
        assertEquals(expected, ours);

        // decode: connected objects come back with their overlay path, type, layer and the kernel's st_ino
        record Want(String path, String layer, String handle, String type) {}
        Map<String, Want> want = Map.of(
                "", new Want("/", "upper", "upper", "directory"),
                "d/e/g", new Want("/d/e/g", "lower 2", "lower", "regular file"),
                "rd2/x", new Want("/rd2/x", "lower 2", "lower", "regular file"),
                "rd2", new Want("/rd2", "upper", "lower", "directory"),
                "d/pure/p", new Want("/d/pure/p", "upper", "upper", "regular file"),
                "single", new Want("/single", "upper", "lower", "regular file"));
        for (var w : want.entrySet()) {
            ToolLayers.Run r = ToolLayers.overlayj("handle", "-o", L.opts(), "--decode", kernel.get(w.getKey()));
            assertEquals(0, r.code(), r.toString());
            Want x = w.getValue();
            assertEquals("path: " + x.path() + "\nlayer: " + x.layer() + "\nhandle: " + x.handle() + "\ntype: "
                    + x.type() + "\nino: " + kernelIno.get(w.getKey()) + "\n", r.out(), w.getKey());
        }
        // a hard link's handle names its lower origin; the object is the indexed upper inode, any alias reaches it
        ToolLayers.Run a = ToolLayers.overlayj("handle", "-o", L.opts(), "--decode", kernel.get("a"));
        assertEquals(0, a.code(), a.toString());
        assertTrue(a.out().matches("(?s)path: /a4?\nlayer: upper\nhandle: lower\ntype: regular file\nino: "
                + kernelIno.get("a") + "\n"), a.out());

        // a deleted object: ESTALE, exit 1
        ToolLayers.Run gone = ToolLayers.overlayj("handle", "-o", L.opts(), "--decode", deleted);
        assertEquals(1, gone.code(), gone.toString());
        assertEquals("ESTALE\n", gone.out());
        ToolLayers.Run junk = ToolLayers.overlayj("handle", "-o", L.opts(), "--decode", "00000000fb1d00");
        assertEquals(1, junk.code(), junk.toString());

        // nothing stays claimed: the engine and the kernel mount the layers again
        try (Overlay o = Overlay.mount(MountOptions.parse(L.opts()).overlay())) {
            assertTrue(o.root().isDir());
        }
        L.kernelMount(ToolLayers.FEATURES);
        assertEquals(kernel.get("d/e/g"), L.kernelHandle("d/e/g"));
        L.kernelUmount();
    }

    /** Everything of the upper and work dirs a change could touch: names, types, modes, inodes, links, xattrs. */
    private String layerState() throws Exception {
        return ToolLayers.sh("cd " + L.root + " && find u w -printf '%p %y %m %i %n %T@\\n' | sort"
                + " && getfattr -R -h -d -m - -e hex --absolute-names u w 2>/dev/null");
    }

    /**
     * The handles and decodes change no layer, even where a mount would (a work-dir temporary, an index temporary
     * and a merge dir without origin, which a mount's clean-up and lookup write); the one handle the kernel gives
     * out only after a copy-up (under nfs_export, a lower directory reached through a redirect in a higher lower
     * layer) is the kernel's, after the same copy-up, said on stderr. (Before, every run opened the layers as a
     * mount: the temporaries went, and the merge dir got an origin.)
     */
    @Test void handlesChangeNoLayerButForTheKernelsCopyUp() throws Exception {
        ToolLayers.sh("cd " + L.root + " && mkdir -p l2/old/sub l1/new l2/m u/m 'w/work/#7f01'"
                + " && touch 'w/index/#7f02' && setfattr -n trusted.overlay.redirect -v /old l1/new"
                + " && mknod l1/old c 0 0");
        String before = layerState();
        List<String> handles = new java.util.ArrayList<>();
        for (String p : List.of("", "d", "d/e", "d/e/g", "d/pure/p", "rd2", "rd2/x", "single", "m", "new")) {
            ToolLayers.Run r = ToolLayers.overlayj("handle", "-o", L.opts(), p.isEmpty() ? "/" : p);
            assertEquals(0, r.code(), p + ": " + r);
            assertEquals("", r.err(), p);
            handles.add(r.out().trim());
            ToolLayers.Run d = ToolLayers.overlayj("handle", "-o", L.opts(), "--decode", r.out().trim());
            assertEquals(0, d.code(), p + ": " + d);
            assertTrue(d.out().startsWith("path: /" + p + "\n") || p.isEmpty() && d.out().startsWith("path: /\n"),
                    p + ": " + d.out());
        }
        assertEquals(before, layerState(), "handle changed a layer");

        // new/sub is old/sub of the lower layer below new's absolute redirect (old itself whited out): its handle
        // could not lead back to it, so the kernel copies it up before it hands the handle out, and so does handle
        ToolLayers.Run r = ToolLayers.overlayj("handle", "-o", L.opts(), "new/sub");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.err().contains("copied up"), r.toString());
        assertTrue(java.nio.file.Files.isDirectory(L.upper.resolve("new/sub")), "the copy-up");
        L.kernelMount(ToolLayers.FEATURES);
        try {
            assertEquals(L.kernelHandle("new/sub"), r.out().trim(), "the kernel's handle");
        } finally {
            L.kernelUmount();
        }
    }

    /**
     * A lower directory below a directory that a mount without the index renamed (a relative redirect, nothing
     * indexed), asked for before any index=on mount made W/index: the kernel's first index=on,nfs_export=on mount
     * copies it up before it hands out its handle (a decode could not walk the old name back to it), and so must
     * handle; before, it printed the same bytes without the copy-up, and that handle decoded ESTALE, here and on the
     * kernel.
     */
    @Test void aLowerDirBelowARenameMadeWithoutTheIndexIsCopiedUpFirst() throws Exception {
        try (ToolLayers t = new ToolLayers()) {
            ToolLayers.sh("mkdir -p " + t.l2 + "/a/b/c");
            t.kernelMount("index=off,redirect_dir=on");
            ToolLayers.sh("mv " + t.mnt + "/a " + t.mnt + "/x");
            t.kernelUmount();
            assertTrue(!Files.exists(t.work.resolve("index")), "no index dir yet");

            ToolLayers.Run r = ToolLayers.overlayj("handle", "-o", t.opts(), "x/b");
            assertEquals(0, r.code(), r.toString());
            assertTrue(r.err().contains("copied up"), r.toString());
            assertTrue(Files.isDirectory(t.upper.resolve("x/b")), "the copy-up");
            ToolLayers.Run d = ToolLayers.overlayj("handle", "-o", t.opts(), "--decode", r.out().trim());
            assertEquals(0, d.code(), d.toString());
            assertTrue(d.out().startsWith("path: /x/b\n"), d.out());
            t.kernelMount(ToolLayers.FEATURES);
            try {
                assertEquals(t.kernelHandle("x/b"), r.out().trim(), "the kernel's handle");
            } finally {
                t.kernelUmount();
            }
        }
    }

    @Test void usageErrorsExitTwo() throws Exception {
        assertEquals(2, ToolLayers.overlayj("handle", "-o", L.opts()).code());
        assertEquals(2, ToolLayers.overlayj("handle", "-o", L.opts(), "nonexistent").code());
        assertEquals(2, ToolLayers.overlayj("handle", "-o", L.opts(), "--decode", "xyz").code());
    }
}
