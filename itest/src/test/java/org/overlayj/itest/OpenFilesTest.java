package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hand-made cases of issue 21 that the random sequences did not reach, each run on a kernel overlay and on an
 * overlayj FUSE mount of byte-identical layers and compared after every step (outcome, visible tree, upper layer and
 * index on disk), as {@link DifferentialRunner} does: descriptors held across namespace changes, reopening an
 * unlinked file through /proc/self/fd, many hard links removed, and file handles of the FUSE mount after
 * drop_caches, copy-up and a remount.
 */
class OpenFilesTest {
    private static final MountConfig NFS = new MountConfig(true, true, true);
    private static final MountConfig DEFAULT = MountConfig.DEFAULT;

    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    /** Runs {@code script} on the kernel and on a FUSE mount of copies of the layers below; fails on a difference. */
    private static void agree(MountConfig cfg, List<Op> script) throws Exception {
        agree(cfg, script, true);
    }

    private static void agree(MountConfig cfg, List<Op> script, boolean everyStep) throws Exception {
        Path root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-open");
        try {
            LayerSet a = new LayerSet(root.resolve("A"));
            Files.createDirectories(a.lower1().resolve("d"));
            Files.createDirectories(a.lower2());
            Files.createDirectories(a.upper());
            Files.createDirectories(a.work());
            Files.writeString(a.lower1().resolve("lf"), "lower data\n");
            Files.writeString(a.lower1().resolve("lf3"), "lower three\n");
            Files.writeString(a.lower1().resolve("d/x"), "x in d\n");
            Files.writeString(a.lower2().resolve("lf2"), "lower two\n");
            LayerSet b = a.copyTo(root.resolve("B"));
            DifferentialRunner r = new DifferentialRunner(FuseTarget.FACTORY, "fuse",
                    new DifferentialRunner.Settings(script.size(), DifferentialRunner.Mix.PLAIN, false, false));
            DifferentialRunner.Run run = r.runScript(cfg, root, a, b, script, everyStep);
            StringBuilder s = new StringBuilder(cfg + ":\n");
            for (String l : run.lines()) s.append("  ").append(l).append('\n');
            System.out.print(s);
            assertTrue(run.agreed(), s + (run.agreed() ? "" : run.mismatch().what()));
        } finally {
            Cleanup.removeTree(root);
        }
    }

    /** Item 1: an open lower file keeps its data when its name is unlinked (nfs_export copies it up first). */
    @Test void item1_unlinkOfAnOpenLowerFile() throws Exception {
        agree(NFS, List.of(new Op.Hold("/lf", 0, false), new Op.Unlink("/lf"), new Op.ReadHeld(0),
                new Op.Hold("/lf2", 1, false), new Op.Chmod("/lf2", 0600), new Op.Unlink("/lf2"), new Op.ReadHeld(1),
                new Op.Release(0), new Op.Release(1)));
    }

    /** Item 1: an open lower file renamed over reads its old data, not the new file's. */
    @Test void item1_renameOverAnOpenLowerFile() throws Exception {
        for (MountConfig cfg : List.of(NFS, DEFAULT)) {
            agree(cfg, List.of(new Op.Hold("/lf3", 0, false), new Op.Create("/new", 0644, 20, 7),
                    new Op.Rename("/new", "/lf3", 0), new Op.ReadHeld(0), new Op.Read("/lf3"),
                    new Op.Create("/uf", 0644, 30, 8), new Op.Hold("/uf", 1, false), new Op.Create("/n2", 0600, 5, 9),
                    new Op.Rename("/n2", "/uf", 0), new Op.ReadHeld(1), new Op.Release(0), new Op.Release(1)));
        }
    }

    /** Item 2: an unlinked open file is reopened through /proc/self/fd, upper (any options) and lower. */
    @Test void item2_reopenOfAnUnlinkedOpenFile() throws Exception {
        for (MountConfig cfg : List.of(DEFAULT, NFS)) {
            agree(cfg, List.of(new Op.Create("/uf", 0644, 30, 1), new Op.Hold("/uf", 0, false),
                    new Op.Unlink("/uf"), new Op.Reopen(0, false), new Op.Reopen(0, true),
                    new Op.Hold("/lf", 1, false), new Op.Unlink("/lf"), new Op.Reopen(1, false),
                    new Op.Reopen(1, true), new Op.ReadHeld(1), new Op.Release(0), new Op.Release(1)));
        }
    }

    /**
     * Item 12: file handles of the mount (name_to_handle_at of a lower file, a lower directory, a file in it and an
     * upper file) open by open_by_handle_at after drop_caches (the FUSE door got FORGETs: it must decode the nodeid),
     * after copy-ups, after a remount of the same layers, and give ESTALE once the object is removed. No tree walk
     * between the steps, which would look every name up again.
     */
    @Test void item12_handlesAfterDropCachesCopyUpAndRemount() throws Exception {
        List<Op> script = new ArrayList<>(List.of(new Op.Create("/uf", 0644, 12, 5), new Op.Mkdir("/ud", 0755),
                new Op.Create("/ud/y", 0600, 7, 6)));
        String[] paths = {"/lf", "/d", "/d/x", "/uf", "/ud", "/ud/y", "/lf2"};
        for (int i = 0; i < paths.length; i++) script.add(new Op.TakeHandle(paths[i], i));
        script.add(new Op.DropCaches());
        for (int i = 0; i < paths.length; i++) script.add(new Op.OpenHandle(i));
        script.addAll(List.of(new Op.Chmod("/lf", 0600), new Op.Chmod("/d/x", 0640), new Op.Rename("/d", "/d2", 0),
                new Op.DropCaches()));
        for (int i = 0; i < paths.length; i++) script.add(new Op.OpenHandle(i));
        script.add(new Op.Remount());
        for (int i = 0; i < paths.length; i++) script.add(new Op.OpenHandle(i));
        script.addAll(List.of(new Op.Unlink("/uf"), new Op.Unlink("/lf2"), new Op.DropCaches(), new Op.OpenHandle(3),
                new Op.OpenHandle(6), new Op.OpenHandle(0)));
        agree(NFS, script, false);
    }

    /**
     * Item 4 (xfstests generic/002): 18 links made, 17 removed newest first; the first name stays. No tree walk
     * between the steps, which would look the first name up again.
     */
    @Test void item4_manyLinksRemoved() throws Exception {
        List<Op> script = new ArrayList<>(List.of(new Op.Create("/t.1", 0644, 5, 3)));
        for (int i = 2; i <= 18; i++) script.add(new Op.Link("/t.1", "/t." + i));
        for (int i = 18; i >= 2; i--) script.add(new Op.Unlink("/t." + i));
        script.add(new Op.Read("/t.1"));
        agree(DEFAULT, script, false);
    }
}
