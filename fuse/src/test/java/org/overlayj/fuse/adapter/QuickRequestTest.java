package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.fuse.FuseContext;
import org.overlayj.fuse.FuseOpcode;
import org.overlayj.fuse.FuseSetAttr;
import org.overlayj.fuse.RawFileSystem;
import org.overlayj.fuse.TestMounts;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which requests the door calls quick (answered by the thread that read them, see FuseServer): a SETATTR is when it
 * changes no size and its object is on the upper layer already (issue 20: `tar -x` sends three per file, and each
 * hand-off to another thread was a wake-up and a thread switch); a truncate, or a SETATTR that must copy up first,
 * is not. The engine alone, no mount: the nodeids come from the door's own LOOKUPs.
 */
class QuickRequestTest {
    private static final FuseContext ROOT = new FuseContext(1, 0, 0, 1);
    private Path dir;
    private Overlay overlay;

    @BeforeEach void layers() throws Exception {
        dir = TestMounts.tempDir();
        Path lower = Files.createDirectory(dir.resolve("l"));
        Files.writeString(lower.resolve("low"), "lower\n");
        Files.createDirectory(dir.resolve("u"));
        Files.writeString(dir.resolve("u/up"), "upper\n");
        Files.createDirectory(dir.resolve("w"));
        overlay = Overlay.mount(MountOptions.parse("lowerdir=" + lower + ",upperdir=" + dir.resolve("u")
                + ",workdir=" + dir.resolve("w"), "/", ModuleDefaults.BUILTIN).overlay());
    }

    @AfterEach void close() throws Exception {
        try {
            if (overlay != null) overlay.close();
        } finally {
            TestMounts.cleanup(dir.resolve("none"), dir);
        }
    }

    @Test void aSetattrIsQuickOnlyWithoutSizeOnAnUpperObject() throws Exception {
        OverlayFileSystem fs = new OverlayFileSystem(overlay);
        long up = fs.lookup(ROOT, RawFileSystem.ROOT_ID, "up").nodeid();
        long low = fs.lookup(ROOT, RawFileSystem.ROOT_ID, "low").nodeid();
        int chown = FuseSetAttr.UID | FuseSetAttr.GID, times = FuseSetAttr.ATIME | FuseSetAttr.MTIME;
        assertTrue(fs.quick(FuseOpcode.SETATTR, up, chown));
        assertTrue(fs.quick(FuseOpcode.SETATTR, up, FuseSetAttr.MODE | times));
        assertTrue(fs.quick(FuseOpcode.SETATTR, RawFileSystem.ROOT_ID, FuseSetAttr.MODE));
        assertFalse(fs.quick(FuseOpcode.SETATTR, up, FuseSetAttr.SIZE), "a truncate may wait for the disk");
        assertFalse(fs.quick(FuseOpcode.SETATTR, low, chown), "a lower object is copied up first");
        assertFalse(fs.quick(FuseOpcode.SETATTR, 987654, chown), "an unknown nodeid");
        // the other opcodes as before
        assertTrue(fs.quick(FuseOpcode.CREATE, up, 0));
        assertFalse(fs.quick(FuseOpcode.READ, up, 0));
        assertFalse(fs.quick(FuseOpcode.SETXATTR, up, 0));
        // once copied up, it is quick too
        fs.setattr(ROOT, low, new FuseSetAttr(FuseSetAttr.MODE, 0, 0, 0, 0, 0, 0, 0600, 0, 0));
        assertTrue(fs.quick(FuseOpcode.SETATTR, low, chown));
    }
}
