package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.ChecklistTwin.Mount;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.ChecklistTwin.NOTHING;
import static org.overlayj.core.ChecklistTwin.errno;

/** Format doc §10 items 13–18 (union nlink, index entries, mount-time index checks, uuid=), engine vs kernel. */
class ChecklistIndexTest {
    static final java.util.HexFormat HEX = java.util.HexFormat.of();

    static String hex(byte[] b) {
        return HEX.formatHex(b);
    }

    @FunctionalInterface interface Get {
        String get() throws Exception;
    }

    /** The value, or the errno name when the call fails with one. */
    static String orErrno(Get g) {
        try {
            return g.get();
        } catch (org.overlayj.sys.ErrnoException e) {
            return org.overlayj.sys.Errno.name(e.errno());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static String nlinkOf(ChecklistTwin t, String upperPath) {
        try {
            return new String(Linux.lgetxattr(t.L.upper + "/" + upperPath, "trusted.overlay.nlink"));
        } catch (Exception e) {
            return "-";
        }
    }

    @Test void item13_nlinkExactFormAndUnionCount() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo a > l1/a && ln l1/a l1/b && echo x > l1/x && ln l1/x l1/y && ln l1/x l1/z")) {
            var k = t.compare("index=on", (ChecklistTwin.Scenario) (fs, out) -> {
                fs.append("a", "1\n");
                out.add("copy-up: a=" + fs.stat("a").nlink() + " b=" + fs.stat("b").nlink() + " " + nlinkOf(t, "a"));
                fs.link("a", "c");
                out.add("ln a c: a=" + fs.stat("a").nlink() + " c=" + fs.stat("c").nlink() + " " + nlinkOf(t, "a"));
                fs.unlink("b");
                out.add("rm b: a=" + fs.stat("a").nlink() + " " + nlinkOf(t, "a"));
                fs.rename("c", "d");
                out.add("mv c d: a=" + fs.stat("a").nlink() + " d=" + fs.stat("d").nlink() + " " + nlinkOf(t, "a"));
                fs.append("x", "1\n");
                out.add("x copy-up: x=" + fs.stat("x").nlink() + " y=" + fs.stat("y").nlink() + " " + nlinkOf(t, "x"));
            }, (ChecklistTwin.Scenario) (fs, out) -> {
                out.add("remount: a=" + fs.stat("a").nlink() + " d=" + fs.stat("d").nlink() + " x=" + fs.stat("x").nlink()
                        + " z=" + fs.stat("z").nlink());
            });
            assertEquals(List.of("copy-up: a=2 b=2 U+0", "ln a c: a=3 c=3 U+0", "rm b: a=2 U-1", "mv c d: a=2 d=2 U-1",
                    "x copy-up: x=3 y=3 U+1", "remount: a=2 d=2 x=3 z=3"), k.transcript());
        }
    }

    static void lastAliasGone(String opts, boolean whiteout) throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo a > l1/a && ln l1/a l1/b")) {
            String name = hex(ChecklistCopyUpTest.lowerBlob(t.L.lowers.getFirst() + "/a"));
            var k = t.compare(opts, (fs, out) -> {
                fs.append("a", "1\n");
                out.add("indexed: " + Linux.lstatOrNull(t.L.work + "/index/" + name).isReg());
                fs.unlink("a");
                fs.unlink("b");
                Stat st = Linux.lstatOrNull(t.L.work + "/index/" + name);
                out.add("after rm: " + (st == null ? "none" : st.isWhiteout() ? "whiteout" : "type " + st.type()));
            });
            assertEquals(List.of("indexed: true", "after rm: " + (whiteout ? "whiteout" : "none")), k.transcript());
        }
    }

    @Test void item14_lastAliasRemovalDeletesOrWhitesOutTheIndexEntry() throws Exception {
        lastAliasGone("index=on", false);
        lastAliasGone("index=on,nfs_export=on", true);
    }

    @Test void item15_firstIndexMountWritesRootOriginAndIndexUpper() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "echo a > l1/a")) {
            var k = t.compare("index=on", NOTHING);
            String rootBlob = hex(ChecklistCopyUpTest.lowerBlob(t.L.lowers.getFirst().toString()));
            assertTrue(k.upper().startsWith(". 040777 0:0 n0 trusted.overlay.origin=0x" + rootBlob + "\n"), k.upper());
            // NS upper: the upper root's blob with flag 04 (upper), shown by the path of the inode it names
            assertTrue(k.work().contains("\nindex 040000 0:0 n0 trusted.overlay.upper=upper-blob[00fb1d04"), k.work());
            assertTrue(k.work().contains(" -> /]\n"), k.work());
        }
    }

    @Test void item16_indexMountWithADifferentLowerIsStale() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(2, "echo 1 > l1/f && echo 2 > l2/f")) {
            String on = "lowerdir=$R/l1,upperdir=$R/upper,workdir=$R/work,index=on";
            String other = "lowerdir=$R/l2,upperdir=$R/upper,workdir=$R/work";
            var k = t.compareWithMessages("", new Mount(on, NOTHING), new Mount(other + ",index=on", NOTHING),
                    new Mount(other + ",index=off", (fs, out) -> out.add("index=off: f=" + fs.read("f").trim())));
            assertEquals(List.of("mount: ESTALE", "index=off: f=2"), k.transcript());
            assertTrue(k.messages().stream().anyMatch(l -> l.contains("failed to verify upper root origin")), k.messages().toString());
        }
    }

    @Test void item17_indexCleanupAtMount() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "for h in h1 h2 h3; do echo $h > l1/$h && ln l1/$h l1/${h}b; done")) {
            String l1 = t.L.lowers.getFirst().toString();
            String h1 = hex(ChecklistCopyUpTest.lowerBlob(l1 + "/h1"));
            byte[] gone = ChecklistCopyUpTest.lowerBlob(l1 + "/h3");
            gone[25] ^= (byte) 0xff; // another generation of h3's inode: no longer decodes, so "stale"
            String stale = hex(gone);
            byte[] v1 = ChecklistCopyUpTest.lowerBlob(l1 + "/h2"), f8 = v1.clone();
            v1[0] = 1;      // version 1
            f8[3] |= 0x08;  // an unknown flag
            String offline = "touch work/index/#junk && mkdir work/index/#jd && touch work/index/#jd/x"
                    + " && rm upper/h1 && setfattr -n trusted.overlay.nlink -v U-1 work/index/" + h1 // orphan: union 0
                    + " && echo s > work/index/" + stale + " && setfattr -n trusted.overlay.origin -v 0x" + stale + " work/index/" + stale;
            ChecklistTwin.Scenario look = (fs, out) -> {
                // the kernel may keep a shared "#<n>" whiteout in W/index while mounted (deleted at the next mount)
                out.add("index: " + Linux.readdir(t.L.work + "/index").stream().filter(d -> !d.isDotOrDotDot())
                        .filter(d -> !(d.name().startsWith("#") && d.type() == org.overlayj.sys.DirEnt.DT_CHR))
                        .map(d -> d.name().startsWith("#") ? d.name() : d.name().equals(h1) ? "h1" : d.name().equals(stale) ? "stale" : "other")
                        .sorted().toList());
                out.add("h1b: " + orErrno(() -> fs.read("h1b").trim() + " n" + fs.stat("h1b").nlink()));
            };
            for (String opts : List.of("index=on", "index=on,nfs_export=on")) {
                var k = t.compareWithMessages(opts, (ChecklistTwin.Scenario) (fs, out) -> {
                    fs.append("h1", "1\n");
                    fs.append("h2", "2\n");
                }, offline, look,
                        "touch work/index/" + hex(v1), look,
                        "rm work/index/" + hex(v1) + " && touch work/index/" + hex(f8), look,
                        "rm work/index/" + hex(f8) + " && touch work/index/zz", look);
                // #* gone, the orphan deleted (index=on) or whited out (nfs_export), the stale entry deleted; the h1
                // alias left sees the lower again
                // (under nfs_export the whiteout index makes the lower alias a "bad index": EIO, §5.6)
                boolean nfs = opts.contains("nfs");
                assertEquals(List.of("index: " + (nfs ? "[h1, other]" : "[other]"), "h1b: " + (nfs ? "EIO" : "h1 n2"), "mount: ENODATA", "mount: ENODATA", "mount: EINVAL"),
                        k.transcript(), opts);
            }
        }
    }

    @Test void item18_uuidAutoOffAndSwitching() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(0, "mkdir t && mount -t tmpfs tmpfs t && echo f > t/f")) {
            try {
                String std = "lowerdir=$R/t,upperdir=$R/upper,workdir=$R/work";
                ChecklistTwin.Scenario uuidXattr = (fs, out) -> out.add("NS uuid: " + errno(() -> out.add(
                        Linux.lgetxattr(t.L.upper.toString(), "trusted.overlay.uuid").length + " bytes")));
                // auto on a new upper: 16 bytes; on an existing (impure) upper: none
                var k = t.compare("", new Mount(std, uuidXattr));
                assertEquals(List.of("16 bytes", "NS uuid: ok"), k.transcript());
                t.upperSetup = "setfattr -n trusted.overlay.impure -v y upper";
                k = t.compare("", new Mount(std, uuidXattr));
                assertEquals(List.of("NS uuid: ENODATA"), k.transcript());
                t.upperSetup = "";
                // off: zero UUIDs in origins, but only when lower and upper share one filesystem (here the
                // lower is a tmpfs, the upper ext4: the kernel falls back to uuid=null and writes the real UUID)
                ChecklistTwin.Scenario copyUp = (fs, out) -> {
                    fs.append("f", "1\n");
                    byte[] o = Linux.lgetxattr(t.L.upper + "/f", "trusted.overlay.origin");
                    out.add("uuid in origin zero: " + java.util.Arrays.equals(java.util.Arrays.copyOfRange(o, 5, 21), new byte[16]));
                };
                k = t.compare("", new Mount(std + ",index=on,uuid=off", copyUp), new Mount(std + ",index=on,uuid=on", NOTHING));
                assertEquals(List.of("uuid in origin zero: false"), k.transcript());
                // all layers on the tmpfs (a real UUID): off writes zeros, and switching fails the index mount
                String one = "lowerdir=$R/t/l,upperdir=$R/t/u,workdir=$R/t/w,index=on";
                String fresh = "rm -rf t/u t/w && mkdir -p t/u t/w t/l && echo f > t/l/f";
                ChecklistTwin.Scenario copyUpT = (fs, out) -> {
                    fs.append("f", "1\n");
                    byte[] o = Linux.lgetxattr(t.L.root + "/t/u/f", "trusted.overlay.origin");
                    out.add("uuid in origin zero: " + java.util.Arrays.equals(java.util.Arrays.copyOfRange(o, 5, 21), new byte[16]));
                    out.add(ChecklistTwin.snapshot(t.L.root + "/t/u"));
                };
                k = t.compareWithMessages("", fresh, new Mount(one + ",uuid=off", copyUpT), new Mount(one + ",uuid=on", NOTHING),
                        new Mount(one + ",uuid=off", NOTHING), fresh, new Mount(one + ",uuid=on", copyUpT),
                        new Mount(one + ",uuid=off", NOTHING));
                assertEquals("uuid in origin zero: true", k.transcript().get(0));
                assertEquals(List.of("mount: ESTALE", "uuid in origin zero: false"), k.transcript().subList(2, 4));
                assertEquals("mount: ESTALE", k.transcript().get(5));
                assertTrue(k.messages().stream().anyMatch(l -> l.contains("failed to verify upper root origin")), k.messages().toString());
            } finally {
                Layers.sh("umount " + t.L.root + "/t");
            }
        }
    }
}
