package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * fallocate(2) modes on lower files through a write open (which copies them up), engine vs kernel overlay (issue 21
 * item 11, xfstests overlay/027-style): preallocation with and without KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE,
 * COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE; content, size and allocated blocks of the upper copy compared.
 */
class FallocateTest {
    static final int KEEP_SIZE = 1, PUNCH_HOLE = 2, COLLAPSE_RANGE = 8, ZERO_RANGE = 0x10, INSERT_RANGE = 0x20,
            UNSHARE_RANGE = 0x40;
    /** name, mode, offset, length */
    static final Object[][] CASES = {{"alloc", 0, 0L, 1 << 20}, {"keep", KEEP_SIZE, 0L, 1 << 20},
            {"punch", PUNCH_HOLE | KEEP_SIZE, 4096L, 8192}, {"zero", ZERO_RANGE, 4096L, 8192},
            {"collapse", COLLAPSE_RANGE, 4096L, 8192}, {"insert", INSERT_RANGE, 4096L, 8192},
            {"unshare", UNSHARE_RANGE, 0L, 4096}, {"zerokeep", ZERO_RANGE | KEEP_SIZE, 60000L, 20000}};

    @Test void modesWorkWithCopyUpAsOnTheKernel() throws Exception {
        StringBuilder setup = new StringBuilder("true");
        for (Object[] c : CASES) setup.append(" && seq 1 20000 | head -c 65536 > l1/").append(c[0]);
        try (ChecklistTwin t = new ChecklistTwin(1, setup.toString())) {
            var k = t.compare("index=on,nfs_export=on,redirect_dir=on", (ChecklistTwin.Scenario) (fs, out) -> {
                for (Object[] c : CASES) {
                    String name = (String) c[0];
                    String r = ChecklistTwin.errno(() -> fallocate(fs, name, (int) c[1], (long) c[2], (int) c[3]));
                    out.add(name + ": " + r + " size " + fs.stat(name).size() + " " + digest(t.L.upper + "/" + name));
                }
            });
            assertTrue(k.transcript().stream().anyMatch(l -> l.startsWith("punch: ok size 65536")), k.transcript().toString());
            assertTrue(k.transcript().stream().anyMatch(l -> l.startsWith("collapse: ok size 57344")), k.transcript().toString());
        }
    }

    private static void fallocate(ChecklistTwin.Fs fs, String name, int mode, long off, long len) throws ErrnoException {
        if (fs instanceof ChecklistTwin.EngineFs e) {
            OpenFile f = e.o.open(e.walk(name), Linux.O_RDWR, Creds.ROOT);
            try {
                e.o.fallocate(f, mode, off, len);
            } finally {
                e.o.release(f);
            }
        } else {
            int fd = Linux.open(((ChecklistTwin.KernelFs) fs).p(name), Linux.O_RDWR, 0);
            try {
                Linux.fallocate(fd, mode, off, len);
            } finally {
                Linux.close(fd);
            }
        }
    }

    /** A digest of the upper copy's whole content and its allocated block count (the holes punched show there). */
    private static String digest(String path) throws Exception {
        var st = Linux.lstat(path);
        int fd = Linux.open(path, Linux.O_RDONLY, 0);
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] b = new byte[1 << 16];
            long pos = 0;
            int n;
            while ((n = Linux.pread(fd, b, 0, b.length, pos)) > 0) {
                md.update(b, 0, n);
                pos += n;
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 12) + " blocks " + st.blocks();
        } finally {
            Linux.close(fd);
        }
    }
}
