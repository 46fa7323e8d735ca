package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Checklist item 21 (format doc §4.6, §7, E9): under metacopy=on a chmod, chown, utimes, xattr change, link or
 * rename copies up the metadata only (a sparse upper file with an empty NS metacopy and NS origin, its data still
 * read from the lower file); the first open for write or truncate copies the data into that same upper inode and
 * removes NS metacopy; a metacopy file that moves gets a redirect to its lower path. The random sequences of the
 * differential harness run a sixth of their seeds with metacopy=on against the kernel. Item 22: a data-only lower
 * layer (after "::") only supplies the data of metacopy files in the other lower layers.
 */
class ChecklistMetacopyTest {
    private static final Creds R = Creds.ROOT;

    private static Overlay mount(Layers L, String extra) throws Exception {
        return Overlay.mount(MountOptions.parse("lowerdir=" + L.lowerdir() + ",upperdir=" + L.upper + ",workdir="
                + L.work + extra, "/", ModuleDefaults.BUILTIN).overlay());
    }

    private static Layers layers() throws Exception {
        Layers L = new Layers(1);
        Layers.sh("cd " + L.root + " && echo payload > l1/f && echo two > l1/g && mkdir l1/sub"
                + " && head -c 100000 /dev/urandom > l1/big && echo x > l1/k && touch -d @1500000000 l1/*");
        return L;
    }

    private static String read(Overlay o, Node n) throws ErrnoException {
        OpenFile f = o.open(n, Linux.O_RDONLY, R);
        try {
            byte[] b = new byte[200000];
            return new String(b, 0, o.read(f, 0, b, 0, b.length), StandardCharsets.ISO_8859_1);
        } finally {
            o.release(f);
        }
    }

    private static String x(String path, String name) throws ErrnoException {
        byte[] v = Linux.lgetxattrOrNull(path, "trusted.overlay." + name);
        return v == null ? null : new String(v, StandardCharsets.ISO_8859_1);
    }

    /**
     * Whether a file has any data extent (SEEK_DATA finds one). Not st_blocks: ext4 counts an xattr block there,
     * which the few bytes of room in an inode make likely for origin + metacopy.
     */
    private static boolean hasData(String path) throws ErrnoException {
        int fd = Linux.open(path, Linux.O_RDONLY, 0);
        try {
            Linux.lseek(fd, 0, Linux.SEEK_DATA);
            return true;
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENXIO) return false;
            throw e;
        } finally {
            Linux.close(fd);
        }
    }

    @Test void chmodCopiesTheMetadataOnlyAndAWriteTheData() throws Exception {
        try (Layers L = layers(); Overlay o = mount(L, ",metacopy=on")) {
            String up = L.upper + "/big";
            Node big = EngineSmokeTest.walk(o, "big");
            long lowerBlocks = Linux.lstat(L.lowers.getFirst() + "/big").blocks();
            o.setattr(big, SetAttr.chmod(0600), R);
            Stat st = Linux.lstat(up);
            assertEquals(100000, st.size());
            assertFalse(hasData(up), "sparse: no data copied");
            assertEquals("", x(up, "metacopy"));
            assertNotNull(x(up, "origin"));
            assertEquals(0600, st.perm());
            assertEquals(1500000000L, st.mtimeSec());
            Attr a = o.getattr(big);
            assertEquals(lowerBlocks, a.blocks(), "st_blocks: the lower data's");
            assertEquals(new String(java.nio.file.Files.readAllBytes(L.lowers.getFirst().resolve("big")),
                    StandardCharsets.ISO_8859_1), read(o, big), "the data: the lower file's");
            long ino = st.ino();
            // a write open copies the data into the same upper inode and removes the marker
            o.release(o.open(big, Linux.O_WRONLY, R));
            st = Linux.lstat(up);
            assertEquals(ino, st.ino(), "the same upper inode");
            assertNull(x(up, "metacopy"));
            assertTrue(hasData(up));
            // kernel 6.18: the data copy moves mtime to now, as writing the data does (no times put back)
            assertNotEquals(1500000000L, st.mtimeSec(), "mtime moved by the data copy");
            Layers.sh("cmp " + L.lowers.getFirst() + "/big " + up);
        }
    }

    @Test void truncateAndOTruncCopyOnlyWhatTheyKeep() throws Exception {
        try (Layers L = layers(); Overlay o = mount(L, ",metacopy=on")) {
            Node big = EngineSmokeTest.walk(o, "big"), f = EngineSmokeTest.walk(o, "f");
            o.setattr(big, SetAttr.chmod(0600), R);
            o.setattr(f, SetAttr.chmod(0600), R);
            o.setattr(big, SetAttr.truncate(1000), R);
            assertNull(x(L.upper + "/big", "metacopy"));
            Layers.sh("head -c 1000 " + L.lowers.getFirst() + "/big | cmp - " + L.upper + "/big");
            o.release(o.open(f, Linux.O_WRONLY | Linux.O_TRUNC, R));
            assertNull(x(L.upper + "/f", "metacopy"));
            assertEquals(0, Linux.lstat(L.upper + "/f").size());
        }
    }

    @Test void aMovedMetacopyFileGetsARedirectToItsData() throws Exception {
        try (Layers L = layers(); Overlay o = mount(L, ",metacopy=on")) {
            Node root = o.root(), sub = EngineSmokeTest.walk(o, "sub");
            o.rename(root, "g", sub, "g2", 0, R);                       // across parents: absolute
            o.rename(root, "k", root, "k2", 0, R);                      // within one: relative
            assertEquals("/g", x(L.upper + "/sub/g2", "redirect"));
            assertEquals("", x(L.upper + "/sub/g2", "metacopy"));
            assertEquals("k", x(L.upper + "/k2", "redirect"));
            o.link(EngineSmokeTest.walk(o, "f"), sub, "fl", R);        // a link: absolute
            assertEquals("/f", x(L.upper + "/f", "redirect"));
        }
        // a fresh mount follows the redirects to the data
        try (Layers L = layers()) {
            try (Overlay o = mount(L, ",metacopy=on")) {
                o.rename(o.root(), "g", EngineSmokeTest.walk(o, "sub"), "g2", 0, R);
            }
            try (Overlay o = mount(L, ",metacopy=on")) {
                assertEquals("two\n", read(o, EngineSmokeTest.walk(o, "sub/g2")));
            }
            // the same layers under metacopy=off: the kernel's refusal
            try (Overlay o = mount(L, "")) {
                ErrnoException e = assertThrows(ErrnoException.class, () -> EngineSmokeTest.walk(o, "sub/g2"));
                assertEquals(Errno.EPERM, e.errno());
            }
        }
    }

    @Test void aMetacopyFileWithoutLowerDataOrWithABadValueIsAnError() throws Exception {
        try (Layers L = layers()) {
            Layers.sh("cd " + L.root + " && truncate -s 5 upper/lost && setfattr -n trusted.overlay.metacopy upper/lost"
                    + " && truncate -s 8 upper/f && setfattr -n trusted.overlay.metacopy -v ab upper/f");
            try (Overlay o = mount(L, ",metacopy=on")) {
                ErrnoException e = assertThrows(ErrnoException.class, () -> EngineSmokeTest.walk(o, "lost"));
                assertEquals(Errno.EIO, e.errno(), "no lower data");
                e = assertThrows(ErrnoException.class, () -> EngineSmokeTest.walk(o, "f"));
                assertEquals(Errno.EIO, e.errno(), "a metacopy value of 1-3 bytes");
            }
            L.kernelMount("metacopy=on");
            assertTrue(Layers.shOut("cat " + L.mnt + "/f 2>&1 || true").contains("Input/output error"), "the kernel's");
        }
    }

    @Test void aLowerMetacopyFileReadsItsDataFromBelow() throws Exception {
        try (Layers L = new Layers(2)) {
            // l1/file: a metadata-only copy of l2/objects/abc (absolute redirect), its own mode and owner
            Layers.sh("cd " + L.root + " && mkdir l2/objects && echo 'content from below' > l2/objects/abc"
                    + " && truncate -s 19 l1/file && chmod 640 l1/file && setfattr -n trusted.overlay.metacopy l1/file"
                    + " && setfattr -n trusted.overlay.redirect -v /objects/abc l1/file");
            try (Overlay o = mount(L, ",metacopy=on")) {
                Node file = EngineSmokeTest.walk(o, "file");
                assertEquals("content from below\n", read(o, file));
                Attr a = o.getattr(file);
                assertEquals(0640, a.mode() & 07777, "metadata from the metacopy file");
                assertEquals(Linux.lstat(L.lowers.getFirst() + "/file").ino(), a.ino());
                // a metadata-only copy again, as the kernel makes it (kernel 6.18, these layers: upper/file has
                // NS metacopy and NS origin): lookup finds the data through the lower metacopy file's redirect
                o.setattr(file, SetAttr.chmod(0600), R);
                assertEquals("", x(L.upper + "/file", "metacopy"));
                assertEquals("content from below\n", read(o, file));
            }
            // the kernel reads the same
            L.kernelMount("metacopy=on");
            assertEquals("content from below\n", Layers.shOut("cat " + L.mnt + "/file"));
        }
    }

    /** Lower l1 over data-only layer l2 (E9): a metacopy file with an absolute redirect into l2. */
    private static Layers dataOnly() throws Exception {
        Layers L = new Layers(2);
        Layers.sh("cd " + L.root + " && mkdir l2/objects && echo 'content from data-only layer' > l2/objects/abc"
                + " && echo hidden > l2/visible-nowhere && touch l1/file && truncate -s 29 l1/file && chmod 640 l1/file"
                + " && setfattr -n trusted.overlay.metacopy l1/file"
                + " && setfattr -n trusted.overlay.redirect -v /objects/abc l1/file && echo plain > l1/plain");
        return L;
    }

    private static String dataOnlyLowerdir(Layers L) {
        return L.lowers.get(0) + "::" + L.lowers.get(1);
    }

    @Test void item22_aDataOnlyLayerHoldsTheDataOfLowerMetacopyFilesAndNothingElse() throws Exception {
        try (Layers L = dataOnly()) {
            String lower = dataOnlyLowerdir(L);
            // read-only, metacopy=off: the data-only layer is enough to follow the metacopy file
            try (Overlay o = Overlay.mount(MountOptions.parse("lowerdir=" + lower, "/", ModuleDefaults.BUILTIN)
                    .overlay())) {
                assertEquals(java.util.List.of("file", "plain"), EngineSmokeTest.names(o, o.root()),
                        "the data-only layer's names are not visible");
                Node file = EngineSmokeTest.walk(o, "file");
                assertEquals("content from data-only layer\n", read(o, file));
                Attr a = o.getattr(file);
                assertEquals(Linux.lstat(L.lowers.get(0) + "/file").ino(), a.ino(), "st_ino: the metacopy file's");
                assertEquals(0640, a.mode() & 07777);
                assertEquals(29, a.size());
                assertThrows(ErrnoException.class, () -> EngineSmokeTest.walk(o, "objects"));
            }
            // the kernel shows the same
            Layers.sh("mount -t overlay overlay -o lowerdir=" + lower + " " + L.mnt);
            try {
                assertEquals("file\nplain\n", Layers.shOut("ls " + L.mnt));
                assertEquals("content from data-only layer\n", Layers.shOut("cat " + L.mnt + "/file"));
                assertEquals(Linux.lstat(L.lowers.get(0) + "/file").ino(), Linux.stat(L.mnt + "/file").ino());
            } finally {
                Layers.sh("umount " + L.mnt);
            }
            // with an upper layer: a write open copies the data up whole
            try (Overlay o = Overlay.mount(MountOptions.parse("lowerdir=" + lower + ",upperdir=" + L.upper
                    + ",workdir=" + L.work, "/", ModuleDefaults.BUILTIN).overlay())) {
                o.release(o.open(EngineSmokeTest.walk(o, "file"), Linux.O_WRONLY, R));
            }
            Layers.sh("cmp " + L.lowers.get(1) + "/objects/abc " + L.upper + "/file");
            assertNull(x(L.upper + "/file", "metacopy"));
            assertEquals(0640, Linux.lstat(L.upper + "/file").perm());
        }
    }

    @Test void item22_missingDataFailsTheOpenNotTheLookup() throws Exception {
        try (Layers L = dataOnly()) {
            Layers.sh("cd " + L.root + " && setfattr -n trusted.overlay.redirect -v /objects/nothere l1/file");
            String lower = dataOnlyLowerdir(L);
            try (Overlay o = Overlay.mount(MountOptions.parse("lowerdir=" + lower, "/", ModuleDefaults.BUILTIN)
                    .overlay())) {
                Node file = EngineSmokeTest.walk(o, "file");
                assertEquals(29, o.getattr(file).size(), "it stats");
                ErrnoException e = assertThrows(ErrnoException.class, () -> o.open(file, Linux.O_RDONLY, R));
                assertEquals(Errno.ENOENT, e.errno(), "the open fails");
            }
            Layers.sh("mount -t overlay overlay -o lowerdir=" + lower + " " + L.mnt);
            try {
                assertEquals("29", Layers.shOut("stat -c %s " + L.mnt + "/file").strip(), "the kernel's: it stats");
                assertTrue(Layers.shOut("cat " + L.mnt + "/file 2>&1 || true").contains("No such file or directory"),
                        "the kernel's: the open fails");
            } finally {
                Layers.sh("umount " + L.mnt);
            }
        }
    }

    /**
     * Issue 21 item 6 (xfstests overlay/064): a metadata-only copy-up (here by chmod) keeps security.capability, as
     * the kernel's does; the data copied in later keeps it too. Engine vs kernel, with the upper layers compared.
     */
    @Test void item6_chmodKeepsTheCapability() throws Exception {
        String cap = "0x0100000200200000000000000000000000000000";   // cap_net_raw+ep, as setcap writes it
        try (ChecklistTwin t = new ChecklistTwin(1, "echo data > l1/f && echo more > l1/g"
                + " && setfattr -n security.capability -v " + cap + " l1/f l1/g")) {
            var k = t.compare("metacopy=on,redirect_dir=on,index=on", (ChecklistTwin.Scenario) (fs, out) -> {
                fs.chmod("f", 0700);
                fs.chmod("g", 0750);
                fs.openRw("g");                     // the data copied in after the metadata
                out.add("f: " + ChecklistTwin.HEX.formatHex(fs.getxattr("f", "security.capability"))
                        + " g: " + ChecklistTwin.HEX.formatHex(fs.getxattr("g", "security.capability")));
            });
            assertTrue(k.upper().lines().anyMatch(l -> l.startsWith("f ") && l.contains("security.capability=")
                    && l.contains("overlay.metacopy")), k.upper());
        }
    }
}
