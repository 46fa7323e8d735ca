package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * A node reached by several names keeps working when the name it was last reached by goes away: doors hold nodes
 * (the FUSE kernel caches names for long and asks for attributes by node, not by name).
 */
class HardLinkPlaceTest {
    static final Creds R = Creds.ROOT;

    @Test void unlinkOfTheNewNameLeavesTheOldOneWorking() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/a l1/b && echo hello > l1/a/f");
            try (Overlay o = L.mount(false, false)) {
                Node f = EngineSmokeTest.walk(o, "a/f");
                Node b = EngineSmokeTest.walk(o, "b");
                assertSame(f, o.link(f, b, "g", R));
                assertEquals(2, o.getattr(f).nlink());
                o.unlink(b, "g", R);
                assertEquals(1, o.getattr(f).nlink(), "still reached through a/f");
                assertEquals(6, o.getattr(f).size());
            }
        }
    }

    @Test void unlinkOfTheOldNameMovesTheNodeToTheNewOne() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/a l1/b && echo hello > l1/a/f");
            try (Overlay o = L.mount(false, false)) {
                Node a = EngineSmokeTest.walk(o, "a"), b = EngineSmokeTest.walk(o, "b");
                Node f = EngineSmokeTest.walk(o, "a/f");
                o.link(f, b, "g", R);
                o.unlink(a, "f", R);
                assertEquals(1, o.getattr(f).nlink(), "reached through b/g now");
                OpenFile w = o.open(f, Linux.O_WRONLY | Linux.O_APPEND, R);
                o.write(w, 6, new byte[]{'!'}, 0, 1);
                o.release(w);
                assertEquals(7, o.getattr(EngineSmokeTest.walk(o, "b/g")).size());
            }
        }
    }

    @Test void renameOverOneNameLeavesTheOtherWorking() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/a && echo hello > l1/a/f && echo other > l1/a/x");
            try (Overlay o = L.mount(false, false)) {
                Node a = EngineSmokeTest.walk(o, "a");
                Node f = EngineSmokeTest.walk(o, "a/f");
                o.link(f, a, "g", R);
                o.rename(a, "x", a, "g", 0, R);
                assertEquals(1, o.getattr(f).nlink(), "still reached through a/f");
                assertEquals(6, o.getattr(f).size());
            }
        }
    }
}
