package org.overlayj.cli;

import org.junit.jupiter.api.Test;
import org.overlayj.core.config.MountOptions;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The door's own options, as the mount command hands them on. */
class DoorOptionsTest {
    @Test void passthroughIsOnUnlessTurnedOff() throws Exception {
        assertTrue(DoorOptions.of(List.of(), null, 4, true).passthrough());
        assertTrue(DoorOptions.of(List.of("passthrough"), null, 4, true).passthrough());
        assertTrue(DoorOptions.of(List.of("passthrough=on"), null, 4, true).passthrough());
        DoorOptions off = DoorOptions.of(List.of("passthrough=off"), null, 4, true);
        assertFalse(off.passthrough());
        assertEquals(List.of(), off.ignored(), "understood, not ignored");
        assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class,
                () -> DoorOptions.of(List.of("passthrough=maybe"), null, 4, true)).errno());
    }

    @Test void uringIsTakenWhenOfferedUnlessTurnedOff() throws Exception {
        assertEquals(org.overlayj.fuse.FuseMountOptions.uringByDefault(),
                DoorOptions.of(List.of(), null, 4, true).fuse().uring());
        assertTrue(DoorOptions.of(List.of("uring"), null, 4, true).fuse().uring());
        assertTrue(DoorOptions.of(List.of("uring=on"), null, 4, true).fuse().uring());
        DoorOptions off = DoorOptions.of(List.of("uring=off"), null, 4, true);
        assertFalse(off.fuse().uring());
        assertEquals(List.of(), off.ignored(), "understood, not ignored");
        assertEquals(Errno.EINVAL, assertThrows(ErrnoException.class,
                () -> DoorOptions.of(List.of("uring=maybe"), null, 4, true)).errno());
        MountOptions.Parsed p = MountOptions.parse("lowerdir=/l,uring=off,uring", "/",
                org.overlayj.core.config.ModuleDefaults.current());
        assertEquals(List.of("uring=off", "uring"), p.generic());
    }

    @Test void theOverlayOptionParserLeavesPassthroughToTheDoor() throws Exception {
        MountOptions.Parsed p = MountOptions.parse("lowerdir=/l,passthrough=off,passthrough", "/",
                org.overlayj.core.config.ModuleDefaults.current());
        assertEquals(List.of("passthrough=off", "passthrough"), p.generic());
    }
}
