package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.FileHandle;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/** Format doc §10 items 7–12 (copy-up, origin, impure, temp names, hard links with the index), engine vs kernel. */
class ChecklistCopyUpTest {
    static final HexFormat HEX = HexFormat.of();

    static String times(Stat s) {
        return "a=" + s.atimeSec() + "." + s.atimeNsec() + " m=" + s.mtimeSec() + "." + s.mtimeNsec();
    }

    static String meta(Stat s) {
        return String.format("%06o %d:%d ", s.mode(), s.uid(), s.gid()) + times(s);
    }

    @Test void item07_copyUpPreservesModeOwnerTimesXattrsAclsButNotPrivateXattrs() throws Exception {
        String ts = "touch -h -m -d '2001-02-03 04:05:06.123456789' $P && touch -h -a -d '2002-03-04 05:06:07.987654321' $P";
        try (ChecklistTwin t = new ChecklistTwin(1, "echo data > l1/f && chown 1234:5678 l1/f && chmod 6755 l1/f"
                + " && setfattr -n user.foo -v bar l1/f && setfattr -n trusted.bar -v baz l1/f && setfacl -m u:4321:r l1/f"
                + " && setfattr -n trusted.overlay.private -v 1 l1/f && setfattr -n trusted.overlay.overlay.esc -v e l1/f"
                + " && mkdir l1/d && chown 42:43 l1/d && chmod 3775 l1/d && setfattr -n user.d -v 1 l1/d && setfacl -d -m g:99:rx l1/d"
                + " && setfattr -n trusted.overlay.private -v 1 l1/d"
                + " && ln -s target l1/s && chown -h 7:8 l1/s && mknod l1/fifo p && chown 5:6 l1/fifo && chmod 4640 l1/fifo"
                + " && for P in l1/f l1/d l1/s l1/fifo; do " + ts + "; done")) {
            List<String> paths = List.of("f", "d", "s", "fifo");
            java.util.Map<String, String> before = new java.util.HashMap<>();
            for (String p : paths) before.put(p, meta(Linux.lstat(t.L.lowers.getFirst() + "/" + p)));
            var k = t.compare("", (fs, out) -> {
                fs.openRw("f");
                fs.setxattr("d", "trusted.new", new byte[]{1});
                fs.setxattr("s", "trusted.new", new byte[]{1});
                fs.setxattr("fifo", "trusted.new", new byte[]{1});
                for (String p : paths) {
                    out.add(p + " overlay: " + meta(fs.stat(p)) + " " + fs.listxattr(p));
                    out.add(p + " upper:   " + meta(Linux.lstat(t.L.upper + "/" + p)));
                    // the lower keeps even its atime (relatime would update the symlink's, a day old, on readlink(2))
                    out.add(p + " lower:   " + meta(Linux.lstat(t.L.lowers.getFirst() + "/" + p)));
                }
            });
            int i = 0;
            for (String p : paths) {
                String o = k.transcript().get(i++), u = k.transcript().get(i++);
                assertEquals(p + " lower:   " + before.get(p), k.transcript().get(i++), "the lower is untouched");
                assertEquals(p + " upper:   " + before.get(p), u, "upper keeps the lower's metadata");
                assertTrue(o.contains(before.get(p)), o + " / " + before.get(p));
            }
            assertTrue(k.upper().contains("\nf 106755 1234:5678 n1 size=5 'data\\n' system.posix_acl_access="), k.upper());
            assertTrue(k.upper().contains("trusted.bar=\"baz\" trusted.overlay.origin="), k.upper());
            assertFalse(k.upper().contains("overlay.private"), k.upper());
            assertTrue(k.upper().contains("trusted.overlay.overlay.esc=\"e\""), k.upper());
            assertTrue(k.upper().contains("system.posix_acl_default="), k.upper());
        }
    }

    /** The blob the kernel writes for a lower inode on this (null-UUID ext4) /tmp: §5.2. */
    static byte[] lowerBlob(String path) throws Exception {
        FileHandle h = Linux.nameToHandle(path, 0);
        byte[] fid = h.bytes();
        byte[] b = new byte[21 + fid.length];
        b[1] = (byte) 0xfb;
        b[2] = (byte) b.length;
        b[3] = 0; // little-endian host, lower
        b[4] = (byte) h.type();
        System.arraycopy(fid, 0, b, 21, fid.length);
        return b;
    }

    @Test void item08_originIsExactLowerFhBlob() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "echo f > l2/f && mkdir l2/d l1/d && ln -s x l2/s && echo g > l2/d/g")) {
            var k = t.compare("", (fs, out) -> {
                fs.openRw("f");
                fs.openRw("d/g");
                fs.setxattr("s", "trusted.x", new byte[]{1});
                for (String p : List.of("f", "d", "d/g", "s"))
                    out.add(p + " origin=" + HEX.formatHex(Linux.lgetxattr(t.L.upper + "/" + p, "trusted.overlay.origin")));
            });
            // the origin of each copied-up object is the blob of the *topmost* lower that holds it
            assertEquals("f origin=" + HEX.formatHex(lowerBlob(t.L.lowers.get(1) + "/f")), k.transcript().get(0));
            assertEquals("d origin=" + HEX.formatHex(lowerBlob(t.L.lowers.get(0) + "/d")), k.transcript().get(1));
            assertEquals("d/g origin=" + HEX.formatHex(lowerBlob(t.L.lowers.get(1) + "/d/g")), k.transcript().get(2));
            assertEquals("s origin=" + HEX.formatHex(lowerBlob(t.L.lowers.get(1) + "/s")), k.transcript().get(3));
        }
    }

    /**
     * Without the index, a copy-up of a lower hard link breaks its tie to the lower inode: the kernel writes no
     * origin for it (the copy is a new inode with its own number), but still marks the parent impure. A lower file
     * with one link, a directory and a symlink keep their origin.
     */
    @Test void item08b_noOriginForALowerHardLinkCopiedUpWithoutIndex() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo h > l1/a && ln l1/a l1/b && echo s > l1/s && mkdir l1/d")) {
            var k = t.compare("index=off", (fs, out) -> {
                fs.append("a", "x\n");
                fs.append("s", "x\n");
                fs.chmod("d", 0755);
                for (String p : List.of("a", "s", "d"))
                    out.add(p + " origin " + (Linux.lgetxattrOrNull(t.L.upper + "/" + p, "trusted.overlay.origin") != null));
            });
            assertEquals(List.of("a origin false", "s origin true", "d origin true"), k.transcript());
            assertTrue(k.upper().lines().anyMatch(l -> l.startsWith(". ") && l.contains("trusted.overlay.impure=\"y\"")), k.upper());
        }
    }

    /** The same under metacopy=on: a metadata-only copy with no origin, whose data the next mount finds by name. */
    @Test void item08c_metacopyOfALowerHardLinkWithoutIndexHasNoOriginAndKeepsItsData() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo h > l1/a && ln l1/a l1/b")) {
            var k = t.compare("index=off,metacopy=on,redirect_dir=on", (ChecklistTwin.Scenario) (fs, out) -> {
                fs.chmod("a", 0600);
                out.add("a origin " + (Linux.lgetxattrOrNull(t.L.upper + "/a", "trusted.overlay.origin") != null)
                        + " metacopy " + (Linux.lgetxattrOrNull(t.L.upper + "/a", "trusted.overlay.metacopy") != null));
                out.add("a: " + fs.read("a").strip());
            }, (ChecklistTwin.Scenario) (fs, out) -> {
                out.add("after remount a: " + fs.read("a").strip() + String.format(" %o", fs.stat("a").mode()));
            });
            assertEquals(List.of("a origin false metacopy true", "a: h", "after remount a: h 100600"), k.transcript());
        }
    }

    @Test void item09_copyUpMarksParentImpureAndCopiesAncestorsWithoutContents() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "mkdir -p l1/a/b/c && echo f > l1/a/b/c/f && echo s > l1/a/s && echo s2 > l1/a/b/s2 && mkdir l1/a/b/e")) {
            var k = t.compare("", (fs, out) -> {
                fs.append("a/b/c/f", "more\n");
                out.add(fs.ls("a").stream().sorted().toList() + " " + fs.ls("a/b").stream().sorted().toList());
            });
            List<String> lines = k.upper().lines().map(l -> l.substring(0, l.indexOf(' '))).toList();
            assertEquals(List.of(".", "a", "a/b", "a/b/c", "a/b/c/f"), lines, k.upper());
            // The kernel marks every parent that receives an object with an origin, and copied-up ancestors carry
            // origins: so the upper root, a and a/b are impure as well as a/b/c (umask 0: dirs are 0777 here)
            for (String d : List.of(".", "a", "a/b", "a/b/c"))
                assertTrue(k.upper().lines().anyMatch(l -> l.startsWith(d + " 040777") && l.contains("trusted.overlay.impure=\"y\"")), d + "\n" + k.upper());
            for (String o : List.of("a", "a/b", "a/b/c", "a/b/c/f"))
                assertTrue(k.upper().lines().anyMatch(l -> l.startsWith(o + " ") && l.contains("trusted.overlay.origin=0x")), o + "\n" + k.upper());
            assertFalse(k.upper().lines().anyMatch(l -> l.startsWith("a/b/c/f ") && l.contains("impure")), k.upper());
        }
    }

    @Test void item10_copyUpIsAtomicUnderTheFinalName() throws Exception {
        int size = 8 << 20;
        try (ChecklistTwin t = new ChecklistTwin(1, "head -c " + size + " /dev/urandom > l1/big && mkdir l1/d && echo x > l1/d/x")) {
            String target = t.L.upper + "/big";
            var k = t.compare("", (fs, out) -> {
                AtomicBoolean stop = new AtomicBoolean();
                AtomicReference<String> seen = new AtomicReference<>("none");
                Thread watcher = new Thread(() -> {
                    try {
                        while (!stop.get()) {
                            Stat st = Linux.lstatOrNull(target);
                            if (st != null && st.size() != size) seen.set("partial size " + st.size());
                        }
                    } catch (Exception e) {
                        seen.set(e.toString());
                    }
                });
                watcher.start();
                try {
                    fs.openRw("big");
                    fs.setxattr("d", "user.x", new byte[]{1});
                } finally {
                    stop.set(true);
                    watcher.join();
                }
                out.add("partial upper file seen: " + seen.get());
                // what is left in the scratch dir: nothing but (possibly) the shared whiteout
                for (var e : Linux.readdir(t.L.work + "/work")) {
                    if (e.isDotOrDotDot()) continue;
                    Stat st = Linux.lstat(t.L.work + "/work/" + e.name());
                    if (!st.isWhiteout()) out.add("left in W/work: " + e.name());
                }
            });
            assertEquals(List.of("partial upper file seen: none"), k.transcript());
        }
    }

    @Test void item11_indexedCopyUpOfLowerHardLinkIsTheIndexInode() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo h > l1/a && ln l1/a l1/b")) {
            var k = t.compare("index=on", (fs, out) -> {
                fs.append("a", "x\n");
                var idx = Linux.readdir(t.L.work + "/index").stream().filter(e -> !e.isDotOrDotDot() && !e.name().startsWith("#")).toList();
                out.add("index entries: " + idx.size());
                String name = idx.getFirst().name();
                out.add("same inode: " + (Linux.lstat(t.L.work + "/index/" + name).ino() == Linux.lstat(t.L.upper + "/a").ino()));
                out.add("origin = name: " + name.equals(HEX.formatHex(Linux.lgetxattr(t.L.work + "/index/" + name, "trusted.overlay.origin"))));
                out.add("name = lower blob: " + name.equals(HEX.formatHex(lowerBlob(t.L.lowers.getFirst() + "/a"))));
            });
            assertEquals(List.of("index entries: 1", "same inode: true", "origin = name: true", "name = lower blob: true"), k.transcript());
        }
    }

    @Test void item12_uncoveredLowerAliasShowsCopiedUpDataMetadataAndIno() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo h > l1/a && ln l1/a l1/b && chmod 644 l1/a")) {
            long lowerIno = Linux.lstat(t.L.lowers.getFirst() + "/a").ino();
            var k = t.compare("index=on", (ChecklistTwin.Scenario) (fs, out) -> {
                fs.append("a", "x\n");
                fs.chmod("a", 0600);
                Stat a = fs.stat("a"), b = fs.stat("b");
                out.add("b: " + fs.read("b").replace("\n", "|") + String.format(" %06o", b.mode()) + " size=" + b.size());
                out.add("ino a=b=lower: " + (a.ino() == b.ino() && a.ino() == lowerIno));
            }, (ChecklistTwin.Scenario) (fs, out) -> {
                Stat b = fs.stat("b");
                out.add("after remount b: " + fs.read("b").replace("\n", "|") + String.format(" %06o", b.mode()) + " ino=lower: " + (b.ino() == lowerIno));
            });
            assertEquals(List.of("b: h|x| 100600 size=4", "ino a=b=lower: true", "after remount b: h|x| 100600 ino=lower: true"), k.transcript());
        }
    }

    /**
     * Issue 19 bug 3 (pjdfstest chown/00): chown(f, -1, -1) changes nothing but the ctime, of an upper file and of
     * a lower one (which it copies up), as on the kernel overlay.
     */
    @Test void chownMinusOneMinusOneChangesTheCtime() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo l > l1/low && ln -s low l1/sym && chmod 4755 l1/low")) {
            var k = t.compare("", (ChecklistTwin.Scenario) (fs, out) -> {
                fs.append("up", "u\n");
                for (String p : java.util.List.of("up", "low", "sym")) {
                    Stat before = fs.stat(p);
                    Thread.sleep(20);               // so that the clock has moved on (no timing is asserted)
                    fs.chown(p, -1, -1);
                    Stat after = fs.stat(p);
                    out.add(p + ": ctime changed " + (after.ctimeSec() != before.ctimeSec()
                            || after.ctimeNsec() != before.ctimeNsec()) + String.format(" mode %o", after.mode()));
                }
            });
            assertTrue(k.transcript().contains("up: ctime changed true mode 100644"), k.transcript().toString());
        }
    }
}
