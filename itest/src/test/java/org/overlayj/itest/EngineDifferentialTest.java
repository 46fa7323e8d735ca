package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine ({@link org.overlayj.core.Overlay}, no door) against the kernel: seeded random sequences over two lower
 * layers with whiteouts and opaque dirs, compared after every op (outcome, visible tree, upper layer + index on
 * disk). Even seeds run redirect_dir=on with directory renames, odd ones the default options; seeds 2 and 3 mod 4
 * run index=on with lower hard-link groups (aliases across dirs, ops biased to them), and seeds 6 and 7 mod 8 also
 * nfs_export=on ({@link DifferentialRunner.Mix#MIXED}). After each sequence both directions are cross-checked (see
 * {@link BothDirectionsTest}). CI: 200 sequences x 30 ops. {@code -Doverlayj.seqs=N} ({@code -Doverlayj.seqs=2000}
 * or {@code -Doverlayj.long=true} for 2,000), {@code -Doverlayj.seed0=S} first seed, {@code -Doverlayj.ops=N},
 * {@code -Doverlayj.index=on|off} all or none with index; {@code -Doverlayj.seed=S -Doverlayj.ops=N} replays one.
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
