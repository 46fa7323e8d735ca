package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The random sequences of {@link EngineDifferentialTest} with rotating layers (issue 19 bug 2's "shown by"): about
 * one op in twelve unmounts, turns the upper layer into the top lower layer under a fresh upper and work dir, and
 * mounts again ({@link Op.Rotate}), so that redirects, origins, metacopy files, whiteouts and opaque directories
 * made by one mount are followed through middle layers by the next ones, 3 to 6 layers deep, as container builds
 * stack them. Compared after every op with the kernel (outcome, visible tree, upper layer + index), and both
 * directions cross-checked at the end.
 *
 * <p>CI: 150 engine sequences and 6 FUSE ones of 30 ops from seed {@link #FIRST}; {@code -Doverlayj.rotate.seqs=N},
 * {@code -Doverlayj.rotate.fuse.seqs=N}, {@code -Doverlayj.seed0=S}; {@code -Doverlayj.long=true}: 3,000 and 200.
 * {@code -Doverlayj.seed=S -Doverlayj.ops=N} replays one.
 *
 * <p>Found and fixed with it: an absolute redirect walked in a middle layer now reads the redirect of every directory
 * on the way, as the kernel does (seeds 5172, 5280: EIO where the kernel served a metacopy file's data; shortest
 * scripts in {@link RedirectOnTheWayTest}). Seeds 5000-5999 then agree (engine), besides one-offs of a busy shared
 * machine, which {@link SequenceSuite} now runs again (a drop_caches by another process) or sees as foreign kernel
 * messages.
 */
class RotatingDifferentialTest {
    static final long FIRST = 5000;

    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    @Test
    void engineWithRotatingLayersAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(DifferentialRunner.ENGINE, "overlayj",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), true).withRotation(true));
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 3000
                : Integer.getInteger("overlayj.rotate.seqs", 150), FIRST), "RotatingDifferentialTest", 3);
        System.out.println("[engine vs kernel, rotating layers] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }

    @Test
    void fuseWithRotatingLayersAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(FuseTarget.FACTORY, "fuse",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), false, false).withRotation(true));
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 200
                : Integer.getInteger("overlayj.rotate.fuse.seqs", 6), FIRST), "RotatingDifferentialTest", 3);
        System.out.println("[fuse vs kernel, rotating layers] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
