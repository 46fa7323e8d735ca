package org.overlayj.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code overlayj index}: lists a kernel-written index, and predicts exactly what the kernel's mount-time check
 * does.
 */
class IndexCommandTest {
    private ToolLayers L;

    @BeforeEach void layers() throws Exception {
        L = new ToolLayers();
        L.kernelScenario();
    }

    @AfterEach void cleanup() throws Exception {
        L.close();
    }

    /** The index name of a lower object: hex of its fh blob (the lower fs uuid as the kernel puts it). */
    private static String blobHex(String lowerPath) throws Exception {
        var h = Linux.nameToHandle(lowerPath, 0);
        byte[] uuid = org.overlayj.core.layer.FsIdentity.fsUuid(Path.of(lowerPath).getParent().toString());
        return org.overlayj.core.fh.Fh.of(h, uuid, false).hex();
    }

    @Test void listsTheKernelsIndex() throws Exception {
        ToolLayers.Run r = ToolLayers.overlayj("index", "-o", L.opts(), "list");
        assertEquals(0, r.code(), r.toString());
        String a = blobHex(L.l2 + "/a");
        assertTrue(r.out().contains(a + " hard-link nlink=3 union=3 upper=upper:/a,upper:/a4 origin=lower 2:/a"),
                r.out());
        assertTrue(r.out().contains(blobHex(L.l2 + "/single") + " hard-link nlink=2 union=1 upper=upper:/single "
                + "origin=lower 2:/single"), r.out());
        assertTrue(r.out().contains(blobHex(L.l2 + "/rd") + " dir nlink=2 upper=upper:/rd2 origin=lower 2:/rd"),
                r.out());
        assertTrue(r.out().contains(blobHex(L.l1 + "/t") + " whiteout nlink="), r.out());
        Map<String, Long> kinds = new LinkedHashMap<>();
        for (String line : r.out().lines().toList()) {
            String[] f = line.split(" ");
            if (!line.startsWith("index:")) kinds.merge(f[1], 1L, Long::sum);
        }
        assertEquals(2, kinds.get("hard-link"), r.out());
        assertEquals(3, kinds.get("dir"), r.out());
        assertEquals(2, kinds.get("whiteout"), r.out());
        // the default action is list
        assertEquals(r.out(), ToolLayers.overlayj("index", "-o", L.opts()).out());

        ToolLayers.Run v = ToolLayers.overlayj("index", "-o", L.opts(), "verify");
        assertEquals(0, v.code(), v.toString());
        assertTrue(v.out().endsWith("0 problems\n"), v.out());
    }

    @Test void verifyPredictsTheKernelsCleanup() throws Exception {
        Path idx = L.work.resolve("index");
        String single = blobHex(L.l2 + "/single"), rd = blobHex(L.l2 + "/rd"), de = blobHex(L.l2 + "/d/e"),
                a = blobHex(L.l2 + "/a"), d = blobHex(L.l1 + "/d");
        // orphan: its only upper alias removed. Its count says 1 (U+0 on the lone index link), which the kernel
        // ignores for a single-link lower inode: an orphan all the same (before issue 16 the tools said "kept")
        ToolLayers.sh("rm " + L.upper.resolve("single") + " && setfattr -n trusted.overlay.nlink -v U+0 " + idx.resolve(single));
        // orphan dir: the upper dir its 'upper' xattr names is gone
        ToolLayers.sh("rm -rf " + L.upper.resolve("rd2"));
        // stale dir entry: no 'upper' xattr
        ToolLayers.sh("setfattr -x trusted.overlay.upper " + idx.resolve(de));
        // stale hard link: its origin is not its name
        ToolLayers.sh("setfattr -n trusted.overlay.origin -v 0x" + single + " " + idx.resolve(a));
        // a crashed copy-up's leftover
        ToolLayers.sh("echo junk > '" + idx.resolve("#junk") + "'");
        List<String> before = names(idx);

        ToolLayers.Run v = ToolLayers.overlayj("index", "-o", L.opts(), "verify");
        assertEquals(1, v.code(), v.toString());
        assertTrue(v.out().contains(single + ": orphan: no upper alias and a single-link lower inode: turned into a whiteout"), v.out());
        assertTrue(v.out().contains(rd + ": orphan: its upper directory is gone: turned into a whiteout"), v.out());
        assertTrue(v.out().contains(de + ": dir: directory entry without 'upper' xattr: removed (stale)"), v.out());
        assertTrue(v.out().contains(a + ": hard-link: its 'origin' xattr is not its name: removed (stale)"), v.out());
        assertTrue(v.out().contains("#junk: temp: leftover temporary: removed (temporary)"), v.out());
        assertTrue(v.out().endsWith("5 problems\n"), v.out());
        assertEquals(before, names(idx), "verify changes nothing");

        // the kernel does exactly that at mount
        String log = ToolLayers.dmesgMark();
        L.kernelMount(ToolLayers.FEATURES);
        L.kernelUmount();
        assertTrue(ToolLayers.dmesgSince(log, List.of(single)).stream().anyMatch(l -> l.contains("orphan index")),
                "the kernel logged the orphan it found");
        assertNull(Linux.lstatOrNull(idx.resolve(de).toString()));
        assertNull(Linux.lstatOrNull(idx.resolve(a).toString()));
        assertNull(Linux.lstatOrNull(idx.resolve("#junk").toString()));
        assertTrue(Linux.lstat(idx.resolve(single).toString()).isWhiteout());
        assertTrue(Linux.lstat(idx.resolve(rd).toString()).isWhiteout());
        Stat dir = Linux.lstatOrNull(idx.resolve(d).toString());
        assertNotNull(dir, "kept");
        assertTrue(dir.isDir());
        ToolLayers.Run after = ToolLayers.overlayj("index", "-o", L.opts(), "verify");
        assertEquals(0, after.code(), after.toString());
    }

    @Test void badNameRefusesTheMount() throws Exception {
        ToolLayers.sh("touch " + L.work.resolve("index/zz"));
        ToolLayers.Run v = ToolLayers.overlayj("index", "-o", L.opts(), "verify");
        assertEquals(1, v.code(), v.toString());
        assertTrue(v.out().contains("zz: bad: failed to verify index: bad name length (EINVAL): the mount fails"),
                v.out());
        assertEquals(2, ToolLayers.overlayj("index", "-o", L.opts(), "frobnicate").code());
    }

    private static List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
