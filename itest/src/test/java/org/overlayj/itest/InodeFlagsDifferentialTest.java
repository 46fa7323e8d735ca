package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The random sequences of {@link EngineDifferentialTest} with inode flags and fallocate modes among the ops (issue
 * 21 item 11): about one op in six is a chattr that sets or clears immutable, append-only, noatime, sync or nodump
 * on a file or directory ({@link Op.Chattr}, the flags read back compared), or a fallocate with KEEP_SIZE,
 * PUNCH_HOLE or ZERO_RANGE through a plain or an O_APPEND descriptor ({@link Op.Fallocate}); the other ops then
 * meet protected objects, lower and upper, before and after their copy-up. Compared after every op with the kernel
 * (outcome, visible tree, upper layer + index, NS protattr included), both directions cross-checked at the end.
 *
 * <p>CI: 20 engine sequences and 3 FUSE ones of 30 ops from seed {@link #FIRST}; {@code -Doverlayj.iflags.seqs=N},
 * {@code -Doverlayj.iflags.fuse.seqs=N}; {@code -Doverlayj.long=true}: 1,000 and 100. {@code -Doverlayj.seed=S
 * -Doverlayj.ops=N} replays one.
 */
class InodeFlagsDifferentialTest {
    static final long FIRST = 21_000;

    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    @Test
    void engineWithInodeFlagsAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(DifferentialRunner.ENGINE, "overlayj",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), true)).withInodeFlags(true);
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 1000
                : Integer.getInteger("overlayj.iflags.seqs", 20), FIRST), "InodeFlagsDifferentialTest", 3);
        System.out.println("[engine vs kernel, inode flags] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }

    @Test
    void fuseWithInodeFlagsAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(FuseTarget.FACTORY, "fuse",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), false, false))
                .withInodeFlags(true);
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 100
                : Integer.getInteger("overlayj.iflags.fuse.seqs", 3), FIRST), "InodeFlagsDifferentialTest", 3);
        System.out.println("[fuse vs kernel, inode flags] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
