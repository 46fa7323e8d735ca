package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.ChecklistTwin.Mount;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.overlayj.core.ChecklistTwin.errno;

/**
 * Layers in shapes a single mount does not make (issue 21 items 7-10), engine vs kernel: a lower directory that was
 * the upper of an earlier overlay (an origin, whiteouts inside), an absolute redirect reached through an opaque
 * directory, d_ino in an impure upper directory whose lower origin is gone, layer directories moved into a lower
 * layer under a mounted overlay.
 */
class ChecklistFormatCasesTest {
    static final String OPTS = "index=on,nfs_export=on,redirect_dir=on";

    /** Item 7 (xfstests overlay/031): l1 is the upper an earlier kernel overlay over l2 left: whiteouts in dirs with an origin. */
    @Test void item7_lowerDirWithOriginHidesItsWhiteouts() throws Exception {
        String setup = "mkdir -p l2/d l2/d2 scratch && touch l2/d/f l2/d/g l2/d2/x"
                + " && mount -t overlay overlay -o lowerdir=l2,upperdir=l1,workdir=scratch mnt"
                + " && rm mnt/d/f mnt/d/g mnt/d2/x; umount mnt; rm -rf scratch";
        try (ChecklistTwin t = new ChecklistTwin(2, setup)) {
            ChecklistTwin.Scenario look = (fs, out) -> {
                for (String d : List.of("d", "d2")) {
                    out.add(d + ": " + fs.ls(d) + " nlink " + fs.stat(d).nlink() + " stat " + d + "/f: " + errno(() -> fs.stat(d + "/f")));
                }
                out.add("rmdir d: " + errno(() -> fs.rmdir("d")) + " rmdir d2: " + errno(() -> fs.rmdir("d2")));
            };
            var k = t.compare("", new Mount("lowerdir=$R/l1,upperdir=$R/upper,workdir=$R/work," + OPTS, look));
            assertTrue(k.transcript().getFirst().startsWith("d: [] nlink 2"), k.transcript().toString());
            assertEquals("rmdir d: ok rmdir d2: ok", k.transcript().get(2));
            t.compare(OPTS, look);              // and over both layers (d is a merge directory there)
        }
    }

    /**
     * Item 8 (xfstests overlay/057): three mounts rotating the layers; in the last, other's absolute redirect
     * "/pure/redirect1" walks through the opaque directory pure in layer 1, where redirect1's own absolute redirect
     * "/origin" continues the lookup in the layers below. Transcripts only (the later uppers' origins name inodes of
     * the rotated layers, new on each side).
     */
    @Test void item8_absoluteRedirectThroughAnOpaqueAncestor() throws Exception {
        String opts = "index=on,redirect_dir=on";
        try (ChecklistTwin t = new ChecklistTwin(1, "mkdir -p l1/origin l1/o2 && touch l1/origin/foo l1/o2/bar")) {
            ChecklistTwin.Scenario look = (fs, out) -> out.add("other: " + errno(() -> out.add(fs.ls("other").toString()))
                    + " other2/r2: " + errno(() -> out.add(fs.ls("other2/r2").toString())));
            Object[] steps = {"rm -rf u1 u2 w1 w2 && mkdir u1 u2 w1 w2",
                    new Mount("lowerdir=$R/l1,upperdir=$R/u1,workdir=$R/w1," + opts, (fs, out) -> {
                        fs.mkdir("pure", 0755);
                        fs.rename("origin", "pure/redirect1");
                        fs.mkdir("pure/sub", 0755);
                        fs.rename("o2", "pure/sub/r2");
                    }),
                    new Mount("lowerdir=$R/u1:$R/l1,upperdir=$R/u2,workdir=$R/w2," + opts, (fs, out) -> {
                        fs.rename("pure/redirect1", "other");
                        fs.rename("pure/sub", "other2");
                    }),
                    new Mount("lowerdir=$R/u2:$R/u1:$R/l1,upperdir=$R/upper,workdir=$R/work," + opts, look)};
            var k = t.kernel("", steps);
            var e = t.engine("", steps);
            assertEquals(k.transcript(), e.transcript());
            assertTrue(k.transcript().contains("[foo]"), k.transcript().toString());
        }
    }

    /**
     * Item 9 (xfstests overlay/077 family): in an impure upper directory whose lower origin directory was deleted,
     * each d_ino is the st_ino (objects moved in from elsewhere keep their origin's number).
     */
    @Test void item9_dinoInAnImpureDirWhoseOriginIsGone() throws Exception {
        for (String opts : List.of("redirect_dir=on", "index=on,redirect_dir=on", OPTS)) {
            try (ChecklistTwin t = new ChecklistTwin(1, "true")) {
                Object[] steps = {"rm -rf l1/* && mkdir -p l1/d/sub l1/s && echo f > l1/d/f && echo x > l1/x && echo y > l1/s/y",
                        new Mount(opts, (fs, out) -> {
                            fs.openRw("d/f");
                            fs.rename("x", "d/x");
                            fs.rename("s", "d/s2");
                        }),
                        "rm -rf l1/d",
                        new Mount(opts, (fs, out) -> {
                            Map<String, Long> dino = fs.dino("d");
                            for (var en : dino.entrySet()) {
                                out.add(en.getKey() + " d_ino==st_ino " + (en.getValue() == fs.stat("d/" + en.getKey()).ino()));
                            }
                        })};
                var k = t.kernel("", steps);
                var e = t.engine("", steps);
                assertEquals(k.transcript(), e.transcript(), opts);
                assertEquals(List.of("f d_ino==st_ino true", "s2 d_ino==st_ino true", "x d_ino==st_ino true"), k.transcript(), opts);
            }
        }
    }

    /** Item 10 (xfstests overlay/065): W/work and the upper root moved into a lower layer while mounted: ELOOP. */
    @Test void item10_layerDirsMovedIntoALowerLayer() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "mkdir -p l1/dir")) {
            ChecklistTwin.Scenario s = (fs, out) -> {
                out.add("before: " + fs.ls("dir"));
                Layers.sh("cd " + t.L.root + " && mkdir l1/dir/x l1/dir/y && mv work/work l1/dir/work && mv work/index l1/dir/index"
                        + " && mv upper l1/dir/x/upper");
                try {
                    out.add("ls dir: " + fs.ls("dir").stream().sorted().toList() + " ls dir/x: " + fs.ls("dir/x"));
                    out.add("stat dir/work: " + errno(() -> fs.stat("dir/work")) + " dir/index: " + errno(() -> fs.stat("dir/index"))
                            + " ls dir/x/upper: " + errno(() -> fs.ls("dir/x/upper")));
                } finally {
                    Layers.sh("cd " + t.L.root + " && mv l1/dir/x/upper upper && mv l1/dir/work work/work && mv l1/dir/index work/index"
                            + " && rmdir l1/dir/x");
                }
                // W itself (the work base), moved in under the mount too
                Layers.sh("cd " + t.L.root + " && mv work l1/dir/y/w");
                try {
                    out.add("stat dir/y/w: " + errno(() -> fs.stat("dir/y/w")));
                } finally {
                    Layers.sh("cd " + t.L.root + " && mv l1/dir/y/w work && rmdir l1/dir/y");
                }
            };
            var k = t.compare(OPTS, s);
            assertEquals("stat dir/work: ok dir/index: ELOOP ls dir/x/upper: ELOOP", k.transcript().get(2));
            assertEquals("stat dir/y/w: ELOOP", k.transcript().get(3));
        }
    }
}
