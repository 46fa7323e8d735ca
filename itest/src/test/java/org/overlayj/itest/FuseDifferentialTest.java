package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An overlayj FUSE mount (a child JVM running the CLI) against the kernel, through the same system calls. Fewer
 * sequences by default than the engine test because each one starts a JVM: {@code -Doverlayj.fuse.seqs=N}; the
 * other properties are those of {@link EngineDifferentialTest}.
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
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.hardLinks(), true));
        SequenceSuite.Summary s = SequenceSuite.run(r,
                SequenceSuite.seeds(Integer.getInteger("overlayj.fuse.seqs", 10)), "FuseDifferentialTest", 3);
        System.out.println("[fuse vs kernel] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
