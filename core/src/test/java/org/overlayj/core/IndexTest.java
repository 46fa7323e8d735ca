package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

import static org.overlayj.core.EngineSmokeTest.walk;
import static org.junit.jupiter.api.Assertions.*;

/** The inodes index (format doc §5), each case checked on our engine and on the kernel overlay. */
class IndexTest {
    static final Creds R = Creds.ROOT;

    static void append(Overlay o, String path, String text) throws Exception {
        Node n = walk(o, path);
        OpenFile f = o.open(n, Linux.O_WRONLY | Linux.O_APPEND, R);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        o.write(f, o.getattr(n).size(), b, 0, b.length);
        o.release(f);
    }

    static String read(Overlay o, String path) throws Exception {
        Node n = walk(o, path);
        OpenFile f = o.open(n, Linux.O_RDONLY, R);
        byte[] b = new byte[4096];
        int len = o.read(f, 0, b, 0, b.length);
        o.release(f);
        return new String(b, 0, len, StandardCharsets.UTF_8);
    }

    static List<String> indexNames(Layers L) throws Exception {
        try (var s = Files.list(L.work.resolve("index"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** The seed scenario: lower hard links a and b; append through a; remount; b shows it; append through b. */
    @Test void lowerHardLinksSurviveCopyUpAndRemount() throws Exception {
        for (boolean kernel : new boolean[]{false, true}) {
            try (Layers L = new Layers(1)) {
                Layers.sh("cd " + L.root + " && echo base > l1/a && ln l1/a l1/b");
                if (kernel) {
                    L.kernelMount("index=on");
                    Layers.sh("cd " + L.mnt + " && echo one >> a");
                    L.kernelUmount();
                    L.kernelMount("index=on");
                    Layers.sh("cd " + L.mnt + " && test \"$(cat b)\" = $'base\\none' && test $(stat -c %i a) = $(stat -c %i b)"
                            + " && test $(stat -c %h a) = 2 && echo two >> b && test \"$(cat a)\" = $'base\\none\\ntwo'");
                    L.kernelUmount();
                } else {
                    try (Overlay o = L.mount(true, false)) {
                        append(o, "a", "one\n");
                    }
                    try (Overlay o = L.mount(true, false)) {
                        assertEquals("base\none\n", read(o, "b"));
                        Attr a = o.getattr(walk(o, "a")), b = o.getattr(walk(o, "b"));
                        assertEquals(a.ino(), b.ino());
                        assertEquals(2, a.nlink());
                        assertEquals(2, b.nlink());
                        append(o, "b", "two\n");
                        assertEquals("base\none\ntwo\n", read(o, "a"));
                    }
                }
                Stat ua = Linux.lstat(L.upper.resolve("a").toString());
                Stat ub = Linux.lstat(L.upper.resolve("b").toString());
                List<String> idx = indexNames(L);
                assertEquals(1, idx.size(), (kernel ? "kernel" : "overlayj") + " index: " + idx);
                Stat ui = Linux.lstat(L.work.resolve("index").resolve(idx.getFirst()).toString());
                assertEquals(ua.ino(), ub.ino());
                assertEquals(ua.ino(), ui.ino());
                byte[] origin = Linux.lgetxattr(L.upper.resolve("a").toString(), "trusted.overlay.origin");
                assertEquals(idx.getFirst(), HexFormat.of().formatHex(origin));
                // two upper aliases + the index entry = 3 links for a union count of 2 (the kernel writes the same)
                assertEquals("U-1", new String(Linux.lgetxattr(L.upper.resolve("a").toString(), "trusted.overlay.nlink")));
                // The other side mounts what this side wrote, with the index, and agrees.
                if (!kernel) {
                    L.kernelMount("index=on");
                    Layers.sh("cd " + L.mnt + " && test \"$(cat a)\" = $'base\\none\\ntwo' && test $(stat -c %i a) = $(stat -c %i b) && test $(stat -c %h b) = 2");
                    L.kernelUmount();
                }
            }
        }
    }

    /** Checklist 13/14: nlink through ln and rm; last alias removed takes the index entry with it. */
    @Test void unionNlinkThroughLinkAndUnlink() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && echo h > l1/a && ln l1/a l1/b && ln l1/a l1/c");
            try (Overlay o = L.mount(true, false)) {
                append(o, "a", "x\n");
                assertEquals("U+1", new String(Linux.lgetxattr(L.upper.resolve("a").toString(), "trusted.overlay.nlink")));
                assertEquals(3, o.getattr(walk(o, "c")).nlink());
                o.link(walk(o, "a"), o.root(), "d", R);
                assertEquals(4, o.getattr(walk(o, "b")).nlink());
                o.unlink(o.root(), "b", R);
                assertEquals(3, o.getattr(walk(o, "a")).nlink());
                assertTrue(Linux.lstat(L.upper.resolve("b").toString()).isWhiteout());
                o.unlink(o.root(), "c", R);
                o.unlink(o.root(), "d", R);
                assertEquals(1, o.getattr(walk(o, "a")).nlink());
                assertEquals(1, indexNames(L).size());
                o.unlink(o.root(), "a", R);
                assertEquals(List.of(), indexNames(L));
            }
            L.kernelMount("index=on");
            Layers.sh("cd " + L.mnt + " && test -z \"$(ls)\"");
        }
    }

    /**
     * A client that holds the object by a node (FUSE caches names, NFS holds handles) still reaches it after the name
     * the node was placed at goes away, through a lower alias that is still there: the node moves to that alias,
     * whose upper inode is the index entry (FUSE differential seed 12030: EIO/ENOENT on /d/a after this).
     */
    @Test void aNodeWhosePlaceIsRemovedMovesToALowerAliasStillThere() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo base > l1/d/a && ln l1/d/a l1/d/b && ln l1/d/a l1/h");
            try (Overlay o = L.mount(true, false)) {
                Node a = walk(o, "d/a");
                assertSame(a, walk(o, "d/b"));
                Node h = walk(o, "h");
                assertSame(a, h);
                o.rename(o.root(), "h", o.root(), "wo", 0, R);
                o.unlink(o.root(), "wo", R);
                assertEquals(2, o.getattr(h).nlink());
                OpenFile f = o.open(h, Linux.O_WRONLY | Linux.O_APPEND, R);
                byte[] b = "more\n".getBytes(StandardCharsets.UTF_8);
                o.write(f, o.getattr(h).size(), b, 0, b.length);
                o.release(f);
                assertEquals("base\nmore\n", read(o, "d/b"));
                assertEquals("base\nmore\n", read(o, "d/a"));
            }
        }
    }

    /**
     * A lookup of a lower object looks for its index entry (a statx of W/index/hex) only where the index dir may
     * hold one (IndexNames): the names listed at mount and the names made since. A listing of lower files looks for
     * none (it looked for every entry's: the first listing of a 20k-entry lower directory over NFS spent a quarter
     * of the server's CPU on them), while an entry the kernel made before the mount and one this mount made are
     * both found, as the kernel finds them. Fails with the mount's listing left out (d shows the lower data), with
     * Index#path not noting the names it makes (b after the caches are dropped), and without the filter (40 looks).
     */
    @Test void anIndexEntryIsLookedForOnlyWhereOneMayBe() throws Exception {
        String seed = "mkdir l1/many && for i in $(seq 0 39); do touch l1/many/e$i; done"
                + " && echo base > l1/a && ln l1/a l1/b && echo base > l1/c && ln l1/c l1/d";
        List<String> seen = new java.util.ArrayList<>();
        for (boolean kernel : new boolean[]{true, false}) {
            try (Layers L = new Layers(1)) {
                Layers.sh("cd " + L.root + " && " + seed);
                // an entry made before the mount: the kernel's copy-up of c
                L.kernelMount("index=on,nfs_export=on");
                Layers.sh("cd " + L.mnt + " && echo kernel >> c");
                L.kernelUmount();
                List<String> out = new java.util.ArrayList<>();
                if (kernel) {
                    L.kernelMount("index=on,nfs_export=on");
                    out.add(Layers.shOut("cd " + L.mnt + " && ls many | wc -l && cat d && test $(stat -c %i c) = $(stat -c %i d)"
                            + " && echo one >> a && cat b"
                            + " && test $(stat -c %i a) = $(stat -c %i b) && echo same"));
                    L.kernelUmount();
                } else {
                    var opts = new org.overlayj.core.config.OverlayOptions(List.of(L.lowers.getFirst().toString()),
                            L.upper.toString(), L.work.toString(), org.overlayj.core.config.OverlayOptions.RedirectDir.FOLLOW,
                            true, true, org.overlayj.core.config.OverlayOptions.Uuid.AUTO,
                            org.overlayj.core.config.OverlayOptions.Xino.OFF, false, false, false, List.of());
                    try (Overlay o = Overlay.mount(opts, new EngineSeam.Recorder())) {
                        EngineSeam.Recorder probe = EngineSeam.probe(o);
                        Node many = walk(o, "many");
                        List<String> names = EngineSmokeTest.names(o, many);
                        long before = probe.indexLooks.sum();
                        List<Found> found = o.lookupAll(many, names, R);
                        assertEquals(0, probe.indexLooks.sum() - before, "index entries looked for in a listing");
                        assertTrue(found.stream().allMatch(f -> f != null && f.attr().size() == 0));
                        String t = names.size() + "\n" + read(o, "d");
                        assertEquals(1, probe.indexLooks.sum() - before, "d's entry, the kernel's");
                        assertEquals(o.getattr(walk(o, "c")).ino(), o.getattr(walk(o, "d")).ino());
                        append(o, "a", "one\n");
                        EngineSeam.dropCaches(o);           // b is looked up from scratch, as after a restart
                        t += read(o, "b");
                        assertEquals(o.getattr(walk(o, "a")).ino(), o.getattr(walk(o, "b")).ino());
                        out.add(t + "same\n");
                    }
                }
                seen.addAll(out);
            }
        }
        assertEquals("40\nbase\nkernel\nbase\none\nsame\n", seen.get(0), "the kernel");
        assertEquals(seen.get(0), seen.get(1), "the engine, as the kernel");
    }
}
