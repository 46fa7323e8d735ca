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
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SequenceSuite.class);

    /** {@code retriedSeeds}: failed while caches were dropped and run again (see {@link #run}). */
    public record Summary(int run, int agreed, List<Long> failedSeeds, List<Long> retriedSeeds, String report,
                          long millis) {
        public boolean allAgreed() { return failedSeeds.isEmpty() && run > 0; }

        public String line() {
            return "sequences run=" + run + " agreed=" + agreed + " failed=" + failedSeeds.size()
                    + String.format(" in %.1f s", millis / 1000.0) + (failedSeeds.isEmpty() ? "" : " seeds=" + failedSeeds)
                    + (retriedSeeds.isEmpty() ? "" : " retried after a drop_caches=" + retriedSeeds);
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

    /**
     * How many times anyone dropped the kernel's dentry and inode caches ({@code drop_slab} in /proc/vmstat: every
     * write of 2 or 3 to drop_caches); -1 when it cannot be read (then no run is retried for it).
     */
    static long cacheDrops() {
        try {
            for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/vmstat"))) {
                if (l.startsWith("drop_slab ")) return Long.parseLong(l.substring(10).trim());
            }
        } catch (java.io.IOException | NumberFormatException e) {
            // not Linux, or no such counter: nothing to compare
        }
        return -1;
    }

    public static Summary run(DifferentialRunner runner, List<Long> seeds, String testClass, int shrinkFirst) {
        long t0 = System.nanoTime();
        StringBuilder report = new StringBuilder();
        List<Long> failed = new ArrayList<>(), retried = new ArrayList<>();
        int agreed = 0;
        for (long seed : seeds) {
            try {
                long drops = cacheDrops();
                DifferentialRunner.Run r = runner.run(seed);
                // A drop_caches while the sequence ran (by another process on a shared machine, or by the
                // sequence's own ops) evicts the kernel overlay's inodes at a moment the script does not choose,
                // and the kernel re-reads what it keeps only in memory: a single-link file copied up under
                // nfs_export then counts its index link (format doc §5.5). Such a failure is run again, at most
                // twice, and counts only if it fails again; the retried seeds are named in the summary.
                for (int retry = 0; !r.agreed() && retry < 2 && cacheDrops() != drops; retry++) {
                    log.warn("seed {}: failed while caches were dropped ({} -> {}): running it again", seed, drops,
                            cacheDrops());
                    if (!retried.contains(seed)) retried.add(seed);
                    drops = cacheDrops();
                    r = runner.run(seed);
                }
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
        return new Summary(seeds.size(), agreed, failed, retried, report.toString(), (System.nanoTime() - t0) / 1_000_000);
    }
}
