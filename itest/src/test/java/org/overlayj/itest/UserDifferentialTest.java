package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The random sequences of {@link EngineDifferentialTest} and {@link FuseDifferentialTest} with non-root callers
 * (issue 19 "non-root coverage", issue 21 "ACLs and non-root callers"): a third of the ops are made by uid 1000
 * (groups 1000, 1001), 1001 (1001) or 65534 (65534, 100), with umask 022; on the kernel overlay and the FUSE mount
 * by a thread with those ids and no capabilities ({@link CallerThread}), on the engine with those {@code Creds}. Among
 * the ops, now and then: access and default ACLs, trusted.* and user.* xattrs, sticky and setgid directories,
 * touch (times to now, which write permission allows), so that owner-only chmod, setgid inheritance and clearing,
 * sticky removals, copy-up by a stranger and ACL checks are all compared with the kernel, after every op as the
 * other differential tests do (outcome, visible tree, upper layer + index).
 *
 * <p>CI: 50 engine sequences (cross-checked both directions) and 10 FUSE ones of 30 ops, from seed {@link #FIRST}.
 * {@code -Doverlayj.users.seqs=N}, {@code -Doverlayj.users.fuse.seqs=N}, {@code -Doverlayj.seed0=S};
 * {@code -Doverlayj.long=true}: 2,000 and 200. {@code -Doverlayj.seed=S -Doverlayj.ops=N} replays one.
 */
class UserDifferentialTest {
    static final long FIRST = 3000;

    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    @Test
    void engineWithNonRootCallersAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(DifferentialRunner.ENGINE, "overlayj",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), true).withUsers(true));
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 2000
                : Integer.getInteger("overlayj.users.seqs", 50), FIRST), "UserDifferentialTest", 3);
        System.out.println("[engine vs kernel, non-root callers] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }

    @Test
    void fuseWithNonRootCallersAgreesWithKernel() {
        DifferentialRunner r = new DifferentialRunner(FuseTarget.FACTORY, "fuse",
                new DifferentialRunner.Settings(SequenceSuite.ops(), SequenceSuite.mix(), false, false).withUsers(true));
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 200
                : Integer.getInteger("overlayj.users.fuse.seqs", 10), FIRST), "UserDifferentialTest", 3);
        System.out.println("[fuse vs kernel, non-root callers] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
