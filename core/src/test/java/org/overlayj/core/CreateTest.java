package org.overlayj.core;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Creates checked against the kernel over the same lowers: what the mount shows and the upper layer on disk. */
class CreateTest {

    /**
     * An object made over a whiteout is made aside in the work dir and renamed into place, so it does not inherit
     * the group of a setgid parent by being made there: it must be given it (2000-run seed 257 of the FUSE
     * differential: rename /d/a /g/c/b; mkdir /d/a showed 0:0, the kernel 0:100).
     */
    @Test void overAWhiteoutInASetgidDirectoryTheNewObjectGetsTheParentsGroup() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1,
                "mkdir -p l1/s/e l1/x && echo a > l1/s/a && echo c > l1/s/c && chgrp 100 l1/s && chmod 2775 l1/s")) {
            var k = t.compare("", (ChecklistTwin.Scenario) (fs, out) -> {
                fs.rename("s/a", "x/a");
                fs.mkdir("s/a", 0700);
                fs.rmdir("s/e");
                fs.mkdir("s/e", 0700);
                fs.unlink("s/c");
                fs.append("s/c", "new");
                fs.mkdir("s/fresh", 0755);
                for (String p : List.of("s/a", "s/e", "s/c", "s/fresh")) {
                    out.add(p + " " + fs.stat(p).uid() + ":" + fs.stat(p).gid() + " "
                            + Integer.toOctalString(fs.stat(p).mode() & 07777));
                }
            });
            assertEquals(List.of("s/a 0:100 2700", "s/e 0:100 2700", "s/c 0:100 644", "s/fresh 0:100 2755"),
                    k.transcript());
        }
    }
}
