package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine ({@link org.overlayj.core.Overlay}, no door) against the kernel: random sequences over two lower
 * layers with whiteouts and opaque dirs, even seeds with redirect_dir=on and directory renames, odd ones with the
 * default options; after each sequence both directions are cross-checked (the kernel on what the engine left, the
 * engine on what the kernel left). {@code -Doverlayj.seqs=N}, {@code -Doverlayj.long=true} (2,000),
 * {@code -Doverlayj.seed=S -Doverlayj.ops=N} to replay, {@code -Doverlayj.hardlinks=true} for lower hard links
 * with index=on.
 */
class EngineDifferentialTest {
    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
    }

    @Test
    void engineAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(DifferentialRunner.ENGINE, "overlayj",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), true));
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(200), "EngineDifferentialTest", 5);
        System.out.println("[engine vs kernel] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
