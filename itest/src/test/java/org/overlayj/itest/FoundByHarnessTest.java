package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The engine bugs the differential harness found (held descriptors, non-root callers, rotating layers), each as
 * its shortest script on hand-made layers, run on the kernel overlay and on the engine, then on the kernel and the
 * FUSE door, compared after every op (outcome, visible tree, upper layer + index on disk) as the harness does.
 * Layers: l2 holds {@code f} (6 bytes, mtime 2001), {@code e} (empty), {@code ro/x} and {@code ro/sub} in a
 * root-owned 0755 dir, {@code st/o} owned by 1001 in a 01777 dir; l1 is empty.
 */
class FoundByHarnessTest {
    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    private static final Op.Caller STRANGER = new Op.Caller(1000, 1000, List.of(1001));

    private static Op as(Op op) { return new Op.As(STRANGER, op); }

    /** The cases by name: options and script. */
    private static MountConfig config(String name) {
        return switch (name) {
            case "metacopyCopyIn" -> new MountConfig(true, false, false, true);
            case "nlinkAfterRemount", "nlinkAfterDropCaches" -> new MountConfig(true, true, true);
            default -> new MountConfig(false, false, false);
        };
    }

    private static List<Op> script(String name) {
        return switch (name) {
            // (a) a metacopy file's data copied in by an O_RDWR open: mtime moves to now (6-byte f), stays (empty e)
            case "metacopyCopyIn" -> List.of(new Op.Chmod("/f", 0600), new Op.Chmod("/e", 0600),
                    new Op.Hold("/f", 0, true), new Op.Hold("/e", 1, true));
            // (b) a single-link file indexed under nfs_export, remounted, linked: NS nlink "U+0", not "U-1"
            case "nlinkAfterRemount" -> List.of(new Op.Chmod("/f", 0600), new Op.Remount(), new Op.Link("/f", "/g"));
            case "nlinkAfterDropCaches" -> List.of(new Op.Chmod("/f", 0600), new Op.DropCaches(), new Op.Link("/f", "/g"));
            // non-root callers: EEXIST before EACCES for a new name, EACCES before EISDIR for a rename, sticky EPERM
            case "nonRootOrder" -> List.of(as(new Op.Create("/ro/x", 0644, 1, 1)), as(new Op.Mkdir("/ro/sub", 0755)),
                    as(new Op.Link("/f", "/ro/x")), as(new Op.Rename("/ro/x", "/ro/sub", 0)),
                    as(new Op.Rename("/st/o", "/st/p", 0)), as(new Op.Create("/st/mine", 0644, 3, 2)),
                    as(new Op.Rename("/st/mine", "/st/o", 0)), as(new Op.LinkGroup("/f", 3)));
            // rotating layers: a link made by one mount is a lower hard link of the next; copied up with index off
            // it gets no origin, and its new parent is not made impure by a rename
            case "rotatedHardLink" -> List.of(new Op.Link("/f", "/g"), new Op.Rotate(), new Op.Append("/f", 3, 1),
                    new Op.Rename("/g", "/ro/g", 0));
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static LayerSet[] layers(Path root) throws Exception {
        LayerSet proto = new LayerSet(root.resolve("proto"));
        for (Path p : List.of(proto.lower1(), proto.lower2(), proto.upper(), proto.work())) Files.createDirectories(p);
        LayerSet.run("sh", "-c", "cd " + proto.lower2() + " && printf hello! > f && : > e && mkdir ro st"
                + " && echo x > ro/x && mkdir ro/sub && chmod 0755 ro && chmod 01777 st && echo o > st/o"
                + " && chown 1001:1001 st/o && chmod 0666 f e && touch -d 2001-01-01 f e ro/x st/o");
        return new LayerSet[] {proto.copyTo(root.resolve("A")), proto.copyTo(root.resolve("B"))};
    }

    private static void check(String name, DifferentialRunner.TargetFactory candidate, String candidateName)
            throws Exception {
        Path root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "found-");
        try {
            org.overlayj.sys.Linux.chmod(root.toString(), 0755);   // the stranger reaches the mount points
            LayerSet[] ab = layers(root);
            DifferentialRunner r = new DifferentialRunner(candidate, candidateName,
                    new DifferentialRunner.Settings(30, DifferentialRunner.Mix.MIXED, false, false));
            DifferentialRunner.Run run = r.runScript(config(name), root, ab[0], ab[1], script(name), true);
            assertNull(run.mismatch(), () -> name + ":\n" + String.join("\n", run.lines()) + "\n" + run.mismatch().what());
        } finally {
            Cleanup.removeTree(root);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"metacopyCopyIn", "nlinkAfterRemount", "nlinkAfterDropCaches", "nonRootOrder",
            "rotatedHardLink"})
    void engineAgreesWithKernel(String name) throws Exception {
        check(name, DifferentialRunner.ENGINE, "overlayj");
    }

    @ParameterizedTest
    @ValueSource(strings = {"metacopyCopyIn", "nlinkAfterRemount", "nlinkAfterDropCaches", "nonRootOrder",
            "rotatedHardLink"})
    void fuseAgreesWithKernel(String name) throws Exception {
        check(name, FuseTarget.FACTORY, "fuse");
    }
}
