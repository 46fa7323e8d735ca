package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An overlayj FUSE mount (a child JVM running the CLI) against the kernel, through the same system calls: after
 * every op the outcome, the visible tree and the upper layer + index on disk. Fewer sequences by default than the
 * engine test because each one starts a JVM: 20, {@code -Doverlayj.fuse.seqs=N}, 200 with
 * {@code -Doverlayj.long=true}; half of them index=on with lower hard links (see {@link DifferentialRunner.Mix}).
 * Remount cross-checks are {@link BothDirectionsTest}'s job (engine), here only with
 * {@code -Doverlayj.crossCheck=true}. The other properties are those of {@link EngineDifferentialTest}.
 */
class FuseDifferentialTest {
    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    @Test
    void fuseMountAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(FuseTarget.FACTORY, "fuse",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(),
                        Boolean.getBoolean("overlayj.crossCheck")));
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 200
                : Integer.getInteger("overlayj.fuse.seqs", 20)), "FuseDifferentialTest", 3);
        System.out.println("[fuse vs kernel] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
