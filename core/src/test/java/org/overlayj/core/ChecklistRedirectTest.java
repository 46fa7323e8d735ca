package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.ChecklistTwin.Mount;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.ChecklistTwin.errno;

/** Format doc §10 items 19–20 (redirect_dir), engine vs kernel. */
class ChecklistRedirectTest {
    static final String LOWER = "mkdir -p l1/a/b l1/a/c l1/p l1/top && echo x > l1/a/b/x && echo y > l1/a/c/y && echo t > l1/top/t";

    @Test void item19_redirectRelativeWithinParentAbsoluteAcrossAndResolvedAfterRemount() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, LOWER)) {
            ChecklistTwin.Scenario look = (fs, out) -> {
                out.add("a: " + fs.ls("a").stream().sorted().toList() + " p: " + fs.ls("p").stream().sorted().toList()
                        + " root: " + fs.ls("").stream().sorted().toList());
                out.add("a/b2/x=" + fs.read("a/b2/x").trim() + " p/c2/y=" + fs.read("p/c2/y").trim() + " top2/t=" + fs.read("top2/t").trim());
            };
            var k = t.compare("redirect_dir=on", (ChecklistTwin.Scenario) (fs, out) -> {
                fs.rename("a/b", "a/b2");   // same parent: relative
                fs.rename("a/c", "p/c2");   // another parent: absolute
                fs.rename("top", "top2");
                look.run(fs, out);
            }, look);
            assertTrue(k.upper().contains("\na/b2 040777 0:0 n0 trusted.overlay.origin=0x"), k.upper());
            assertTrue(k.upper().lines().anyMatch(l -> l.startsWith("a/b2 ") && l.endsWith("trusted.overlay.redirect=\"b\"")), k.upper());
            assertTrue(k.upper().lines().anyMatch(l -> l.startsWith("p/c2 ") && l.endsWith("trusted.overlay.redirect=\"/a/c\"")), k.upper());
            assertTrue(k.upper().lines().anyMatch(l -> l.startsWith("top2 ") && l.endsWith("trusted.overlay.redirect=\"top\"")), k.upper());
            assertTrue(k.upper().contains("\na/b WHITEOUT\n") && k.upper().contains("\na/c WHITEOUT\n"), k.upper());
            assertEquals(k.transcript().get(0), k.transcript().get(2));
            assertEquals("a/b2/x=x p/c2/y=y top2/t=t", k.transcript().get(3));
        }
    }

    @Test void item20_nofollowGivesEpermAndRenameWithoutRedirectGivesExdev() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, LOWER)) {
            var k = t.compare("", new Mount("redirect_dir=on", (fs, out) -> fs.rename("a/b", "a/b2")),
                    new Mount("redirect_dir=nofollow", (fs, out) -> {
                        out.add("nofollow ls a/b2: " + errno(() -> fs.ls("a/b2")) + " stat a/b2/x: " + errno(() -> fs.stat("a/b2/x")));
                        out.add("nofollow rename a/c: " + errno(() -> fs.rename("a/c", "a/c2")));
                    }),
                    new Mount("redirect_dir=off", (fs, out) -> {
                        out.add("off: stat a/b2: " + errno(() -> fs.stat("a/b2")) + " ls a/b2: " + errno(() -> fs.ls("a/b2")));
                        out.add("off rename a/c: " + errno(() -> fs.rename("a/c", "a/c2")) + " rename top: " + errno(() -> fs.rename("top", "top2")));
                    }));
            assertTrue(k.transcript().get(0).startsWith("nofollow ls a/b2: EPERM"), k.transcript().toString());
            assertEquals("nofollow rename a/c: EXDEV", k.transcript().get(1));
            assertEquals("off rename a/c: EXDEV rename top: EXDEV", k.transcript().get(3));
        }
    }
}
