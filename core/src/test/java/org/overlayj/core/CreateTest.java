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

    /**
     * A create right after a lookup that found nothing does not look again (Node#absent); any change in between
     * voids that, so a name made meanwhile still gives EEXIST, and a name whited out meanwhile is made over its
     * whiteout.
     */
    @Test void aCreateTrustsOnlyTheLookupJustBeforeIt() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo low > l1/d/w");
            try (Overlay o = L.mount(false, false)) {
                Node d = EngineSmokeTest.walk(o, "d");
                assertEquals(org.overlayj.sys.Errno.ENOENT, org.junit.jupiter.api.Assertions.assertThrows(
                        org.overlayj.sys.ErrnoException.class, () -> o.lookup(d, "y", Creds.ROOT)).errno());
                o.mkdir(d, "y", 0755, Creds.ROOT);
                assertEquals(org.overlayj.sys.Errno.EEXIST, org.junit.jupiter.api.Assertions.assertThrows(
                        org.overlayj.sys.ErrnoException.class, () -> o.create(d, "y", 0100644, Creds.ROOT)).errno(),
                        "made after the lookup");

                o.unlink(d, "w", Creds.ROOT);
                assertEquals(org.overlayj.sys.Errno.ENOENT, org.junit.jupiter.api.Assertions.assertThrows(
                        org.overlayj.sys.ErrnoException.class, () -> o.lookup(d, "w", Creds.ROOT)).errno());
                Overlay.Created c = o.createOpen(d, "w", 0100600, org.overlayj.sys.Linux.O_RDWR, Creds.ROOT);
                o.release(c.file());
                assertEquals(0100600, c.attr().mode());
                assertEquals(0100600, org.overlayj.sys.Linux.lstat(L.upper + "/d/w").mode(), "over its whiteout");
                assertEquals(0, o.getattr(o.lookup(d, "w", Creds.ROOT)).size());
            }
        }
    }
}
