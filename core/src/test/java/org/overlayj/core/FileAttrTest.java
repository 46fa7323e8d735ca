package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Inode flags in the engine vs the kernel overlay (issue 21 item 11; format doc E8c): what a copy-up carries (sync
 * and noatime onto the upper inode, append-only and immutable into NS protattr, nodump not at all) for files and
 * directories, under the default options, index=on,nfs_export=on and metacopy=on; chattr through the overlay
 * (EngineFs: Overlay#setFlags); the flags read back; upper and work dirs compared byte for byte, xattrs included.
 * The FUSE door's view of the same is fuse InodeFlagsMountTest.
 */
class FileAttrTest {
    static final String LOWER = "cd l1 && for f in f fi fa fA fS fd fia; do echo data > $f; done"
            + " && for d in dA di da; do mkdir $d && echo in > $d/x; done"
            + " && chattr +i fi && chattr +a fa && chattr +A fA && chattr +S fS && chattr +d fd && chattr +ia fia"
            + " && chattr +A dA && chattr +i di && chattr +a da";

    @Test void protattrValueAsTheKernelReadsIt() {
        assertEquals(FileAttr.FS_APPEND_FL, FileAttr.protattrFlags(Linux.bytesOf("a")));
        assertEquals(FileAttr.PROT_FLAGS, FileAttr.protattrFlags(Linux.bytesOf("ia")));
        assertEquals(FileAttr.FS_IMMUTABLE_FL, FileAttr.protattrFlags(Linux.bytesOf("iii")));
        assertNull(FileAttr.protattrFlags(Linux.bytesOf("")));
        assertNull(FileAttr.protattrFlags(Linux.bytesOf("ax")));
        assertNull(FileAttr.protattrFlags(Linux.bytesOf("a".repeat(33))));
        assertArrayEquals(Linux.bytesOf("ai"), FileAttr.protattrValue(FileAttr.PROT_FLAGS));
        assertArrayEquals(Linux.bytesOf("i"), FileAttr.protattrValue(FileAttr.FS_IMMUTABLE_FL));
    }

    @Test void copyUpAndChattrAsOnTheKernel() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, LOWER)) {
            try {
                for (String opts : List.of("", "index=on,nfs_export=on", "metacopy=on,redirect_dir=on")) {
                    ChecklistTwin.Run k = t.compare(opts, (ChecklistTwin.Scenario) (fs, out) -> {
                        // chown -1 -1 copies up and changes nothing; a child's copy-up copies its directory up
                        for (String p : List.of("fi", "fa", "fA", "fS", "fd", "fia", "dA/x", "di/x", "da/x")) {
                            out.add("chown " + p + ": " + ChecklistTwin.errno(() -> fs.chown(p, -1, -1)));
                        }
                        out.add("append fa: " + ChecklistTwin.errno(() -> fs.append("fa", "more")));
                        out.add("append fi: " + ChecklistTwin.errno(() -> fs.append("fi", "more")));
                        set(fs, "f", 0x80 | 0x40, out);             // noatime and nodump onto the upper inode
                        set(fs, "fA", 0x10, out);                   // noatime off, immutable on (protattr)
                        set(fs, "fia", 0x20, out);                  // protattr "ai" becomes "a"
                        set(fs, "dA", 0, out);
                        for (String p : List.of("f", "fi", "fa", "fA", "fS", "fd", "fia", "dA", "di", "da")) {
                            out.add(p + ": " + flags(fs, p));
                        }
                    }, (ChecklistTwin.Offline) out -> out.add(Layers.shOut("cd " + t.L.upper
                            + " && lsattr -R . 2>/dev/null | sort")));
                    assertTrue(k.transcript().contains("fia: 0x20"), k.transcript().toString());
                    assertTrue(k.transcript().contains("fS: 0x8"), k.transcript().toString());
                    assertTrue(k.upper().contains("protattr"), k.upper());
                    assertTrue(k.transcript().getLast().contains("--S-----------e------- ./fS"), k.transcript().getLast());
                }
            } finally {
                Layers.sh("chattr -R -ia " + t.L.root);
            }
        }
    }

    /** FS_IOC_SETFLAGS with the real inode's other bits (ext4's extents flag) kept, as chattr does. */
    private static void set(ChecklistTwin.Fs fs, String p, int flags, List<String> out) {
        out.add("chattr " + p + " 0x" + Integer.toHexString(flags) + ": " + ChecklistTwin.errno(() -> {
            int keep = rawFlags(fs, p) & ~0xff;
            if (fs instanceof ChecklistTwin.EngineFs e) e.o.setFlags(e.walk(p), keep | flags, Creds.ROOT);
            else withFd(((ChecklistTwin.KernelFs) fs).p(p), fd -> { Linux.setFlags(fd, keep | flags); return 0; });
        }));
    }

    private static String flags(ChecklistTwin.Fs fs, String p) {
        try {
            return "0x" + Integer.toHexString(rawFlags(fs, p) & 0xff);
        } catch (ErrnoException e) {
            return org.overlayj.sys.Errno.name(e.errno());
        }
    }

    private static int rawFlags(ChecklistTwin.Fs fs, String p) throws ErrnoException {
        if (fs instanceof ChecklistTwin.EngineFs e) return e.o.getFlags(e.walk(p));
        return withFd(((ChecklistTwin.KernelFs) fs).p(p), Linux::getFlags);
    }

    private interface FdCall {
        int call(int fd) throws ErrnoException;
    }

    private static int withFd(String path, FdCall c) throws ErrnoException {
        int fd = Linux.open(path, Linux.O_RDONLY | Linux.O_NONBLOCK | Linux.O_NOFOLLOW, 0);
        try {
            return c.call(fd);
        } finally {
            Linux.close(fd);
        }
    }
}
