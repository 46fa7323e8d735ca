package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The side effects a door hears about: objects that look different though the operation did not name them. */
class ChangeListenerTest {
    static final Creds R = Creds.ROOT;

    /** Records what the engine reports, as "attrs PATH" and "entry DIR/NAME" lines. */
    static final class Recorder implements ChangeListener {
        final List<String> seen = new ArrayList<>();

        @Override public void attrsChanged(Node n) { seen.add("attrs " + n.name()); }

        @Override public void listingChanged(Node dir) { seen.add("listing " + dir.name()); }

        @Override public void entryChanged(Node dir, String name) { seen.add("entry " + dir.name() + "/" + name); }
    }

    @Test void copyUpReportsEveryAncestorItGaveAnUpperInode() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/a/b/sub && echo x > l1/a/b/f");
            try (Overlay o = L.mount(false, false)) {
                Recorder r = new Recorder();
                o.addChangeListener(r);
                Node a = EngineSmokeTest.walk(o, "a"), f = EngineSmokeTest.walk(o, "a/b/f");
                assertEquals(3, o.getattr(a).nlink(), "a lower-only directory shows its own link count");
                o.release(o.open(f, Linux.O_WRONLY, R));
                assertEquals(List.of("attrs a", "listing ", "attrs b", "listing a", "attrs f", "listing b"), r.seen);
                assertEquals(1, o.getattr(a).nlink(), "a merge directory shows 1");

                // Already upper: nothing more to say.
                r.seen.clear();
                o.release(o.open(f, Linux.O_WRONLY, R));
                o.create(EngineSmokeTest.walk(o, "a/b"), "new", 0644, R);
                assertEquals(List.of(), r.seen);
            }
        }
    }

    @Test void copyUpOfALowerHardLinkWithoutTheIndexChangesItsInodeNumber() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && echo x > l1/h1 && ln l1/h1 l1/h2 && echo y > l1/single");
            try (Overlay o = L.mount(false, false)) {
                Recorder r = new Recorder();
                o.addChangeListener(r);
                Node h1 = EngineSmokeTest.walk(o, "h1");
                long before = o.getattr(h1).ino();
                o.release(o.open(h1, Linux.O_WRONLY, R));
                assertEquals(List.of("attrs h1", "listing ", "entry /h1"), r.seen);
                assertNotEquals(before, o.getattr(EngineSmokeTest.walk(o, "h1")).ino(), "a fresh lookup finds the new number");

                r.seen.clear();
                o.release(o.open(EngineSmokeTest.walk(o, "single"), Linux.O_WRONLY, R));
                assertEquals(List.of("attrs single", "listing "), r.seen, "one link: the number stays, the name is still good");
            }
        }
    }

    /**
     * FUSE differential seed 110206: the kernel's rename marks the new parent impure and makes the whiteout at the
     * source before rename(2) refuses; its next listing of the new parent drops the marker again. A FUSE door
     * serving that listing from the kernel's cache never lists it, so the engine says both parents changed.
     */
    @Test void aRenameRefusedAfterItsWhiteoutTouchedTheSourceParentReportsThatParent() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/top/f l1/op && echo x > l1/top/f/x");
            try (Overlay o = L.mount(false, true)) {
                Node top = EngineSmokeTest.walk(o, "top"), op = EngineSmokeTest.walk(o, "op");
                Node wo = o.mkdir(op, "wo", 0755, R);
                o.create(wo, "n1", 0644, R);
                o.setattr(top, SetAttr.times(1L, 0L, 1L, 0L), R);        // an mtime the failed rename will move
                Recorder r = new Recorder();
                o.addChangeListener(r);
                // a merge directory onto a non-empty pure upper one: rename(2) with RENAME_WHITEOUT makes the
                // whiteout at the source, then finds the target not empty (the kernel's order, on ext4)
                ErrnoException e = assertThrows(ErrnoException.class, () -> o.rename(top, "f", op, "wo", 0, R));
                assertEquals(org.overlayj.sys.Errno.ENOTEMPTY, e.errno());
                assertNotEquals(1L, o.getattr(top).mtimeSec(), "ext4 moved the source parent's mtime");
                assertTrue(r.seen.contains("attrs top"), "the door hears of it: " + r.seen);
                assertTrue(r.seen.contains("listing op"), "and looks at the new parent's listing again: " + r.seen);
            }
        }
    }
}
