package org.overlayj.core;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.overlayj.core.ChecklistTwin.errno;

/**
 * Layers edited outside a mount that give one lower object two upper claimants (issue 21 item 5), engine vs kernel:
 * an upper file or redirected directory copied with its xattrs (xfstests overlay/059, 049), and lower hard links
 * added under a mounted overlay, then removed through it (overlay/034).
 */
class ChecklistDuplicateTest {
    static final String LOWER = "echo orig > l1/origin && mkdir -p l1/dir/sub && echo x > l1/dir/sub/f";

    /** What a name shows: its data, or the errno of reading it. */
    private static String show(ChecklistTwin.Fs fs, String path) {
        String[] r = new String[1];
        String e = errno(() -> r[0] = fs.read(path).replace("\n", "|"));
        return e.equals("ok") ? r[0] : e;
    }

    private static ChecklistTwin.Scenario duplicates(List<Object> keep) {
        return (fs, out) -> {
            // the kernel keeps the first name's inode cached; the engine's node lives while someone holds it
            if (fs instanceof ChecklistTwin.EngineFs e) {
                keep.add(e.walk("ref1"));
                keep.add(e.walk("dir1"));
            }
            out.add("append ref1: " + errno(() -> fs.append("ref1", "right\n")) + " stat dir1: " + errno(() -> fs.stat("dir1")));
            out.add("append ref2: " + errno(() -> fs.append("ref2", "wrong\n")));
            out.add("ref1=" + show(fs, "ref1") + " ref2=" + show(fs, "ref2"));
            out.add("stat dir2: " + errno(() -> fs.stat("dir2")) + " ls dir2: " + errno(() -> fs.ls("dir2")));
            String[] ino = new String[2];
            errno(() -> ino[0] = "" + fs.stat("dir1").ino());
            errno(() -> ino[1] = "" + fs.stat("dir2").ino());
            out.add("dir1 and dir2 one st_ino: " + (ino[1] != null && ino[1].equals(ino[0])));
        };
    }

    private static void copiedUpperTwins(String opts, String expect) throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, LOWER)) {
            List<Object> keep = new ArrayList<>();
            var k = t.compare(opts, (ChecklistTwin.Scenario) (fs, out) -> {
                        fs.rename("origin", "ref1");
                        fs.rename("dir", "dir1");
                    },
                    "cp -a upper/ref1 upper/ref2 && cp -a upper/dir1 upper/dir2",
                    duplicates(keep));
            assertTrue(k.transcript().contains(expect), k.transcript().toString());
        }
    }

    @Test void item5_copiedUpperFileAndRedirectDir_redirectDirOn() throws Exception {
        copiedUpperTwins("index=off,redirect_dir=on", "append ref2: ESTALE");
    }

    @Test void item5_copiedUpperFileAndRedirectDir_index() throws Exception {
        copiedUpperTwins("index=on,redirect_dir=on", "ref1=orig|right| ref2=ESTALE");
    }

    @Test void item5_copiedUpperFileAndRedirectDir_nfsExport() throws Exception {
        copiedUpperTwins("index=on,nfs_export=on,redirect_dir=on", "stat dir2: EIO ls dir2: EIO");
    }

    /** overlay/034: removing lower hard links added under the mount keeps the count at 1, as on the kernel. */
    @Test void item5_lowerHardLinksAddedWhileMounted() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo zero > l1/0")) {
            ChecklistTwin.Scenario s = (fs, out) -> {
                fs.link("0", "a");
                out.add("ln a: " + fs.stat("0").nlink());
                Layers.sh("cd " + t.L.lowers.getFirst() + " && for i in 1 2 3 4; do ln 0 $i; done");
                for (String n : List.of("1", "2", "3", "4")) {
                    fs.unlink(n);
                    out.add("rm " + n + ": " + fs.stat("0").nlink());
                }
                out.add("ln b: " + errno(() -> fs.link("0", "b")) + " " + fs.stat("0").nlink() + " " + show(fs, "b"));
                fs.unlink("a");
                out.add("rm a: " + fs.stat("0").nlink());
                fs.unlink("b");
                out.add("rm b: " + fs.stat("0").nlink());
            };
            ChecklistTwin.Scenario after = (fs, out) -> out.add("remount: " + fs.stat("0").nlink() + " " + fs.ls(""));
            var k = t.compare("index=on,nfs_export=on,redirect_dir=on", "rm -f l1/1 l1/2 l1/3 l1/4", s, after);
            assertTrue(k.transcript().contains("rm 2: 1"), k.transcript().toString());
        }
    }
}
