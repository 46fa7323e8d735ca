package org.overlayj.core;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Groups of 10-20 links to one file, most removed again (xfstests generic/002's pattern; issue 21 item 4), under
 * nfs_export, across remounts and handle decodes: the union counts a stat gives, {@code NS nlink} and the index
 * entries on disk, and what the handles of removed names decode to, engine against kernel.
 */
class LinkGroupTest {
    static final String OPTS = "index=on,nfs_export=on";

    /** ln p p.1 ... p.count, then rm p.count ... p.2: p and p.1 are left. */
    static void group(ChecklistTwin.Fs fs, String p, int count) throws Exception {
        for (int i = 1; i <= count; i++) fs.link(p, p + "." + i);
        for (int i = count; i >= 2; i--) fs.unlink(p + "." + i);
    }

    static String counts(ChecklistTwin.Fs fs, String... paths) {
        StringBuilder s = new StringBuilder();
        for (String p : paths) s.append(' ').append(p).append('=').append(ChecklistIndexTest.orErrno(() -> "" + fs.stat(p).nlink()));
        return s.toString();
    }

    /**
     * A single-link lower file, a lower hard-link pair and a file born upper each get a group; the next mount reads
     * the single-link file's count in as its upper inode's real one (the index entry counted, format doc §5.5) and
     * makes a group on top; the last mount removes every name, and the handles taken before give ESTALE.
     */
    @Test void groupsAcrossRemounts() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo s > l1/s && echo h > l1/h1 && ln l1/h1 l1/h2 && mkdir l1/d")) {
            byte[][] hs = new byte[3][];
            ChecklistTwin.Scenario first = (fs, out) -> {
                fs.append("u", "u\n");
                hs[0] = fs.handle("s");
                hs[1] = fs.handle("h1");
                hs[2] = fs.handle("u");
                group(fs, "s", 12);
                out.add("s group:" + counts(fs, "s", "s.1", "s.2") + " " + ChecklistIndexTest.nlinkOf(t, "s"));
                group(fs, "h2", 17);
                out.add("h2 group:" + counts(fs, "h1", "h2", "h2.1") + " " + ChecklistIndexTest.nlinkOf(t, "h2"));
                group(fs, "u", 10);
                out.add("u group:" + counts(fs, "u", "u.1"));
                fs.link("s.1", "d/s");
                out.add("ln s.1 d/s:" + counts(fs, "s", "d/s") + " " + ChecklistIndexTest.nlinkOf(t, "s"));
            };
            ChecklistTwin.Scenario second = (fs, out) -> {
                out.add("remount:" + counts(fs, "s", "s.1", "d/s", "h1", "h2", "h2.1", "u"));
                group(fs, "d/s", 15);
                out.add("d/s group:" + counts(fs, "s", "d/s", "d/s.1") + " " + ChecklistIndexTest.nlinkOf(t, "s"));
                fs.unlink("s.1");
                fs.unlink("d/s.1");
                out.add("rm s.1 d/s.1:" + counts(fs, "s", "d/s") + " " + ChecklistIndexTest.nlinkOf(t, "s"));
                group(fs, "h1", 20);
                fs.unlink("h2");
                out.add("h1 group, rm h2:" + counts(fs, "h1", "h1.1", "h2.1") + " " + ChecklistIndexTest.nlinkOf(t, "h1"));
            };
            ChecklistTwin.Scenario third = (fs, out) -> {
                out.add("remount:" + counts(fs, "s", "d/s", "h1", "h1.1", "h2.1", "u", "u.1"));
                for (String p : List.of("s", "d/s", "h1", "h1.1", "h2.1", "u", "u.1")) fs.unlink(p);
                StringBuilder s = new StringBuilder("all removed:");
                for (byte[] h : hs) s.append(' ').append(ChecklistIndexTest.orErrno(() -> "" + (fs.decodeIno(h) != 0)));
                out.add(s.toString());
            };
            ChecklistTwin.Scenario fourth = (fs, out) -> {
                StringBuilder s = new StringBuilder("remount:");
                for (byte[] h : hs) s.append(' ').append(ChecklistIndexTest.orErrno(() -> "" + (fs.decodeIno(h) != 0)));
                out.add(s.toString());
            };
            var k = t.compare(OPTS, first, second, third, fourth);
            assertTrue(k.transcript().getLast().contains("ESTALE"), k.transcript().toString());
        }
    }
}
