package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Layers written by one implementation, read by the other: a seeded session runs on the kernel (copy A) and on
 * the engine (copy B), step by step compared as in {@link EngineDifferentialTest}; then the kernel mounts B and
 * must show the tree the engine showed, and the engine opens A and must show the tree the kernel showed, with the
 * session's options and, for index sessions, once more with nfs_export=on. While the kernel mounts and walks the
 * engine's layers it must log no overlayfs message (no "invalid origin", "failed to verify", "bad index", ...).
 * Seeds cover every option set of {@link DifferentialRunner.Mix#MIXED} equally (they cycle mod 8).
 * {@code -Doverlayj.both.seqs=N} (default 32), {@code -Doverlayj.both.seed0=S}.
 */
class BothDirectionsTest {
    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
    }

    @Test
    void eachSideReadsWhatTheOtherWrote() {
        DifferentialRunner r = new DifferentialRunner(DifferentialRunner.ENGINE, "overlayj",
                new DifferentialRunner.Settings(SequenceSuite.ops(), DifferentialRunner.Mix.MIXED, true));
        List<Long> seeds = new ArrayList<>();
        String one = System.getProperty("overlayj.seed");
        if (one != null && !one.isBlank()) seeds.add(Long.parseLong(one.trim()));
        else {
            long first = Long.getLong("overlayj.both.seed0", 5000L);
            for (int i = 0; i < Integer.getInteger("overlayj.both.seqs", 32); i++) seeds.add(first + i);
        }
        SequenceSuite.Summary s = SequenceSuite.run(r, seeds, "BothDirectionsTest", 3);
        System.out.println("[both directions, engine <-> kernel] " + s.line());
        if (!s.allAgreed()) System.out.println(s.report());
        assertTrue(s.allAgreed(), s.line() + "\n" + s.report());
    }
}
