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
