package org.overlayj.itest;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs one op script on the oracle (a kernel mount of copy A) and on a candidate (over copy B, byte-identical),
 * comparing after every op: the outcome (errno, data read), the visible tree and the upper layer + index on disk.
 * On a mismatch it shrinks the script (shortest failing prefix, then drops ops one at a time while it still
 * fails, each try on fresh copies) and reports seed, ops, diff and a replay command.
 */
public final class DifferentialRunner {
    private static final Logger log = LoggerFactory.getLogger(DifferentialRunner.class);

    /** Opens a target over a layer copy; {@code mountPoint} is free for it to use. */
    @FunctionalInterface
    public interface TargetFactory {
        Target open(String name, LayerSet layers, MountConfig cfg, Path mountPoint) throws Exception;
    }

    public static final TargetFactory KERNEL = KernelMount::mount;
    public static final TargetFactory ENGINE = (name, layers, cfg, mnt) -> new EngineTarget(name, layers, cfg);

    /**
     * @param ops        ops per sequence
     * @param hardLinks  lower hard-link groups, and index=on (kernel hard-link semantics need it)
     * @param crossCheck after the session, mount the other implementation on each copy and compare
     */
    public record Settings(int ops, boolean hardLinks, boolean crossCheck) {
        /** Even seeds run redirect_dir=on with directory renames; odd ones the default options. */
        public MountConfig configFor(long seed) { return new MountConfig(seed % 2 == 0, hardLinks); }
    }

    /** Where the two sides first disagreed: op index, -1 for the initial state, ops.size() for the cross-check. */
    public record Mismatch(int at, String what) {}

    /** One sequence: the ops that ran, a line per op with both outcomes, and the mismatch or null. */
    public record Run(long seed, MountConfig cfg, List<Op> ops, List<String> lines, Mismatch mismatch) {
        public boolean agreed() { return mismatch == null; }
    }

    private final TargetFactory oracle, candidate;
    private final String candidateName;
    private final Settings settings;

    public DifferentialRunner(TargetFactory candidate, String candidateName, Settings settings) {
        this(KERNEL, candidate, candidateName, settings);
    }

    public DifferentialRunner(TargetFactory oracle, TargetFactory candidate, String candidateName, Settings settings) {
        this.oracle = oracle;
        this.candidate = candidate;
        this.candidateName = candidateName;
        this.settings = settings;
    }

    /** Generates and runs {@code settings.ops()} ops from {@code seed}. */
    public Run run(long seed) throws Exception {
        return run(seed, null);
    }

    /** Runs a fixed script ({@code script}), or a generated one when null, on fresh copies of the seed's layers. */
    public Run run(long seed, List<Op> script) throws Exception {
        MountConfig cfg = settings.configFor(seed);
        Path root = Files.createTempDirectory(Path.of("/tmp"), "overlayj-test-seq");
        List<Op> ops = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        try {
            LayerSet[] pair = LayerBuilder.buildPair(root, seed, settings.hardLinks());
            LayerSet a = pair[0], b = pair[1];
            InodeNames na = new InodeNames(a), nb = new InodeNames(b);
            VisibleSnapshot.Result va, vb;
            try (Target ta = oracle.open("kernel", a, cfg, root.resolve("mA"));
                 Target tb = candidate.open(candidateName, b, cfg, root.resolve("mB"))) {
                na.refreshUpper();
                nb.refreshUpper();
                va = VisibleSnapshot.take("visible tree", ta.view(), na);
                vb = VisibleSnapshot.take("visible tree", tb.view(), nb);
                Mismatch m = compare(-1, ta, tb, va, vb, na, nb);
                if (m != null) return new Run(seed, cfg, ops, lines, m);
                OpGenerator gen = new OpGenerator(seed, cfg.redirectDir());
                int n = script != null ? script.size() : settings.ops();
                for (int i = 0; i < n; i++) {
                    Op op = script != null ? script.get(i) : gen.next(va.items());
                    ops.add(op);
                    Outcome oa = ta.apply(op), ob = tb.apply(op);
                    lines.add(String.format("%3d  %-60s kernel: %s%s", i, op, oa,
                            oa.equals(ob) ? "" : "   " + candidateName + ": " + ob + "   <-- differs"));
                    na.refreshUpper();
                    nb.refreshUpper();
                    va = VisibleSnapshot.take("visible tree", ta.view(), na);
                    vb = VisibleSnapshot.take("visible tree", tb.view(), nb);
                    if (!oa.equals(ob)) {
                        return new Run(seed, cfg, ops, lines, new Mismatch(i,
                                "outcome of op " + i + " (" + op + "): kernel " + oa + ", " + candidateName + " " + ob));
                    }
                    m = compare(i, ta, tb, va, vb, na, nb);
                    if (m != null) return new Run(seed, cfg, ops, lines, m);
                }
            }
            if (settings.crossCheck()) {
                Mismatch m = crossCheck(cfg, root, a, b, na, nb, va, vb, ops.size());
                if (m != null) return new Run(seed, cfg, ops, lines, m);
            }
            return new Run(seed, cfg, ops, lines, null);
        } finally {
            Cleanup.removeTree(root);
        }
    }

    private Mismatch compare(int at, Target ta, Target tb, VisibleSnapshot.Result va, VisibleSnapshot.Result vb,
                             InodeNames na, InodeNames nb) throws IOException {
        String d = va.snapshot().diff(vb.snapshot(), "kernel", candidateName);
        if (d != null) return new Mismatch(at, d);
        d = UpperSnapshot.take("upper layer + index on disk", ta.layers(), na)
                .diff(UpperSnapshot.take("upper layer + index on disk", tb.layers(), nb), "kernel", candidateName);
        return d == null ? null : new Mismatch(at, d);
    }

    /**
     * Both directions: the kernel mounted on what the candidate left must show what the candidate showed, and the
     * candidate opened on what the kernel left must show what the kernel showed.
     */
    private Mismatch crossCheck(MountConfig cfg, Path root, LayerSet a, LayerSet b, InodeNames na, InodeNames nb,
                                VisibleSnapshot.Result va, VisibleSnapshot.Result vb, int at) throws Exception {
        na.refreshUpper();
        nb.refreshUpper();
        try (Target k = oracle.open("kernel", b, cfg, root.resolve("mB2"))) {
            String d = vb.snapshot().withoutAtimes().diff(
                    VisibleSnapshot.take("visible tree", k.view(), nb).snapshot().withoutAtimes(), candidateName, "kernel");
            if (d != null) return new Mismatch(at, "kernel remounted on the layers " + candidateName
                    + " left shows another tree:\n" + d);
        }
        try (Target c = candidate.open(candidateName, a, cfg, root.resolve("mA2"))) {
            String d = va.snapshot().withoutAtimes().diff(
                    VisibleSnapshot.take("visible tree", c.view(), na).snapshot().withoutAtimes(), "kernel", candidateName);
            if (d != null) return new Mismatch(at, candidateName + " opened on the layers the kernel left shows another tree:\n" + d);
        }
        return null;
    }

    // --- shrinking and reporting -----------------------------------------------------------------------------------

    /** The shortest failing script found: first the failing prefix, then ops dropped one at a time. */
    public Run shrink(Run failed, int budget) throws Exception {
        Mismatch m = failed.mismatch();
        if (m == null || m.at() < 0) return failed;
        List<Op> best = new ArrayList<>(failed.ops().subList(0, Math.min(m.at() + 1, failed.ops().size())));
        Run bestRun = run(failed.seed(), best);
        if (bestRun.agreed()) {
            log.warn("seed {}: the failing prefix passed on a re-run (nondeterministic?)", failed.seed());
            return failed;
        }
        int tries = 1;
        for (int j = best.size() - 1; j >= 0 && tries < budget; j--) {
            if (j >= best.size()) continue;
            List<Op> cand = new ArrayList<>(best);
            cand.remove(j);
            Run r = run(failed.seed(), cand);
            tries++;
            if (!r.agreed()) {
                int keep = Math.min(r.mismatch().at() + 1, cand.size());
                best = new ArrayList<>(cand.subList(0, Math.max(keep, 0)));
                bestRun = r;
            }
        }
        return bestRun;
    }

    /** Seed, options, ops with both outcomes, the diff, and how to replay. */
    public String report(Run failed, Run shrunk, String testClass) {
        StringBuilder s = new StringBuilder();
        s.append("MISMATCH seed=").append(failed.seed()).append(" (").append(failed.cfg()).append(")\n");
        s.append("ops (kernel outcome; ").append(candidateName).append(" shown only where it differs):\n");
        for (String l : failed.lines()) s.append("  ").append(l).append('\n');
        s.append(failed.mismatch().what()).append('\n');
        if (shrunk != failed && shrunk.mismatch() != null) {
            s.append("shortest failing script (").append(shrunk.ops().size()).append(" ops, fresh copies):\n");
            for (String l : shrunk.lines()) s.append("  ").append(l).append('\n');
            s.append(shrunk.mismatch().what()).append('\n');
        }
        s.append("replay: mvn -B -pl itest -am test -Dtest=").append(testClass)
                .append(" -Dsurefire.failIfNoSpecifiedTests=false -Doverlayj.seed=").append(failed.seed())
                .append(" -Doverlayj.ops=").append(failed.ops().size())
                .append(settings.hardLinks() ? " -Doverlayj.hardlinks=true" : "").append('\n');
        return s.toString();
    }
}
