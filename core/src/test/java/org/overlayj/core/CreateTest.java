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

    /**
     * In a directory with nothing below it, a new name is not looked up before it is made: the exclusive make finds
     * a taken name itself, and only then is the name looked up, to tell a visible object (EEXIST, for every kind of
     * make, and before EACCES for a caller who may not write there, the VFS's order) from a whiteout, which the new
     * object replaces (Namespace#existsDeferred). Checked to fail with the lookup after the make's EEXIST left out
     * (a visible file was then taken for a whiteout and replaced).
     */
    @Test void aNameTakenInADirectoryWithNothingBelowIsFoundByTheMakeItself() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/low && echo low > l1/low/w");
            try (Overlay o = L.mount(false, false)) {
                Node root = o.root();
                Node n = o.mkdir(root, "n", 0755, Creds.ROOT);
                Overlay.Created f = o.createOpen(n, "f", 0100644, org.overlayj.sys.Linux.O_RDWR, Creds.ROOT);
                o.write(f.file(), 0, "kept".getBytes(), 0, 4);
                o.release(f.file());
                Creds user = new Creds(1000, 1000, new int[0]);
                for (Creds c : List.of(Creds.ROOT, user)) {
                    assertEquals(org.overlayj.sys.Errno.EEXIST, errno(() -> o.create(n, "f", 0100600, c)), "create " + c.uid());
                    assertEquals(org.overlayj.sys.Errno.EEXIST, errno(() -> o.createOpen(n, "f", 0100600,
                            org.overlayj.sys.Linux.O_RDWR, c)), "createOpen " + c.uid());
                    assertEquals(org.overlayj.sys.Errno.EEXIST, errno(() -> o.mkdir(n, "f", 0700, c)), "mkdir " + c.uid());
                    assertEquals(org.overlayj.sys.Errno.EEXIST, errno(() -> o.symlink(n, "f", "x", c)), "symlink " + c.uid());
                }
                assertEquals(org.overlayj.sys.Errno.EACCES, errno(() -> o.create(n, "g", 0100600, user)), "a new name");
                assertEquals("kept", new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of(L.upper + "/n/f"))));

                // a whiteout in it (left by a tool, or by a directory that had a lower once): replaced by the create
                Layers.sh("mknod " + L.upper + "/n/w c 0 0");
                assertEquals(org.overlayj.sys.Errno.ENOENT, errno(() -> o.lookup(n, "w", Creds.ROOT)));
                Overlay.Created w = o.createOpen(n, "w", 0100640, org.overlayj.sys.Linux.O_RDWR, Creds.ROOT);
                o.release(w.file());
                assertEquals(0100640, org.overlayj.sys.Linux.lstat(L.upper + "/n/w").mode(), "over the whiteout");
                Node d = o.mkdir(root, "m", 0755, Creds.ROOT);
                Layers.sh("mknod " + L.upper + "/m/sub c 0 0");
                o.mkdir(d, "sub", 0700, Creds.ROOT);
                assertEquals(true, org.overlayj.sys.Linux.lstat(L.upper + "/m/sub").isDir(), "a directory over it");
            }
        }
    }

    /**
     * A directory or file made through the overlay is looked up again without reading its xattrs (llistxattr,
     * lgetxattr of an opaque marker) while no change that could write one came since (Node#knownMarkers): an NFS
     * client looks up its working directory before every call. Creates and removals of files made here keep them; a rename
     * (any change but those) voids them, and the lookup reads the xattrs again; what the lookups find is the same
     * either way, with and without index and redirect_dir (opaque new directories, or not).
     */
    @Test void aDirectoryMadeHereIsLookedUpWithTheMarkersItWasMadeWith() throws Exception {
        for (boolean on : new boolean[]{false, true}) {
            try (Layers L = new Layers(1)) {
                Layers.sh("cd " + L.root + " && mkdir -p l1/low/sub && echo x > l1/low/x");
                try (Overlay o = L.mount(on, on)) {
                    EngineSeam.Recorder probe = EngineSeam.probe(o);
                    Node root = o.root();
                    Node n = o.mkdir(root, "n", 0755, Creds.ROOT);
                    o.release(o.createOpen(n, "f", 0100644, org.overlayj.sys.Linux.O_RDWR, Creds.ROOT).file());
                    assertEquals(n, o.lookup(root, "n", Creds.ROOT));
                    o.release(o.createOpen(n, "g", 0100644, org.overlayj.sys.Linux.O_RDWR, Creds.ROOT).file());
                    o.unlink(n, "g", Creds.ROOT);               // (its look at the victim: one)
                    assertEquals(n, o.lookup(root, "n", Creds.ROOT));
                    Node f = o.lookup(n, "f", Creds.ROOT);
                    assertEquals(4, probe.knownMarkers.sum(), "from the node, index " + on);
                    assertEquals(0, o.getattr(f).size());
                    assertEquals(List.of("f"), o.readdir(n, 0, 100, Creds.ROOT).stream().map(DirEntry::name)
                            .filter(x -> !x.equals(".") && !x.equals("..")).toList());
                    assertEquals(on, org.overlayj.sys.Linux.lgetxattrOrNull(L.upper + "/n", "trusted.overlay.opaque") != null);

                    o.rename(n, "f", n, "h", 0, Creds.ROOT);
                    long before = probe.knownMarkers.sum();    // (the rename's own look before its change: one)
                    Node again = o.lookup(root, "n", Creds.ROOT);
                    assertEquals(n, again);
                    assertEquals(f, o.lookup(n, "h", Creds.ROOT));
                    assertEquals(before, probe.knownMarkers.sum(), "read again after a rename");
                    // a directory made in a lower one: merges nothing, its lookups the same
                    Node low = o.lookup(root, "low", Creds.ROOT);
                    Node d = o.mkdir(low, "d", 0700, Creds.ROOT);
                    assertEquals(d, o.lookup(low, "d", Creds.ROOT));
                    assertEquals(before + 1, probe.knownMarkers.sum());
                    assertEquals(0, o.readdir(d, 0, 100, Creds.ROOT).stream()
                            .filter(x -> !x.name().equals(".") && !x.name().equals("..")).count());
                }
            }
        }
    }

    private static int errno(org.junit.jupiter.api.function.Executable e) {
        return org.junit.jupiter.api.Assertions.assertThrows(org.overlayj.sys.ErrnoException.class, e).errno();
    }
}
