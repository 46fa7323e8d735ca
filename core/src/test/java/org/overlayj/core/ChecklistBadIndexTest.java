package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.ChecklistTwin.Mount;
import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bad on-disk input in the index (format doc §5.7, §8.1): the mount is refused with the kernel's errno and log
 * text, and nothing in upper or work is written by the refused attempt.
 */
class ChecklistBadIndexTest {
    static final String LOWERS = "echo h > l1/h && ln l1/h l1/h2 && echo 2 > l2/h && mkdir l1/d";

    static final ChecklistTwin.Scenario COPY_UP = (fs, out) -> {
        fs.append("h", "1\n");
        fs.mkdir("nd", 0755);
    };

    /** Mount and copy up, then {@code damage}, then a mount that must be refused with nothing written. */
    static ChecklistTwin.Run refused(ChecklistTwin t, String damage, String expectedErrno, String expectedMessage) throws Exception {
        return refused(t, damage, expectedErrno, expectedMessage, "true");
    }

    /** {@code repair}: a shell step after the refusal (before the next side's run). */
    static ChecklistTwin.Run refused(ChecklistTwin t, String damage, String expectedErrno, String expectedMessage, String repair) throws Exception {
        var check = t.unchangedCheck();
        List<Object> steps = new ArrayList<>(List.of(new Mount("index=on", COPY_UP), damage, check[0],
                new Mount("index=on", ChecklistTwin.NOTHING), check[1], repair));
        var k = t.compareWithMessages("", steps.toArray());
        assertEquals(List.of("mount: " + expectedErrno, "upper+work unchanged: true"), k.transcript(), damage);
        assertTrue(k.messages().stream().anyMatch(l -> l.contains(expectedMessage)), damage + ": " + k.messages());
        return k;
    }

    static String indexName(ChecklistTwin t) throws Exception {
        return ChecklistIndexTest.hex(ChecklistCopyUpTest.lowerBlob(t.L.lowers.getFirst() + "/h"));
    }

    @Test void nonHexIndexNameIsRefused() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, LOWERS)) {
            refused(t, "touch work/index/not-hex", "EINVAL", "failed to verify index (index/not-hex");
        }
    }

    @Test void indexEntryWithoutOriginIsRefused() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, LOWERS)) {
            // the index entry is the upper alias's inode: removing NS origin from one removes it from both [E19]
            refused(t, "setfattr -x trusted.overlay.origin work/index/" + indexName(t), "ENODATA", "failed to verify index (index/" + indexName(t));
        }
    }

    @Test void wrongUpperOnIndexDirIsRefused() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, LOWERS)) {
            // NS upper naming another directory's inode (flag 04 set) instead of the upper root
            byte[] other = ChecklistCopyUpTest.lowerBlob(t.L.lowers.getFirst() + "/d");
            other[3] = 4;
            refused(t, "setfattr -n trusted.overlay.upper -v 0x" + ChecklistIndexTest.hex(other) + " work/index", "ESTALE",
                    "failed to verify index dir 'upper' xattr");
        }
    }

    @Test void lowerSwappedAfterAMountIsRefused() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, LOWERS)) {
            String swap = "mv l1 lx && mv l2 l1 && mv lx l2";
            refused(t, swap, "ESTALE", "failed to verify upper root origin", swap); // swapped back after the refusal
            assertNotNull(Linux.lstatOrNull(t.L.root + "/l1/d"), "lowers back in place");
        }
    }
}
