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

    /**
     * Issue 19 bug 2: a redirect met inside the path of another redirect, in a middle layer. Three mounts, each
     * rotating the old upper into the lowers (unionmount-testsuite --ov=10 rename-move-dir): mount 1 renames
     * a/dir102 to a/dir102x (relative redirect "dir102" in layer 0), mount 2 moves it to a/empty102/dir102
     * (absolute "/a/dir102x" in layer 1), mount 3 lists it: the relative redirect renames the last component of
     * the absolute path ("/a/dir102"), not a name under a/empty102. Layers written by each side, and written by the
     * kernel and read by the engine.
     */
    static final String CHAIN_LOWER = "mkdir -p l1/a/dir102/a l1/a/dir102/pop l1/a/empty102 && touch l1/a/dir102/pop/b";
    static final String ROTATE = "rm -rf u0 u1 w0 w1 && mkdir u0 u1 w0 w1";

    private static List<Object> chainSteps(String opts) {
        ChecklistTwin.Scenario look = (fs, out) -> out.add("dir102: " + fs.ls("a/empty102/dir102").stream().sorted().toList()
                + " pop: " + fs.ls("a/empty102/dir102/pop") + " a: " + fs.ls("a"));
        return List.of(ROTATE,
                new Mount("lowerdir=$R/l1,upperdir=$R/u0,workdir=$R/w0," + opts, (fs, out) -> fs.rename("a/dir102", "a/dir102x")),
                new Mount("lowerdir=$R/u0:$R/l1,upperdir=$R/u1,workdir=$R/w1," + opts,
                        (fs, out) -> fs.rename("a/dir102x", "a/empty102/dir102")),
                new Mount("lowerdir=$R/u1:$R/u0:$R/l1,upperdir=$R/upper,workdir=$R/work," + opts, look));
    }

    @Test void issue19_redirectChainThroughMiddleLayers() throws Exception {
        for (String opts : List.of("index=on,nfs_export=on,redirect_dir=on", "redirect_dir=on",
                "metacopy=on,index=on,redirect_dir=on")) {
            try (ChecklistTwin t = new ChecklistTwin(1, CHAIN_LOWER)) {
                // transcripts only: the last upper's origins name the rotated layers' inodes, new on each side
                var k = t.kernel("", chainSteps(opts).toArray());
                var e = t.engine("", chainSteps(opts).toArray());
                assertEquals(k.transcript(), e.transcript(), opts);
                assertEquals("dir102: [a, pop] pop: [b] a: [empty102]", k.transcript().getFirst(), opts);
            }
        }
    }

    @Test void issue19_redirectChainWrittenByTheKernelReadByTheEngine() throws Exception {
        String opts = "index=on,nfs_export=on,redirect_dir=on";
        try (ChecklistTwin t = new ChecklistTwin(1, CHAIN_LOWER)) {
            List<Object> steps = chainSteps(opts);
            // the kernel writes layers 0 and 1; then the last mount on each side over the same layers
            t.kernel("", steps.subList(0, 3).toArray());
            Mount last = (Mount) steps.get(3);
            var k = t.run(true, "", last);
            t.reset();
            var e = t.run(false, "", last);
            assertEquals(k.transcript(), e.transcript());
            assertEquals("dir102: [a, pop] pop: [b] a: [empty102]", e.transcript().getFirst());
        }
    }
}
