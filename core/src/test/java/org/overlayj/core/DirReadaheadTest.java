package org.overlayj.core;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A listing with attributes (lookupAll, what READDIRPLUS asks) reads the real directories of the subdirectories it
 * shows ahead, in the background, and changes nothing in the layers; single lookups read nothing ahead.
 */
class DirReadaheadTest {
    private static String tree(Layers L) throws Exception {
        // Everything but access times: reading a directory may set its atime, as any listing does.
        return Layers.shOut("cd " + L.root + " && find l1 l2 upper -printf '%p %y %s %m %U %G %T@ %C@\\n' | sort");
    }

    @Test void aListingReadsItsSubdirectoriesAheadAndChangesNothing() throws Exception {
        try (Layers L = new Layers(2)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/top/a l1/top/b l2/top/a l2/top/c upper/top/a"
                    + " && for d in l1/top/a l1/top/b l2/top/a l2/top/c upper/top/a; do for i in 1 2 3; do echo $d > $d/f$i; done; done"
                    + " && echo plain > l1/top/file");
            try (Overlay o = L.mount(false, false)) {
                Node top = EngineSmokeTest.walk(o, "top");
                List<String> names = EngineSmokeTest.names(o, top);
                String before = tree(L); // after the mount, which marks the upper layer
                assertEquals(List.of("a", "b", "c", "file"), names);
                List<Found> found = o.lookupAll(top, names, Creds.ROOT);
                assertTrue(found.stream().allMatch(f -> f != null));
                // a merges upper/top/a, l1/top/a and l2/top/a; b and c have one real directory each: five.
                for (int i = 0; i < 3000 && EngineSeam.probe(o).dirsRead.sum() < 5; i++) Thread.sleep(10);
                assertEquals(5, EngineSeam.probe(o).dirsRead.sum(), "real directories read ahead");
                assertTrue(o.readahead.running());
                assertEquals(before, tree(L), "reading ahead changes nothing in the layers");
                o.close();
                assertFalse(o.readahead.running(), "closing the overlay stops the thread");
            }
        }
    }

    /**
     * A lookup of a lower entry that was just read ahead takes the stat read then (a lower layer does not change
     * while mounted), once, and makes no statx of its own; an upper entry is always stat'ed anew. Shown by a change
     * made behind the overlay's back after the readahead: the lower one is not seen by that lookup.
     */
    @Test void aLookupTakesTheLowerStatReadAheadOnce() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/top/low upper/top/up && echo x > l1/top/low/f"
                    + " && echo y > upper/top/up/g && chmod 644 l1/top/low/f upper/top/up/g");
            try (Overlay o = L.mount(false, false)) {
                o.readahead.keptNanos = 600_000_000_000L;  // a loaded machine may take its time between the two
                Node top = EngineSmokeTest.walk(o, "top");
                o.lookupAll(top, EngineSmokeTest.names(o, top), Creds.ROOT);
                for (int i = 0; i < 3000 && EngineSeam.probe(o).dirsRead.sum() < 2; i++) Thread.sleep(10);
                assertEquals(2, EngineSeam.probe(o).dirsRead.sum(), "real directories read ahead");
                Layers.sh("cd " + L.root + " && chmod 600 l1/top/low/f upper/top/up/g");
                Node low = EngineSmokeTest.walk(o, "top/low"), up = EngineSmokeTest.walk(o, "top/up");
                assertEquals(0644, o.lookupAttr(low, "f", Creds.ROOT).attr().mode() & 07777,
                        "the lower entry's stat is the one read ahead");
                assertNull(o.readahead.taken(L.root + "/l1/top/low/f"), "taken once");
                assertEquals(0600, o.lookupAttr(up, "g", Creds.ROOT).attr().mode() & 07777,
                        "an upper entry is stat'ed by its lookup");
            }
        }
    }

    /** Stats no lookup takes (a listing whose subdirectories the walker never enters) are dropped when idle. */
    @Test void statsNoLookupTookAreDroppedWhenIdle() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/top/a l1/top/b && echo x > l1/top/a/f && echo y > l1/top/b/g");
            try (Overlay o = L.mount(false, false)) {
                o.readahead.keptNanos = 1_000_000L;
                Node top = EngineSmokeTest.walk(o, "top");
                o.lookupAll(top, EngineSmokeTest.names(o, top), Creds.ROOT);
                for (int i = 0; i < 3000 && EngineSeam.probe(o).dirsRead.sum() < 2; i++) Thread.sleep(10);
                assertEquals(2, EngineSeam.probe(o).dirsRead.sum(), "real directories read ahead");
                for (int i = 0; i < 1000 && o.readahead.kept() > 0; i++) Thread.sleep(10);
                assertEquals(0, o.readahead.kept(), "nothing kept once the readahead is idle");
            }
        }
    }

    @Test void singleLookupsReadNothingAhead() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/top/a/b && echo x > l1/top/a/b/f");
            try (Overlay o = L.mount(false, false)) {
                Node b = EngineSmokeTest.walk(o, "top/a/b");
                assertNotNull(o.lookup(b, "f", Creds.ROOT));
                assertFalse(o.readahead.running(), "no thread for an overlay never listed with attributes");
                assertEquals(0, EngineSeam.probe(o).dirsRead.sum());
            }
        }
    }
}
