package org.overlayj.itest;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs many seeded sequences through a {@link DifferentialRunner} and sums them up. Properties:
 * {@code overlayj.seed} (+ {@code overlayj.ops}) replays one sequence; otherwise {@code overlayj.seqs} sequences
 * from {@code overlayj.seed0} (default 1), {@code overlayj.ops} ops each (default 30); {@code overlayj.long=true}
 * runs 2,000. Only the first few failures are shrunk, so a badly broken target still finishes in bounded time.
 */
public final class SequenceSuite {
    public record Summary(int run, int agreed, List<Long> failedSeeds, String report, long millis) {
        public boolean allAgreed() { return failedSeeds.isEmpty() && run > 0; }

        public String line() {
            return "sequences run=" + run + " agreed=" + agreed + " failed=" + failedSeeds.size()
                    + String.format(" in %.1f s", millis / 1000.0) + (failedSeeds.isEmpty() ? "" : " seeds=" + failedSeeds);
        }
    }

    public static int ops() { return Integer.getInteger("overlayj.ops", 30); }

    /**
     * {@code -Doverlayj.index=on} runs every sequence with index=on and lower hard links, {@code off} none;
     * the default mixes them half and half ({@code -Doverlayj.hardlinks=true} is the old spelling of on).
     */
    public static DifferentialRunner.Mix mix() {
        String v = System.getProperty("overlayj.index", Boolean.getBoolean("overlayj.hardlinks") ? "on" : "mixed");
        return switch (v.trim()) {
            case "on", "true" -> DifferentialRunner.Mix.INDEX;
            case "off", "false" -> DifferentialRunner.Mix.PLAIN;
            default -> DifferentialRunner.Mix.MIXED;
        };
    }

    /** The seeds to run: one replayed seed, or a range. */
    public static List<Long> seeds(int defaultCount) {
        return seeds(Boolean.getBoolean("overlayj.long") ? 2000 : Integer.getInteger("overlayj.seqs", defaultCount), 1);
    }

    /**
     * {@code count} seeds from {@code defaultFirst} unless {@code overlayj.seed0} says; one replayed seed with
     * {@code overlayj.seed}.
     */
    public static List<Long> seeds(int count, long defaultFirst) {
        String one = System.getProperty("overlayj.seed");
        if (one != null && !one.isBlank()) return List.of(Long.parseLong(one.trim()));
        int n = count;
        long first = Long.getLong("overlayj.seed0", defaultFirst);
        List<Long> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(first + i);
        return l;
    }

    public static Summary run(DifferentialRunner runner, List<Long> seeds, String testClass, int shrinkFirst) {
        long t0 = System.nanoTime();
        StringBuilder report = new StringBuilder();
        List<Long> failed = new ArrayList<>();
        int agreed = 0;
        for (long seed : seeds) {
            try {
                DifferentialRunner.Run r = runner.run(seed);
                if (r.agreed()) {
                    agreed++;
                    continue;
                }
                failed.add(seed);
                DifferentialRunner.Run shrunk = failed.size() <= shrinkFirst ? runner.shrink(r, 40) : r;
                report.append(runner.report(r, shrunk, testClass)).append('\n');
            } catch (Exception | Error e) {
                failed.add(seed);
                StringWriter w = new StringWriter();
                e.printStackTrace(new PrintWriter(w));
                String st = w.toString();
                report.append("ERROR seed=").append(seed).append(": ");
                // the causes first: the trace below is cut short
                for (Throwable t = e.getCause(); t != null; t = t.getCause()) report.append("caused by ").append(t).append("; ");
                report.append(st, 0, Math.min(st.length(), 3000)).append('\n');
            }
        }
        return new Summary(seeds.size(), agreed, failed, report.toString(), (System.nanoTime() - t0) / 1_000_000);
    }
}
