package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The random sequences of {@link EngineDifferentialTest} and {@link FuseDifferentialTest} with descriptors held
 * across ops (issue 21): about a third of the ops open files and directories and keep them open (read-only or
 * read-write), read and write through them, reopen them through /proc/self/fd and close them, and a third of the
 * others aim at the held files (unlinks, renames over them, copy-ups while they are open). Under nfs_export (a
 * quarter of the seeds) file handles are taken and opened too, with drop_caches and remounts in between. Compared
 * after every op with the kernel, as the other differential tests do; no cross-check, no atimes (the FUSE door's
 * known difference, see FuseDifferentialTest).
 *
 * <p>CI: 60 engine and 16 FUSE sequences of 30 ops from seed {@link #FIRST}. {@code -Doverlayj.held.seqs=N},
 * {@code -Doverlayj.held.fuse.seqs=N}, {@code -Doverlayj.seed0=S}; {@code -Doverlayj.long=true}: 1,000 and 200.
 * {@code -Doverlayj.seed=S -Doverlayj.ops=N} replays one.
 *
 * <p>The two kinds of failure known before (2026-12-06: metacopy data copy-in kept the old mtime, seed 24; NS nlink
 * written from the stored offset instead of the in-memory count after a remount or drop_caches, seeds 6, 14) are
 * fixed: engine seeds 1-200 agree 200/200. A drop_caches by another process on the machine at the wrong moment
 * still makes the kernel re-read a single-link nfs_export file's count (U+0 instead of U-1), which the engine cannot
 * see; {@link SequenceSuite#run} runs a sequence that failed while caches were dropped once or twice more.
 */
class HeldDifferentialTest {
    /** The first CI seed (see the class comment). */
    static final long FIRST = 2000;

    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    private static DifferentialRunner.Settings settings() {
        return new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), false, false, true);
    }

    @Test
    void engineWithHeldDescriptorsAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(DifferentialRunner.ENGINE, "overlayj", settings());
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 1000
                : Integer.getInteger("overlayj.held.seqs", 60), FIRST), "HeldDifferentialTest", 3);
        System.out.println("[engine vs kernel, held descriptors and handles] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }

    @Test
    void fuseWithHeldDescriptorsAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(FuseTarget.FACTORY, "fuse", settings());
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 200
                : Integer.getInteger("overlayj.held.fuse.seqs", 16), FIRST), "HeldDifferentialTest", 3);
        System.out.println("[fuse vs kernel, held descriptors and handles] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
