package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine's calls on an open file and its sync of one node (the FUSE door's OpenFileCallsTest compares them with
 * the kernel overlay): their answers on the real file, their refusals for a file not open for writing, and that
 * none of them copies anything up by itself.
 */
class OpenFileCallsTest {
    private static final Creds R = Creds.ROOT;

    @Test void callsOnAnOpenFile() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.lowers.getFirst() + " && truncate -s 3M sparse && printf data | dd of=sparse bs=1 "
                    + "seek=1048576 conv=notrunc status=none && echo hello > own && chown 1000:1000 own && mkdir d");
            try (Overlay o = L.mount(false, false)) {
                Node sparse = EngineSmokeTest.walk(o, "sparse");
                OpenFile r = o.open(sparse, Linux.O_RDONLY, R);
                try {
                    assertEquals(1048576, o.seekDataOrHole(r, 0, Linux.SEEK_DATA));
                    assertEquals(0, o.seekDataOrHole(r, 0, Linux.SEEK_HOLE));
                    assertEquals(Errno.ENXIO, errno(() -> o.seekDataOrHole(r, 2 << 20, Linux.SEEK_DATA)));
                    assertEquals(Errno.EINVAL, errno(() -> o.seekDataOrHole(r, 0, Linux.SEEK_END)));
                    assertEquals(Errno.EINVAL, errno(() -> o.truncate(r, 0)));
                    assertEquals(Errno.EBADF, errno(() -> o.fallocate(r, 0, 0, 4096)));
                    o.fsync(sparse, false);   // lower-only: nothing to sync, nothing copied up
                    o.fsync(EngineSmokeTest.walk(o, "d"), false);
                } finally {
                    o.release(r);
                }
                assertFalse(Files.exists(L.upper.resolve("sparse")));
                assertFalse(Files.exists(L.upper.resolve("d")));

                // the owner opens for writing, then takes write permission away: the open file still truncates
                Creds user = new Creds(1000, 1000, new int[0]);
                Node own = EngineSmokeTest.walk(o, "own");
                OpenFile w = o.open(own, Linux.O_WRONLY, user);
                try {
                    o.setattr(own, SetAttr.chmod(0444), user);
                    assertEquals(Errno.EACCES, errno(() -> o.setattr(own, SetAttr.truncate(1), user)));
                    assertEquals(2, o.truncate(w, 2).size());
                    assertEquals(4096, o.fallocate(w, 0, 0, 4096).size());
                    assertTrue(o.fallocate(w, 1, 4096, 1 << 20).blocks() >= (4096 + (1 << 20)) / 512);
                    o.fsync(own, true);
                } finally {
                    o.release(w);
                }
                assertEquals(4096, Files.size(L.upper.resolve("own")));
            }
        }
    }

    private interface Call {
        void run() throws ErrnoException;
    }

    private static int errno(Call c) {
        return assertThrows(ErrnoException.class, c::run).errno();
    }
}
