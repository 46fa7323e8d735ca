package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.EngineSmokeTest.walk;
import static org.overlayj.core.ExportTest.HEX;
import static org.overlayj.core.ExportTest.nfs;
import static org.overlayj.core.ExportTest.readNode;

/**
 * A write through a handle that decodes to a disconnected node (cold caches, as after a server restart) must leave
 * layers the kernel's next mount accepts. An index-only copy-up of a lower file with one link is what the kernel's
 * own disconnected copy-up writes, and its own next read-write mount takes it for an orphan: "orphan index entry",
 * a whiteout, EIO and the data gone (format doc §6.4). So the node is reconnected at its name first.
 */
class ReconnectTest {
    static final Creds R = Creds.ROOT;

    /** Mount, encode the handles of {@code paths}, unmount; then drop the kernel's dentries so decodes are cold. */
    static List<byte[]> handlesThenColdCaches(Layers L, String... paths) throws Exception {
        List<byte[]> hs = new java.util.ArrayList<>();
        try (Overlay o = Overlay.mount(nfs(L))) {
            for (String p : paths) hs.add(o.encodeHandle(walk(o, p)));
        }
        Layers.sh("sync; echo 2 > /proc/sys/vm/drop_caches");
        return hs;
    }

    static void appendThrough(Overlay o, Node n, String text) throws Exception {
        OpenFile f = o.open(n, Linux.O_WRONLY | Linux.O_APPEND, R);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        try {
            o.write(f, o.getattr(n).size(), b, 0, b.length);
        } finally {
            o.release(f);
        }
    }

    /** The kernel's next mount: what {@code path} reads (or the errno), and its overlayfs lines naming the entry. */
    static String kernelReads(Layers L, String path, byte[] handle) throws Exception {
        return kernelReads(L, path, handle, "index=on,nfs_export=on");
    }

    static String kernelReads(Layers L, String path, byte[] handle, String options) throws Exception {
        String entry = HEX.formatHex(handle, 3, handle.length);
        try (ChecklistTwin.KernelLog log = new ChecklistTwin.KernelLog()) {
            L.kernelMount(options);
            String got;
            try {
                got = Layers.shOut("cat " + L.mnt + "/" + path + " 2>&1 || true");
            } finally {
                L.kernelUmount();
            }
            String lines = String.join("\n", log.overlayLines().stream().filter(l -> l.contains(entry)).toList());
            return got + (lines.isEmpty() ? "" : "dmesg: " + lines);
        }
    }

    @Test void writeThroughADisconnectedSingleLinkFileSurvivesTheKernelsMount() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo f > l1/d/f && echo g > l1/d/g");
            try (Overlay o = Overlay.mount(nfs(L))) {
                IndexTest.append(o, "d/g", "up\n");    // copied up (index entry and upper alias) before the restart
            }
            List<byte[]> hs = handlesThenColdCaches(L, "d/f", "d/g");
            byte[] h = hs.getFirst();
            try (Overlay o = Overlay.mount(nfs(L))) {
                Node g = o.decodeHandle(hs.get(1));
                appendThrough(o, g, "more\n");
                assertEquals("g\nup\nmore\n", IndexTest.read(o, "d/g"));
                Node n = o.decodeHandle(h);
                assertNull(n.parent(), "disconnected: neither we nor the kernel had a name for it");
                appendThrough(o, n, "more\n");
                assertEquals("f\nmore\n", readNode(o, n));
                assertEquals("f\nmore\n", IndexTest.read(o, "d/f"));
            }
            assertEquals("f\nmore\n", kernelReads(L, "d/f", h));
            assertEquals("g\nup\nmore\n", kernelReads(L, "d/g", hs.get(1)));
            try (Overlay o = Overlay.mount(nfs(L))) {
                assertEquals("f\nmore\n", IndexTest.read(o, "d/f"));
                assertEquals("f\nmore\n", readNode(o, o.decodeHandle(h)));
            }
        }
    }

    /** Reconnected through a renamed (indexed) ancestor: the copy lands at the overlay's name of the file. */
    @Test void reconnectsBelowARenamedDirectory() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/d/e && echo f > l1/d/e/f");
            byte[] h;
            var x = nfs(L);
            var opts = new org.overlayj.core.config.OverlayOptions(x.lowerDirs(), x.upperDir(), x.workDir(),
                    org.overlayj.core.config.OverlayOptions.RedirectDir.ON, true, true, x.uuid(), x.xino(), false,
                    false, false, List.of());
            try (Overlay o = Overlay.mount(opts)) {
                h = o.encodeHandle(walk(o, "d/e/f"));
                o.rename(o.root(), "d", o.root(), "moved", 0, R);
            }
            Layers.sh("sync; echo 2 > /proc/sys/vm/drop_caches");
            try (Overlay o = Overlay.mount(opts)) {
                Node n = o.decodeHandle(h);
                assertNull(n.parent(), "disconnected: its lower path d/e/f leads nowhere in the overlay");
                appendThrough(o, n, "more\n");
                assertEquals("f\nmore\n", IndexTest.read(o, "moved/e/f"));
            }
            assertEquals("f\nmore\n", kernelReads(L, "moved/e/f", h, "index=on,nfs_export=on,redirect_dir=on"));
        }
    }

    /**
     * A file the overlay no longer shows at any name (here: an upper whiteout put over its directory offline) cannot
     * be reconnected: the write is refused with ESTALE rather than leaving an index entry the kernel whites out.
     */
    @Test void anUnreachableSingleLinkFileIsRefusedNotOrphaned() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo f > l1/d/f");
            byte[] h = handlesThenColdCaches(L, "d/f").getFirst();
            Layers.sh("mknod " + L.upper + "/d c 0 0");
            try (Overlay o = Overlay.mount(nfs(L))) {
                Node n = o.decodeHandle(h);
                ErrnoException e = assertThrows(ErrnoException.class, () -> appendThrough(o, n, "more\n"));
                assertEquals(Errno.ESTALE, e.errno());
            }
            Layers.sh("test -z \"$(ls -A " + L.work + "/index)\"");
        }
    }

    /**
     * A lower hard link: its index entry is found by every alias, and the kernel keeps an index-only copy with
     * {@code NS nlink "U+1"} (it reads the count from the xattr when the lower has several links). Kept as it was.
     */
    @Test void writeThroughADisconnectedHardLinkSurvivesTheKernelsMount() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && echo h > l1/h1 && ln l1/h1 l1/h2");
            byte[] h = handlesThenColdCaches(L, "h2").getFirst();
            try (Overlay o = Overlay.mount(nfs(L))) {
                Node n = o.decodeHandle(h);
                appendThrough(o, n, "more\n");
                assertEquals("h\nmore\n", IndexTest.read(o, "h1"));
            }
            assertEquals("h\nmore\n", kernelReads(L, "h1", h));
            assertEquals("h\nmore\n", kernelReads(L, "h2", h));
        }
    }
    /**
     * The state an index-only copy-up of a disconnected single-link file leaves (the kernel's own writes it: index
     * entry with one link, {@code NS nlink "U+0"}, no upper alias): the kernel's mount takes it for an orphan and
     * whiteouts it (then EIO); overlayj's mount-time check must do the same, not keep serving it.
     */
    @Test void anIndexOnlyCopyOfASingleLinkFileIsAnOrphanToBoth() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo f > l1/d/f");
            byte[] h;
            try (Overlay o = Overlay.mount(nfs(L))) {
                h = o.encodeHandle(walk(o, "d/f"));
            }
            String blob = HEX.formatHex(h, 3, h.length);
            String entry = L.work + "/index/" + blob;
            String make = "rm -f " + entry + " && cp --preserve=mode,timestamps " + L.lowers.getFirst() + "/d/f " + entry
                    + " && echo more >> " + entry + " && setfattr -n trusted.overlay.origin -v 0x" + blob + " " + entry
                    + " && setfattr -n trusted.overlay.nlink -v U+0 " + entry;
            Layers.sh(make);
            String kernel = kernelReads(L, "d/f", h);
            assertTrue(kernel.contains("Input/output error") && kernel.contains("orphan index entry"), kernel);
            Layers.sh("test -c " + entry + " && " + make);
            try (Overlay o = Overlay.mount(nfs(L))) {
                Layers.sh("test -c " + entry);
                assertEquals(Errno.ESTALE, assertThrows(ErrnoException.class, () -> o.decodeHandle(h)).errno());
            }
        }
    }
    /**
     * An index-only copy of a lower hard link (2 links) whose {@code NS nlink} says various things: overlayj's
     * mount-time check keeps or orphans it exactly as the kernel's does, the same state built twice.
     */
    @Test void mountTimeCheckOfAnIndexOnlyHardLinkAgreesWithTheKernel() throws Exception {
        for (String v : List.of("U+1", "U+0", "L+0", "L-1", "L-2", "U-1", "bogus")) {
            String[] seen = new String[2];
            for (int side = 0; side < 2; side++) {
                try (Layers L = new Layers(1)) {
                    Layers.sh("cd " + L.root + " && echo h > l1/h1 && ln l1/h1 l1/h2");
                    byte[] h = handlesThenColdCaches(L, "h2").getFirst();
                    try (Overlay o = Overlay.mount(nfs(L))) {
                        appendThrough(o, o.decodeHandle(h), "more\n");
                    }
                    String entry = L.work + "/index/" + HEX.formatHex(h, 3, h.length);
                    Layers.sh("test $(stat -c %h " + entry + ") = 1 && setfattr -n trusted.overlay.nlink -v " + v + " "
                            + entry);
                    if (side == 0) {
                        L.kernelMount("index=on,nfs_export=on");
                        L.kernelUmount();
                    } else {
                        Overlay.mount(nfs(L)).close();
                    }
                    seen[side] = Layers.shOut("stat -c %F " + entry).trim();
                }
            }
            assertEquals(seen[0], seen[1], "NS nlink " + v + ": kernel vs overlayj");
        }
    }
}
