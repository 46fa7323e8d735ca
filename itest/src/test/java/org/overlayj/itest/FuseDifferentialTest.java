package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An overlayj FUSE mount (a child JVM running the CLI) against the kernel, through the same system calls: after
 * every op the outcome, the visible tree and the upper layer + index on disk. Fewer sequences by default than the
 * engine test because each one starts a JVM: 60 (~3 s each), {@code -Doverlayj.fuse.seqs=N}, 200 with
 * {@code -Doverlayj.long=true}; half of them index=on with lower hard links (see {@link DifferentialRunner.Mix}).
 * Remount cross-checks are {@link BothDirectionsTest}'s job (engine), here only with
 * {@code -Doverlayj.crossCheck=true}. The other properties are those of {@link EngineDifferentialTest}.
 *
 * <p>Two known differences of the FUSE door are left out by default (the engine test covers both):
 * <ul>
 * <li>atimes ({@code -Doverlayj.fuse.atimes=true} compares them): the FUSE kernel module serves repeated reads
 *     and readlinks from its page cache, so a read after a copy-up never reaches the door, and the upper copy
 *     keeps the lower's atime where the kernel overlay moves it to now (e.g. seed 4: rename /f /op/a of a lower
 *     symlink, then readlink);</li>
 * <li>lower hard-link groups with index=on ({@code -Doverlayj.index=mixed|on} runs them): FUSE passes an inode
 *     (nodeid), not the name it was reached by, to setattr and the like, and the door maps the nodeid of a hard
 *     link group to one alias, so a change through one lower alias copies up another alias (seed 19:
 *     setxattr /h00 copies up /a/g/h01; seed 7: write /c/d/h10 leaves h10 uncovered).</li>
 * </ul>
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
                new DifferentialRunner.Settings(SequenceSuite.ops(),
                        System.getProperty("overlayj.index") == null ? DifferentialRunner.Mix.PLAIN : SequenceSuite.mix(),
                        Boolean.getBoolean("overlayj.crossCheck"), Boolean.getBoolean("overlayj.fuse.atimes")));
        SequenceSuite.Summary s = SequenceSuite.run(r, SequenceSuite.seeds(Boolean.getBoolean("overlayj.long") ? 200
                : Integer.getInteger("overlayj.fuse.seqs", 60)), "FuseDifferentialTest", 3);
        System.out.println("[fuse vs kernel] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
