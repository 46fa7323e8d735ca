package org.overlayj.core;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The engine's node cache holds nodes weakly: what nobody holds any more leaves the cache, and what is held stays. */
class NodeCacheTest {
    @Test void collectedNodesLeaveTheCacheAndHeldOnesStay() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && cd l1/d && for i in $(seq 1 3000); do : > f$i; done");
            try (Overlay o = L.mount(false, false)) {
                Node d = EngineSmokeTest.walk(o, "d");
                Node held = o.lookup(d, "f1", Creds.ROOT);
                // Held while counted: a collection in the middle of the loop (other tests' garbage in this JVM)
                // would otherwise take some away before the count.
                java.util.List<Node> all = new java.util.ArrayList<>();
                for (int i = 2; i <= 3000; i++) all.add(o.lookup(d, "f" + i, Creds.ROOT));
                int cached = EngineSeam.cachedInodes(o);
                assertTrue(cached >= 3000, "every looked-up file is cached: " + cached);
                all = null;
                // The GC is asked, not told: a few rounds until the unreferenced nodes were collected.
                for (int round = 0; round < 50 && EngineSeam.cachedInodes(o) > 100; round++) {
                    System.gc();
                    Thread.sleep(20);
                }
                assertTrue(EngineSeam.cachedInodes(o) <= 100, "collected nodes purged: " + EngineSeam.cachedInodes(o));
                assertSame(held, o.lookup(d, "f1", Creds.ROOT), "a held node is still the cached one");
            }
        }
    }
}
