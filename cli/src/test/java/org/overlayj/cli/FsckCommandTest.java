package org.overlayj.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code overlayj fsck}: clean kernel-written layers pass; seeded defects are each reported; --repair does the
 * kernel's part.
 */
class FsckCommandTest {
    private ToolLayers L;

    @BeforeEach void layers() throws Exception {
        L = new ToolLayers();
        L.kernelScenario();
    }

    @AfterEach void cleanup() throws Exception {
        L.close();
    }

    private static String blobHex(String lowerPath) throws Exception {
        var h = Linux.nameToHandle(lowerPath, 0);
        byte[] uuid = org.overlayj.core.layer.FsIdentity.fsUuid(Path.of(lowerPath).getParent().toString());
        return org.overlayj.core.fh.Fh.of(h, uuid, false).hex();
    }

    @Test void kernelWrittenLayersAreClean() {
        ToolLayers.Run r = ToolLayers.overlayj("fsck", "-o", L.opts());
        assertEquals(0, r.code(), r.toString());
        assertEquals("fsck: 0 findings\n", r.out());
    }

    @Test void seededDefectsAreReportedAndTheKernelsRepairsMade() throws Exception {
        Path idx = L.work.resolve("index");
        String single = blobHex(L.l2 + "/single"), a = blobHex(L.l2 + "/a");
        ToolLayers.sh(String.join(" && ",
                "cd " + L.root,
                "echo tmp > 'w/work/#4a'", "mkdir -p 'w/work/#4b/x' && touch 'w/work/#4b/f'",  // crashed copy-ups
                "echo junk > 'w/index/#junk'",
                "rm u/single && setfattr -n trusted.overlay.nlink -v U-1 w/index/" + single,    // orphan
                "setfattr -n trusted.overlay.opaque -v yes u/d/pure",
                "setfattr -n trusted.overlay.redirect -v nothere u/rd2",
                "setfattr -n trusted.overlay.origin -v garbage u/d/pure/p",
                "setfattr -n trusted.overlay.nlink -v U+5 w/index/" + a,
                "setfattr -n trusted.overlay.nlink -v X+1 u/d/pure",
                "setfattr -n trusted.overlay.protattr -v az u/d/pure/p",
                "setfattr -n trusted.overlay.metacopy -v ab u/d/pure/p",
                "touch u/d/.wh.f",
                "mkdir u/plain && mknod u/plain/gone c 0 0"));
        ToolLayers.Run r = ToolLayers.overlayj("fsck", "-o", L.opts());
        assertEquals(1, r.code(), r.toString());
        List<String> want = List.of(
                "work-temp: work/work/#4a: ", "work-temp: work/work/#4b: ",
                "index-temp: work/index/#junk: ",
                // lower 2:/single still shows: the kernel would make it EIO; --repair undoes the copy-up instead
                "index-orphan: work/index/" + single + ": no upper alias and a single-link lower inode: at mount "
                        + "turned into a whiteout (orphan, nfs_export), and lower 2:/single gives EIO from then on",
                "opaque: upper:/d/pure: 'opaque' xattr is \"yes\"",
                "redirect: upper:/rd2: redirect to 'nothere' names no lower directory",
                "origin: upper:/d/pure/p: 'origin' xattr is malformed",
                "nlink: upper:/d/pure: 'nlink' xattr \"X+1\" is malformed",
                "protattr: upper:/d/pure/p: 'protattr' xattr \"az\"",
                "metacopy: upper:/d/pure/p: 'metacopy' xattr of 2 bytes",
                "whiteout: upper:/d/.wh.f: ",
                "whiteout: upper:/plain/gone: whiteout in a directory that is not merged");
        for (String w : want) assertTrue(r.out().lines().anyMatch(l -> l.startsWith(w)), w + "\n" + r);
        assertTrue(r.out().endsWith("fsck: " + want.size() + " findings\n"), r.toString());

        // a live mount blocks a repair
        L.kernelMount(ToolLayers.FEATURES);
        try {
            ToolLayers.Run busy = ToolLayers.overlayj("fsck", "-o", L.opts(), "--repair");
            assertEquals(2, busy.code(), busy.toString());
            assertTrue(busy.err().contains("EBUSY"), busy.toString());
        } finally {
            L.kernelUmount();
        }
        // that mount whited out the orphan: lower 2:/single gives EIO now, which fsck says and --repair undoes
        ToolLayers.Run eio = ToolLayers.overlayj("fsck", "-o", L.opts());
        assertTrue(eio.out().contains("bad-index: lower 2:/single: its index entry " + single + " is a whiteout: "
                + "lookup gives EIO (\"bad index found\"); --repair removes the whiteout"), eio.toString());
        // that mount repaired the index itself; seed its part again
        ToolLayers.sh("cd " + L.root + " && rm w/index/" + single + " && echo junk > 'w/index/#junk'"
                + " && echo tmp > 'w/work/#4a' && mkdir -p 'w/work/#4b/x' && touch 'w/work/#4b/f'"
                + " && cp -a u/a w/index/tmp && mv w/index/tmp w/index/" + single
                + " && setfattr -n trusted.overlay.origin -v 0x" + single + " w/index/" + single
                + " && setfattr -n trusted.overlay.nlink -v U-1 w/index/" + single);

        ToolLayers.Run fix = ToolLayers.overlayj("fsck", "-o", L.opts(), "--repair");
        assertEquals(1, fix.code(), fix.toString());
        for (String w : List.of("work-temp: work/work/#4a: ", "work-temp: work/work/#4b: ",
                "index-temp: work/index/#junk: ", "index-orphan: work/index/" + single)) {
            assertTrue(fix.out().lines().anyMatch(l -> l.startsWith(w) && l.endsWith("[repaired]")), w + "\n" + fix);
        }
        assertTrue(fix.out().endsWith(", 4 repaired\n"), fix.toString());
        assertNull(Linux.lstatOrNull(idx.resolve(single).toString()), "the interrupted copy-up undone, no whiteout");
        try (Stream<Path> s = Files.list(L.work.resolve("work"))) {
            assertEquals(0, s.count());
        }

        ToolLayers.Run again = ToolLayers.overlayj("fsck", "-o", L.opts());
        assertEquals(1, again.code(), again.toString());
        assertFalse(again.out().contains("work-temp") || again.out().contains("index-"), again.toString());
        assertFalse(again.out().contains("bad-index"), again.toString());
        assertTrue(again.out().endsWith("fsck: 8 findings\n"), again.toString());

        // the kernel mounts the repaired layers with nothing new to say about them
        List<String> keys = new ArrayList<>(List.of(L.root.toString()));
        try (Stream<Path> s = Files.list(idx)) {
            s.forEach(p -> keys.add(p.getFileName().toString()));
        }
        String log = ToolLayers.dmesgMark();
        L.kernelMount(ToolLayers.FEATURES);
        try {
            assertEquals("s\n", Files.readString(L.mnt.resolve("single")), "the lower file is reachable");
        } finally {
            L.kernelUmount();
        }
        assertEquals(List.of(), ToolLayers.dmesgSince(log, keys));
    }

    /**
     * Layers the kernel copied up with index=on and nfs_export=off (it indexes lower hard links only then), checked
     * for export with nfs_export=on: every copied-up directory and single-link file has no index entry, a state the
     * kernel mounts and serves with nothing logged. fsck notes them, exits 0, and shows only the first ten;
     * --repair writes their entries (shown, tagged) and the kernel's export mount keeps them with no log line.
     */
    @Test void copyUpsWithoutNfsExportAreNotesNotFindings() throws Exception {
        try (ToolLayers K = new ToolLayers()) {
            StringBuilder seed = new StringBuilder("cd " + K.root);
            StringBuilder touch = new StringBuilder("cd " + K.mnt);
            for (int i = 0; i < 7; i++) {
                seed.append(" && mkdir l2/d").append(i).append(" && echo ").append(i).append(" > l2/f").append(i);
                touch.append(" && touch d").append(i).append("/new && echo more >> f").append(i);
            }
            ToolLayers.sh(seed.toString());
            K.kernelMount("index=on,redirect_dir=on");
            ToolLayers.sh(touch.toString());
            K.kernelUmount();

            ToolLayers.Run r = ToolLayers.overlayj("fsck", "-o", K.opts());
            assertEquals(0, r.code(), r.toString());
            assertEquals(FsckCommand.NOTES_SHOWN, r.out().lines().filter(l -> l.startsWith("index-missing: upper:/")
                    && l.endsWith("[note]")).count(), r.toString());
            assertTrue(r.out().endsWith("fsck: 4 more notes not shown (--repair shows and repairs them all)\n"
                    + "fsck: 0 findings, 14 notes\n"), r.toString());

            ToolLayers.Run fix = ToolLayers.overlayj("fsck", "-o", K.opts(), "--repair");
            assertEquals(0, fix.code(), fix.toString());
            assertEquals(14, fix.out().lines().filter(l -> l.startsWith("index-missing: upper:/")
                    && l.endsWith("[repaired]")).count(), fix.toString());
            assertTrue(fix.out().endsWith("fsck: 0 findings, 14 notes, 14 repaired\n"), fix.toString());
            ToolLayers.Run again = ToolLayers.overlayj("fsck", "-o", K.opts());
            assertEquals("fsck: 0 findings\n", again.out(), again.toString());

            List<String> keys = new ArrayList<>(List.of(K.root.toString()));
            try (Stream<Path> s = Files.list(K.work.resolve("index"))) {
                s.forEach(p -> keys.add(p.getFileName().toString()));
            }
            assertEquals(15, keys.size(), "an entry for each of the 14, " + keys);
            String log = ToolLayers.dmesgMark();
            K.kernelMount(ToolLayers.FEATURES);
            try {
                ToolLayers.sh("cd " + K.mnt + " && test \"$(cat f3)\" = $'3\\nmore' && test -e d5/new");
            } finally {
                K.kernelUmount();
            }
            assertEquals(List.of(), ToolLayers.dmesgSince(log, keys));
            try (Stream<Path> s = Files.list(K.work.resolve("index"))) {
                assertEquals(14, s.count(), "the kernel kept the entries");
            }
        }
    }
}
