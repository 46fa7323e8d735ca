package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * A metadata-only copy's absolute redirect walked through a directory that an older mount renamed (issue 19,
 * rotating seeds 5172 and 5280): the kernel reads the redirect of every directory on the way of an absolute path
 * in a lower layer, so the path the layers below are searched by changes as it goes; the engine used to read only
 * the last one, found no data and gave EIO where the kernel serves the file. Each case is the shortest script the
 * harness found, on hand-made layers, run on the kernel overlay and on the engine (then the FUSE door), compared
 * after every op as the harness does; each ends with a remount, so that the FUSE door looks the names up again
 * (it passed on its caches alone before). Layers: l2 holds {@code c/f} (empty), {@code e/c/}, {@code d/f/c} (9 bytes)
 * and {@code op/}; l1 is empty. redirect_dir=on, metacopy=on.
 */
class RedirectOnTheWayTest {
    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    private static final MountConfig METACOPY = new MountConfig(true, false, false, true);

    private static List<Op> script(String name) {
        return switch (name) {
            // seed 5172: m1/e/n0 has redirect "c", m1/e/n0/c has "/c"; the second mount renames /e/n0/c to
            // /e/n0/n0 and moves f out of it: f's metacopy copy gets "/e/n0/c/f", found below as /c/f only
            // through both redirects of m1 on the way
            case "relativeThenAbsolute" -> List.of(new Op.Rename("/c", "/e/c/c", org.overlayj.sys.Linux.RENAME_NOREPLACE),
                    new Op.Rename("/e/c", "/e/n0", org.overlayj.sys.Linux.RENAME_NOREPLACE), new Op.Rotate(),
                    new Op.Rename("/e/n0/c", "/e/n0/n0", 0), new Op.Rename("/e/n0/n0/f", "/e/n0/b", 0),
                    new Op.Remount(), new Op.Read("/e/n0/b"));
            // the same through two rotations: the redirect of the middle of three layers is on the way too
            case "twoRotations" -> List.of(new Op.Rename("/c", "/e/c/c", org.overlayj.sys.Linux.RENAME_NOREPLACE),
                    new Op.Rename("/e/c", "/e/n0", org.overlayj.sys.Linux.RENAME_NOREPLACE), new Op.Rotate(),
                    new Op.Rename("/e/n0/c", "/e/n0/n0", 0), new Op.Rotate(),
                    new Op.Rename("/e/n0/n0/f", "/e/n0/b", 0), new Op.Remount(), new Op.Read("/e/n0/b"));
            // seed 5280: m1/b is /d renamed (redirect "d"); a link of /b/f/c makes a metacopy copy with redirect
            // "/b/f/c", whose data is l2's /d/f/c: both names gave EIO
            case "linkUnderRenamedDir" -> List.of(new Op.Rename("/d", "/b", 0), new Op.Rotate(),
                    new Op.Link("/b/f/c", "/op/op"), new Op.Remount(), new Op.Read("/op/op"), new Op.Read("/b/f/c"));
            // seed 5796: a link made by one mount is a lower hard link of the next; linked again there, its
            // metadata-only copy gets a redirect but no origin, and the new name's directory is not made impure
            case "linkOfRotatedHardLink" -> List.of(new Op.Link("/d/f/c", "/op/b"), new Op.Rotate(),
                    new Op.Link("/op/b", "/e/wo"), new Op.Remount(), new Op.Read("/e/wo"));
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static LayerSet[] layers(Path root) throws Exception {
        LayerSet proto = new LayerSet(root.resolve("proto"));
        for (Path p : List.of(proto.lower1(), proto.lower2(), proto.upper(), proto.work())) Files.createDirectories(p);
        LayerSet.run("sh", "-c", "cd " + proto.lower2() + " && mkdir -p c e/c d/f op && : > c/f"
                + " && printf 'contents\\n' > d/f/c && touch -d 2001-01-01 c/f d/f/c");
        return new LayerSet[] {proto.copyTo(root.resolve("A")), proto.copyTo(root.resolve("B"))};
    }

    private static void check(String name, DifferentialRunner.TargetFactory candidate, String candidateName)
            throws Exception {
        Path root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "redirect-");
        try {
            LayerSet[] ab = layers(root);
            DifferentialRunner r = new DifferentialRunner(candidate, candidateName,
                    new DifferentialRunner.Settings(30, DifferentialRunner.Mix.MIXED, false, false));
            DifferentialRunner.Run run = r.runScript(METACOPY, root, ab[0], ab[1], script(name), true);
            assertNull(run.mismatch(), () -> name + ":\n" + String.join("\n", run.lines()) + "\n" + run.mismatch().what());
        } finally {
            Cleanup.removeTree(root);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"relativeThenAbsolute", "twoRotations", "linkUnderRenamedDir", "linkOfRotatedHardLink"})
    void engineAgreesWithKernel(String name) throws Exception {
        check(name, DifferentialRunner.ENGINE, "overlayj");
    }

    @ParameterizedTest
    @ValueSource(strings = {"relativeThenAbsolute", "twoRotations", "linkUnderRenamedDir", "linkOfRotatedHardLink"})
    void fuseAgreesWithKernel(String name) throws Exception {
        check(name, FuseTarget.FACTORY, "fuse");
    }
}
