package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.ErrnoException;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** fuse-overlayfs's uidmapping=/gidmapping=/squash_to_* semantics, as IdMapping reads and applies them. */
class IdMappingTest {
    @Test void triplesMapDiskIdsToShownIdsAndBack() throws Exception {
        IdMapping m = new IdMapping(IdMapping.parse("uidmapping", "0:100000:65536:65536:300000:10"), -1);
        assertEquals(100000, m.shown(0));
        assertEquals(165535, m.shown(65535));
        assertEquals(300009, m.shown(65545));
        assertEquals(IdMapping.OVERFLOW, m.shown(65546));
        assertEquals(0, m.onDisk(100000));
        assertEquals(65545, m.onDisk(300009));
        assertEquals(IdMapping.OVERFLOW, m.onDisk(5));
        assertTrue(m.maps(100000));
        assertFalse(m.maps(0));
    }

    @Test void containersStorageWritesALeadingColon() throws Exception {
        assertEquals(List.of(new IdMapping.Range(0, 100000, 65536)), IdMapping.parse("uidmapping", ":0:100000:65536"));
    }

    @Test void squashingAppliesToShownIdsOnly() {
        IdMapping m = new IdMapping(List.of(), 0);
        assertEquals(0, m.shown(1234));
        assertEquals(1234, m.onDisk(1234));
        assertTrue(m.squashes());
        assertTrue(IdMapping.IDENTITY.isIdentity());
        assertEquals(77, IdMapping.IDENTITY.shown(77));
    }

    @Test void badValuesAreRefused() {
        for (String bad : List.of("", "0:1", "0:1:2:3", "a:1:2", "0:1:0", "4294967295:0:2", "-1:0:1", "0:0:99999999999")) {
            assertThrows(ErrnoException.class, () -> IdMapping.parse("uidmapping", bad), bad);
        }
        assertThrows(ErrnoException.class, () -> IdMapping.parseId("squash_to_uid", "x"));
        assertThrows(ErrnoException.class, () -> IdMapping.parseId("squash_to_uid", "4294967295"));
    }
}
