package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The harness checked against itself: the kernel on two copies of the same layers, given the same scripts, must
 * agree on everything (copying, normalization and comparison are sound and deterministic), and a deliberately
 * different target must be caught, shrunk and reported.
 */
class KernelSelfCheckTest {
    private static final String ME = "KernelSelfCheckTest";

    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
    }

    private static DifferentialRunner kernelVsKernel(DifferentialRunner.TargetFactory candidate, boolean crossCheck) {
        return new DifferentialRunner(DifferentialRunner.KERNEL, candidate, "kernel2",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), crossCheck));
    }

    @Test
    void kernelAgreesWithKernel() {
        List<Long> seeds = SequenceSuite.seeds(Integer.getInteger("overlayj.selfcheck.seqs", 25));
        SequenceSuite.Summary s = SequenceSuite.run(kernelVsKernel(DifferentialRunner.KERNEL, true), seeds, ME, 3);
        System.out.println("[kernel self-check] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }

    @Test
    void kernelAgreesWithKernelWithLowerHardLinksAndIndex() {
        DifferentialRunner r = new DifferentialRunner(DifferentialRunner.KERNEL, DifferentialRunner.KERNEL, "kernel2",
                new DifferentialRunner.Settings(SequenceSuite.ops(), DifferentialRunner.Mix.INDEX, true));
        SequenceSuite.Summary s = SequenceSuite.run(r, List.of(101L, 102L, 103L, 104L), ME, 1);
        System.out.println("[kernel self-check, index=on + hard links] " + s.line());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }

    /** A target that answers one chmod wrongly (applies another mode): the harness must see it and shrink to it. */
    @Test
    void aDifferentOutcomeIsReportedAndShrunk() throws Exception {
        DifferentialRunner.TargetFactory liar = (name, layers, cfg, mnt) ->
                new Sabotaged(DifferentialRunner.KERNEL.open(name, layers, cfg, mnt), true);
        DifferentialRunner r = kernelVsKernel(liar, false);
        DifferentialRunner.Run failed = null;
        for (long seed = 1; seed < 40 && failed == null; seed++) {
            DifferentialRunner.Run run = r.run(seed);
            if (!run.agreed()) failed = run;
        }
        assertNotNull(failed, "a target that chmods to another mode was not caught in 40 sequences");
        assertTrue(failed.mismatch().what().contains("visible tree differs"), failed.mismatch().what());
        DifferentialRunner.Run shrunk = r.shrink(failed, 40);
        assertFalse(shrunk.agreed());
        assertTrue(shrunk.ops().size() <= failed.ops().size());
        assertTrue(shrunk.ops().stream().anyMatch(o -> o instanceof Op.Chmod), shrunk.ops().toString());
        assertTrue(shrunk.ops().getLast() instanceof Op.Chmod, shrunk.lines().toString());
        String report = r.report(failed, shrunk, ME);
        System.out.println(report);
        assertTrue(report.contains("-Doverlayj.seed=" + failed.seed()), report);
        assertTrue(report.contains("shortest failing script ("), report);
    }

    /** A target whose errno differs is reported at that op. */
    @Test
    void aDifferentErrnoIsReported() throws Exception {
        DifferentialRunner.TargetFactory liar = (name, layers, cfg, mnt) ->
                new Sabotaged(DifferentialRunner.KERNEL.open(name, layers, cfg, mnt), false);
        DifferentialRunner.Run failed = null;
        for (long seed = 1; seed < 40 && failed == null; seed++) {
            DifferentialRunner.Run run = kernelVsKernel(liar, false).run(seed);
            if (!run.agreed()) failed = run;
        }
        assertNotNull(failed);
        assertTrue(failed.mismatch().what().startsWith("outcome of op " + failed.mismatch().at()), failed.mismatch().what());
        assertTrue(failed.ops().get(failed.mismatch().at()) instanceof Op.Unlink, failed.mismatch().what());
    }

    /** A difference only on disk (an extra trusted.overlay xattr in the upper layer) shows in the upper snapshot. */
    @Test
    void anUpperLayerDifferenceIsReported() throws Exception {
        Path root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-self");
        try {
            LayerSet a = LayerBuilder.build(root.resolve("A"), 7, false);
            LayerSet b = a.copyTo(root.resolve("B"));
            InodeNames na = new InodeNames(a), nb = new InodeNames(b);
            na.refreshUpper();
            nb.refreshUpper();
            // the two copies agree, lower trees included
            assertEquals(null, UpperSnapshot.take("u", a, na).diff(UpperSnapshot.take("u", b, nb), "a", "b"));
            Linux.lsetxattr(Linux.fromUtf8(b.upper().toString()), "trusted.overlay.impure", new byte[] {'y'}, 0);
            nb.refreshUpper();
            String d = UpperSnapshot.take("u", a, na).diff(UpperSnapshot.take("u", b, nb), "a", "b");
            assertNotNull(d);
            assertTrue(d.contains("trusted.overlay.impure=\"y\""), d);
        } finally {
            Cleanup.removeTree(root);
        }
    }

    /** The kernel-log watch of the cross-checks sees an overlayfs message logged after its mark. */
    @Test
    void kernelLogMessagesAfterTheMarkAreSeen() throws Exception {
        Path root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-kmsg");
        try (Kmsg log = Kmsg.mark()) {
            LayerSet a = LayerBuilder.build(root.resolve("A"), 9, false);
            String mnt = Linux.fromUtf8(root.resolve("m").toString());
            Files.createDirectories(root.resolve("m"));
            // all layers on one fs: the kernel warns that xino=on is useless and mounts anyway
            Linux.mount("overlay", mnt, "overlay", 0, MountConfig.DEFAULT.kernelOptions(a) + ",xino=on");
            KernelMount.unmount(mnt);
            List<String> lines = log.overlayLines();
            assertTrue(lines.stream().anyMatch(l -> l.contains("xino=on")), lines.toString());
        } finally {
            Cleanup.removeTree(root);
        }
    }

    /** fh blobs from two copies compare equal when they name the same object, and differ when they do not. */
    @Test
    void fhBlobsAreNormalizedByTheObjectTheyName() throws Exception {
        Path root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-fh");
        try {
            LayerSet a = LayerBuilder.build(root.resolve("A"), 3, false);
            LayerSet b = a.copyTo(root.resolve("B"));
            InodeNames na = new InodeNames(a), nb = new InodeNames(b);
            String fa = Linux.fromUtf8(a.lower2().resolve("op").toString()), fb = Linux.fromUtf8(b.lower2().resolve("op").toString());
            byte[] ba = blob(fa), bb = blob(fb);
            assertNotEquals(java.util.HexFormat.of().formatHex(ba), java.util.HexFormat.of().formatHex(bb));
            assertEquals(FhBlob.normalize(ba, na), FhBlob.normalize(bb, nb));
            assertTrue(FhBlob.normalize(ba, na).contains("obj=L2:/op"), FhBlob.normalize(ba, na));
            byte[] other = blob(Linux.fromUtf8(b.lower2().resolve("op/hidden").toString()));
            assertNotEquals(FhBlob.normalize(ba, na), FhBlob.normalize(other, nb));
        } finally {
            Cleanup.removeTree(root);
        }
    }

    /** The kernel's layout (format doc §5.2): 00 fb len flags type uuid16 fid. */
    private static byte[] blob(String path) throws Exception {
        var h = Linux.nameToHandle(path, 0);
        byte[] fid = h.bytes();
        byte[] b = new byte[21 + fid.length];
        b[1] = (byte) 0xfb;
        b[2] = (byte) b.length;
        b[4] = (byte) h.type();
        System.arraycopy(fid, 0, b, 21, fid.length);
        return b;
    }

    /** Wraps a target and misbehaves on purpose: a wrong chmod mode, or EPERM instead of an unlink's result. */
    private record Sabotaged(Target t, boolean wrongChmod) implements Target {
        @Override public String name() { return t.name(); }
        @Override public LayerSet layers() { return t.layers(); }
        @Override public TreeView view() { return t.view(); }
        @Override public void close() throws Exception { t.close(); }

        @Override public Outcome apply(Op op) {
            if (wrongChmod && op instanceof Op.Chmod c) return t.apply(new Op.Chmod(c.path(), c.mode() ^ 0070));
            if (!wrongChmod && op instanceof Op.Unlink) {
                Outcome o = t.apply(op);
                return o.isOk() ? Outcome.error(org.overlayj.sys.Errno.EPERM) : o;
            }
            return t.apply(op);
        }
    }
}
