package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.ChecklistTwin.Fs;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.ChecklistTwin.errno;

/** Format doc §10 items 1–6 (whiteouts, opaque dirs, xwhiteouts, merged readdir), engine vs kernel. */
class ChecklistWhiteoutTest {

    static void look(Fs fs, List<String> out, String... paths) {
        for (String p : paths) out.add("stat " + p + ": " + errno(() -> fs.stat(p)));
    }

    @Test void item01_whiteoutHidesNameInAllLowerLayersAndIsNeverListed() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(3, "echo 3 > l3/a && echo 3 > l3/b && mkdir -p l3/d l2/d l1/d"
                + " && echo 3 > l3/d/x && echo 2 > l2/a && mknod l1/a c 0 0 && mknod l1/d/x c 0 0 && echo 2 > l2/c && echo 3 > l3/c")) {
            t.upperSetup = "mknod upper/b c 0 0 && mknod upper/c c 0 0";
            var k = t.compare("", (fs, out) -> {
                out.add("root: " + fs.ls(""));
                out.add("d: " + fs.ls("d"));
                look(fs, out, "a", "b", "c", "d/x");
                fs.append("a", "new\n"); // a name hidden by a whiteout can be created again
                out.add("root after: " + fs.ls("") + " a=" + fs.read("a"));
            });
            assertEquals("root: [d]", k.transcript().getFirst());
            assertTrue(k.transcript().contains("stat d/x: ENOENT"));
        }
    }

    @Test void item02_opaqueIsExactlyOneByteY() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "for d in oy oyes on ox oempty; do mkdir -p l1/$d l2/$d && echo 2 > l2/$d/below && echo 1 > l1/$d/top; done"
                + " && setfattr -n trusted.overlay.opaque -v y l1/oy && setfattr -n trusted.overlay.opaque -v yes l1/oyes"
                + " && setfattr -n trusted.overlay.opaque -v n l1/on && setfattr -n trusted.overlay.opaque -v x l1/ox"
                + " && setfattr -n trusted.overlay.opaque l1/oempty")) {
            var k = t.compare("", (fs, out) -> {
                for (String d : List.of("oy", "oyes", "on", "ox", "oempty")) {
                    out.add(d + ": " + fs.ls(d).stream().sorted().toList());
                    look(fs, out, d + "/below");
                }
            });
            assertEquals("oy: [top]", k.transcript().get(0));
            assertEquals("oyes: [below, top]", k.transcript().get(2));
        }
    }

    @Test void item03_xwhiteoutHiddenOnlyUnderOpaqueXMarker() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "mkdir -p l1/dx l1/dn l2/dx l2/dn && for d in dx dn; do echo 2 > l2/$d/w && echo 2 > l2/$d/keep"
                + " && touch l1/$d/w && setfattr -n trusted.overlay.whiteout -v y l1/$d/w && touch l1/$d/v && setfattr -n trusted.overlay.whiteout l1/$d/v; done"
                + " && setfattr -n trusted.overlay.opaque -v x l1/dx")) {
            var k = t.compare("", (fs, out) -> {
                for (String d : List.of("dx", "dn")) {
                    out.add(d + ": " + fs.ls(d).stream().sorted().toList());
                    look(fs, out, d + "/w", d + "/v", d + "/keep");
                }
            });
            assertEquals("dx: [keep]", k.transcript().get(0));
            assertEquals("dn: [keep, v, w]", k.transcript().get(4));
            assertEquals("stat dn/w: ENOENT", k.transcript().get(5));
        }
    }

    @Test void item04_mergedReaddirOrderDedupAndOriginDirsAreMerged() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "for n in a c e; do echo > l2/$n; done && for n in a b d; do echo > l1/$n; done"
                + " && mkdir -p l2/m l1/m && echo > l2/m/x && echo > l1/m/y && echo > l1/m/x")) {
            t.upperSetup = "for n in y z e; do echo > upper/$n; done && mknod upper/c c 0 0 && mkdir upper/m upper/u upper/p"
                    + " && echo > upper/m/z && mknod upper/m/y c 0 0 && setfattr -n trusted.overlay.origin upper/u"
                    + " && echo > upper/u/keep && mknod upper/u/gone c 0 0 && echo > upper/p/keep && mknod upper/p/gone c 0 0";
            var k = t.compare("", (fs, out) -> {
                out.add("root: " + fs.ls(""));
                out.add("m: " + fs.ls("m"));
                out.add("u (upper with origin): " + fs.ls("u").stream().sorted().toList());
                out.add("p (plain upper): " + fs.ls("p").stream().sorted().toList());
            });
            // §3.4 step 4: the lowest layer's names first in that layer's own (ext4 hash) order, whiteouts dropped,
            // then the names met only higher up, top down, each layer in its own order
            List<String> expected = new java.util.ArrayList<>();
            java.util.Set<String> hidden = java.util.Set.of("c");
            for (String layer : List.of("l2", "upper", "l1"))
                for (var d : org.overlayj.sys.Linux.readdir(t.L.root + "/" + layer))
                    if (!d.isDotOrDotDot() && !hidden.contains(d.name()) && !expected.contains(d.name())) expected.add(d.name());
            assertEquals("root: " + expected, k.transcript().getFirst());
            assertEquals("u (upper with origin): [keep]", k.transcript().get(2));
            assertEquals("p (plain upper): [gone, keep]", k.transcript().get(3));
        }
    }

    @Test void item05_rmOfLowerOnlyFileCreatesOneWhiteout() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "mkdir -p l2/d1/d2 l1/d1 && echo f > l2/d1/d2/f && echo g > l1/d1/g && echo top > l1/t")) {
            var k = t.compare("", (fs, out) -> {
                fs.unlink("d1/d2/f");
                fs.unlink("t");
                out.add(fs.ls("") + " " + fs.ls("d1/d2"));
                look(fs, out, "d1/d2/f", "t");
            });
            assertTrue(k.upper().contains("\nd1/d2/f WHITEOUT\n"), k.upper());
            assertTrue(k.upper().contains("\nt WHITEOUT\n"), k.upper());
            assertEquals(5, k.upper().lines().count(), k.upper()); // ., d1, d1/d2, d1/d2/f, t
        }
    }

    @Test void item06_rmdirThenMkdirGivesOpaqueDir() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "mkdir -p l2/dd l1/dd l1/de && echo x > l2/dd/x && echo y > l1/dd/y")) {
            var k = t.compare("", (fs, out) -> {
                out.add("rmdir nonempty: " + errno(() -> fs.rmdir("dd")));
                fs.unlink("dd/x");
                fs.unlink("dd/y");
                fs.rmdir("dd");
                fs.rmdir("de");
                fs.mkdir("dd", 0755);
                fs.mkdir("de", 0700);
                out.add("dd: " + fs.ls("dd") + " de: " + fs.ls("de"));
                look(fs, out, "dd/x", "dd/y");
            });
            assertTrue(k.upper().contains("\ndd 040755 0:0 n0 trusted.overlay.opaque=\"y\"\n"), k.upper());
            assertTrue(k.upper().contains("\nde 040700 0:0 n0 trusted.overlay.opaque=\"y\"\n"), k.upper());
        }
    }
}
