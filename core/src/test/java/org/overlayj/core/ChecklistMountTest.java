package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.ChecklistTwin.Mount;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.ChecklistTwin.NOTHING;
import static org.overlayj.core.ChecklistTwin.errno;

/**
 * Format doc §10 items 26 (userxattr), 27 (escaping), 28 (volatile, W/work), engine vs kernel. Items 21
 * (metacopy) and 22 (data-only layers): ChecklistMetacopyTest.
 */
class ChecklistMountTest {

    @Test void item26_userxattrNamespaceAndForcedOptions() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo f > l1/f && echo h > l1/h && ln l1/h l1/h2 && mkdir -p l1/d l1/e && echo x > l1/d/x && echo y > l1/e/y")) {
            var k = t.compareWithMessages("", new Mount("userxattr,index=on", (fs, out) -> {
                fs.append("f", "1\n");
                fs.append("h", "1\n");
                fs.unlink("d/x");
                fs.rmdir("d");
                fs.mkdir("d", 0755);
                out.add("rename lower dir: " + errno(() -> fs.rename("e", "e2")));
                out.add("h2 nlink " + fs.stat("h2").nlink() + " listxattr f " + fs.listxattr("f"));
            }), new Mount("userxattr,redirect_dir=on", NOTHING), new Mount("userxattr,metacopy=on", NOTHING),
                    new Mount("userxattr,redirect_dir=follow", NOTHING));
            assertEquals(List.of("rename lower dir: EXDEV", "h2 nlink 2 listxattr f []", "mount: EINVAL", "mount: EINVAL", "mount: EINVAL"),
                    k.transcript());
            assertFalse(k.upper().contains("trusted.overlay"), k.upper());
            assertFalse(k.work().contains("trusted.overlay"), k.work());
            assertTrue(k.upper().contains("\nd 040755 0:0 n0 user.overlay.opaque=\"y\"\n"), k.upper());
            assertTrue(k.upper().contains("user.overlay.origin=0x"), k.upper());
            assertTrue(k.upper().contains("user.overlay.nlink=\"U+0\""), k.upper());
            assertTrue(k.work().contains("user.overlay.upper=upper-blob["), k.work());
        }
    }

    @Test void item27_escapedOverlayXattrs() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo f > l1/f && setfattr -n trusted.overlay.overlay.low -v L l1/f && echo g > l1/g"
                + " && setfattr -n trusted.overlay.opaque -v y l1/g")) {
            var k = t.compare("", (fs, out) -> {
                out.add("lower f: " + fs.listxattr("f") + " low=" + new String(fs.getxattr("f", "trusted.overlay.low")));
                out.add("lower g (a real marker is hidden): " + fs.listxattr("g") + " " + errno(() -> fs.getxattr("g", "trusted.overlay.opaque")));
                fs.setxattr("f", "trusted.overlay.mine", "M".getBytes());
                fs.setxattr("g", "trusted.overlay.opaque", "y".getBytes());
                out.add("after set f: " + fs.listxattr("f") + " g: " + fs.listxattr("g") + " "
                        + new String(fs.getxattr("g", "trusted.overlay.opaque")));
                out.add("upper f: " + Linux.llistxattr(t.L.upper + "/f").stream().sorted().toList());
                out.add("upper g: " + Linux.llistxattr(t.L.upper + "/g").stream().sorted().toList());
            });
            assertEquals("lower f: [trusted.overlay.low] low=L", k.transcript().get(0));
            assertTrue(k.transcript().get(3).contains("trusted.overlay.overlay.low") && k.transcript().get(3).contains("trusted.overlay.overlay.mine"),
                    k.transcript().get(3));
            assertTrue(k.transcript().get(4).contains("trusted.overlay.overlay.opaque"), k.transcript().get(4));
        }
    }

    @Test void item28_volatileDirtyBlocksTheMountAndWorkLeftoversAreCleared() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo f > l1/f")) {
            ChecklistTwin.Scenario work = (fs, out) -> out.add("W/work: " + Linux.readdir(t.L.work + "/work").stream()
                    .filter(d -> !d.isDotOrDotDot()).map(d -> d.name()).sorted().toList()
                    + " write: " + errno(() -> fs.append("new", "1\n")));
            var k = t.compareWithMessages("", new Mount("volatile", (fs, out) -> fs.append("f", "1\n")),
                    "test -f work/work/incompat/volatile/dirty", new Mount("", NOTHING),
                    "rm -rf work/work/incompat", "mkdir -p work/work/a/b work/work/e && touch work/work/a/f work/work/f", work,
                    "mkdir -p work/work/d/x/y && touch work/work/d/x/y/h", work);
            assertEquals(List.of("mount: EINVAL", "W/work: [] write: ok", "W/work: [d] write: EROFS"), k.transcript()); // too deep to clear: read-only, as the kernel
            assertTrue(k.messages().stream().anyMatch(l -> l.contains("overlay with incompat feature 'volatile' cannot be mounted")), k.messages().toString());
        }
    }
}
