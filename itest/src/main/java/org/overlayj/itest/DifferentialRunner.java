package org.overlayj.itest;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

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

    /** Which sequences run with the inodes index (and lower hard-link groups). */
    public enum Mix {
        /** index off everywhere */
        PLAIN,
        /** every sequence index=on, half of them nfs_export=on too */
        INDEX,
        /** half the sequences PLAIN, half INDEX: the CI default */
        MIXED
    }

    /**
     * @param ops        ops per sequence
     * @param mix        which seeds run with index=on (+ lower hard links), and nfs_export=on
     * @param crossCheck after the session, mount the other implementation on each copy and compare
     * @param atimes     compare atimes (visible and on disk) during the session
     * @param held       also generate descriptors held across ops (read and written through, reopened through
     *                   /proc/self/fd) and, under nfs_export, file handles opened after drop_caches and remounts
     * @param users      a third of the ops made by non-root callers, with ACLs, sticky and setgid directories
     *                   and xattr namespaces among the ops ({@link OpGenerator#users})
     * @param rotate     now and then the upper layer becomes the top lower layer under a fresh upper
     *                   ({@link Op.Rotate}), so redirects and origins chain across 3 to 6 layers
     */
    public record Settings(int ops, Mix mix, boolean crossCheck, boolean atimes, boolean held, boolean users,
                           boolean rotate) {
        public Settings(int ops, Mix mix, boolean crossCheck) {
            this(ops, mix, crossCheck, true);
        }

        public Settings(int ops, Mix mix, boolean crossCheck, boolean atimes) {
            this(ops, mix, crossCheck, atimes, false);
        }

        public Settings(int ops, Mix mix, boolean crossCheck, boolean atimes, boolean held) {
            this(ops, mix, crossCheck, atimes, held, false, false);
        }

        public Settings withUsers(boolean on) {
            return new Settings(ops, mix, crossCheck, atimes, held, on, rotate);
        }

        public Settings withRotation(boolean on) {
            return new Settings(ops, mix, crossCheck, atimes, held, users, on);
        }

        /**
         * Even seeds run redirect_dir=on with directory renames, odd ones the default. Under MIXED, seeds 2 and 3
         * mod 4 run index=on; of those, seeds 6 and 7 mod 8 also nfs_export=on. Seeds 0 mod 6 without nfs_export
         * run metacopy=on.
         */
        public MountConfig configFor(long seed) {
            boolean redirect = Math.floorMod(seed, 2) == 0;
            boolean index = switch (mix) {
                case PLAIN -> false;
                case INDEX -> true;
                case MIXED -> Math.floorMod(seed, 4) >= 2;
            };
            boolean nfs = index && (mix == Mix.INDEX ? Math.floorMod(seed, 4) >= 2 : Math.floorMod(seed, 8) >= 6);
            // metacopy=on (needs redirect_dir=on, conflicts with nfs_export): a third of the seeds that allow it
            boolean metacopy = redirect && !nfs && Math.floorMod(seed, 3) == 0;
            return new MountConfig(redirect, index, nfs, metacopy);
        }
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

    private boolean inodeFlags;

    /** Generated sequences also set and clear inode flags and fallocate (OpGenerator#inodeFlags). */
    public DifferentialRunner withInodeFlags(boolean on) {
        inodeFlags = on;
        return this;
    }

    /** Generates and runs {@code settings.ops()} ops from {@code seed}. */
    public Run run(long seed) throws Exception {
        return run(seed, null);
    }

    /** Runs a fixed script ({@code script}), or a generated one when null, on fresh copies of the seed's layers. */
    public Run run(long seed, List<Op> script) throws Exception {
        MountConfig cfg = settings.configFor(seed);
        Path root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-seq");
        try {
            // non-root callers must reach the mount points
            if (settings.users()) {
                Linux.chmod(Linux.fromUtf8(root.toString()), 0755);
                requireSearchableByAll(root.getParent());
            }
            LayerSet[] pair = LayerBuilder.buildPair(root, seed, cfg.index());
            return session(seed, cfg, root, pair[0], pair[1], script, settings.crossCheck(), true);
        } finally {
            Cleanup.removeTree(root);
        }
    }

    /**
     * Fails unless every directory from {@code dir} up to / may be searched by anyone: a non-root caller must reach
     * the mount points below it, or every op it makes is EACCES on the kernel (from the path walk) and something
     * else on the engine (a {@code -Doverlayj.testRoot} made by {@code mktemp -d} is 0700).
     */
    public static void requireSearchableByAll(Path dir) throws IOException {
        for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent()) {
            int mode;
            try {
                mode = Linux.stat(Linux.fromUtf8(p.toString())).mode();
            } catch (org.overlayj.sys.ErrnoException e) {
                throw new IOException(p + ": " + e.getMessage(), e);
            }
            if ((mode & 01) == 0) {
                throw new IllegalStateException(p + " (mode " + Integer.toOctalString(mode & 07777) + ") is not searchable"
                        + " by others: the non-root callers of the harness could not reach their mounts below it"
                        + " (chmod o+x it, or pick another -Doverlayj.testRoot)");
            }
        }
    }

    /**
     * Runs a fixed script on two byte-identical layer copies {@code a} (the oracle's) and {@code b} made by the
     * caller under {@code root} (mount points go there too), comparing after every op; no cross-check. For tests of
     * hand-made cases. With {@code everyStep} false the trees are compared only before and after the script (the
     * outcomes still after every op): the walk of the trees looks every name up, which a case may need not to
     * happen between its steps.
     */
    public Run runScript(MountConfig cfg, Path root, LayerSet a, LayerSet b, List<Op> script, boolean everyStep)
            throws Exception {
        return session(0, cfg, root, a, b, script, false, everyStep);
    }

    private Run session(long seed, MountConfig cfg, Path root, LayerSet a, LayerSet b, List<Op> script,
                        boolean crossCheck, boolean everyStep) throws Exception {
        List<Op> ops = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        InodeNames na = new InodeNames(a), nb = new InodeNames(b);
        VisibleSnapshot.Result va, vb;
        try (Target ta = oracle.open("kernel", a, cfg, root.resolve("mA"));
             Target tb = candidate.open(candidateName, b, cfg, root.resolve("mB"))) {
            na.refreshUpper();
            nb.refreshUpper();
            va = VisibleSnapshot.take("visible tree", ta.view(), na, cfg.nfsExport());
            vb = VisibleSnapshot.take("visible tree", tb.view(), nb, cfg.nfsExport());
            Mismatch m = compare(-1, ta, tb, va, vb, na, nb, cfg.nfsExport());
            if (m != null) return new Run(seed, cfg, ops, lines, m);
            // groups of 10-20 links (issue 21 item 4) in every index session, through every target;
            // -Doverlayj.linkGroups=false replays a seed as it ran before they came
            boolean groups = !"false".equals(System.getProperty("overlayj.linkGroups"));
            OpGenerator gen = new OpGenerator(seed, cfg.redirectDir(), cfg.index(), settings.held(), cfg.nfsExport())
                    .linkGroups(groups).users(settings.users()).rotations(settings.rotate()).inodeFlags(inodeFlags);
            int n = script != null ? script.size() : settings.ops();
            for (int i = 0; i < n; i++) {
                Op op = script != null ? script.get(i) : gen.next(va.items());
                ops.add(op);
                Outcome oa = ta.apply(op), ob = tb.apply(op);
                lines.add(String.format("%3d  %-60s kernel: %s%s", i, op, oa,
                        oa.equals(ob) ? "" : "   " + candidateName + ": " + ob + "   <-- differs"));
                if (op instanceof Op.Rotate) {
                    // the former upper is a lower layer now: its inodes are named M<k>: from here on
                    na = new InodeNames(a);
                    nb = new InodeNames(b);
                }
                if (!everyStep && oa.equals(ob) && i < n - 1) continue;
                na.refreshUpper();
                nb.refreshUpper();
                va = VisibleSnapshot.take("visible tree", ta.view(), na, cfg.nfsExport());
                vb = VisibleSnapshot.take("visible tree", tb.view(), nb, cfg.nfsExport());
                if (!oa.equals(ob) && !sameGroupCount(op, oa, ob, ta, tb, na, nb, cfg)) {
                    return new Run(seed, cfg, ops, lines, new Mismatch(i,
                            "outcome of op " + i + " (" + op + "): kernel " + oa + ", " + candidateName + " " + ob));
                }
                m = compare(i, ta, tb, va, vb, na, nb, cfg.nfsExport());
                if (m != null) return new Run(seed, cfg, ops, lines, m);
            }
        }
        if (crossCheck) {
            Mismatch m = crossCheck(cfg, root, a, b, na, nb, va, vb, ops.size());
            if (m != null) return new Run(seed, cfg, ops, lines, m);
        }
        return new Run(seed, cfg, ops, lines, null);
    }

    /**
     * The link count a {@link Op.LinkGroup} reports, under nfs_export, of a copied-up file whose lower inode has one
     * link: the kernel's depends on its inode cache, as in the visible tree (see {@link VisibleSnapshot#take}): the
     * union count while the overlay inode that copied it up lives, the upper inode's real count (the index entry's
     * link counted too, one more) once that inode was evicted (another process's drop_caches, memory pressure) and
     * looked up again. Such counts one apart are taken as the same; the upper snapshot still compares the real
     * counts and {@code NS nlink} exactly.
     */
    private static boolean sameGroupCount(Op op, Outcome oa, Outcome ob, Target ta, Target tb, InodeNames na,
                                          InodeNames nb, MountConfig cfg) {
        if (!(op instanceof Op.LinkGroup g) || !cfg.nfsExport() || !oa.isOk() || !ob.isOk()) return false;
        if (!oa.data().startsWith("nlink=") || !ob.data().startsWith("nlink=")) return false;
        try {
            long ka = Long.parseLong(oa.data().substring(6)), kb = Long.parseLong(ob.data().substring(6));
            if (Math.abs(ka - kb) != 1) return false;
            long ia = ta.view().stat(g.path()).ino(), ib = tb.view().stat(g.path()).ino();
            return singleLinkLower(na, ia) && singleLinkLower(nb, ib) && na.name(ia).equals(nb.name(ib));
        } catch (ErrnoException | NumberFormatException e) {
            return false;
        }
    }

    private static boolean singleLinkLower(InodeNames names, long ino) {
        return names.name(ino).startsWith("L") && names.lowerNlink(ino) == 1;
    }

    private Mismatch compare(int at, Target ta, Target tb, VisibleSnapshot.Result va, VisibleSnapshot.Result vb,
                             InodeNames na, InodeNames nb, boolean nfs) throws IOException {
        String d = atimes(va.snapshot()).diff(atimes(vb.snapshot()), "kernel", candidateName);
        if (d != null) return new Mismatch(at, d);
        d = atimes(UpperSnapshot.take("upper layer + index on disk", ta.layers(), na, nfs))
                .diff(atimes(UpperSnapshot.take("upper layer + index on disk", tb.layers(), nb, nfs)), "kernel", candidateName);
        return d == null ? null : new Mismatch(at, d);
    }

    private Snapshot atimes(Snapshot s) {
        return settings.atimes() ? s : s.withoutAtimes();
    }

    /**
     * Both directions: the kernel mounted on what the candidate left must show what the candidate showed, and the
     * candidate opened on what the kernel left must show what the kernel showed. Index sessions are checked once
     * more with nfs_export=on. The kernel must log no overlayfs message while it mounts and walks the layers.
     *
     * <p>Where a remount legitimately shows another tree than the session did, both implementations are mounted
     * fresh on the same layers and compared with each other instead: under nfs_export (a session's own options,
     * or the extra nfs_export=on remount of an index session) the kernel reports, after a remount, the real link
     * count of an indexed file whose lower has one link (the index entry counted, format doc §5.5 "observed
     * quirk"), and with nfs_export a copied-up directory without an index entry takes its upper inode number
     * (§6.5), which it did not under index=on alone.
     */
    private Mismatch crossCheck(MountConfig cfg, Path root, LayerSet a, LayerSet b, InodeNames na, InodeNames nb,
                                VisibleSnapshot.Result va, VisibleSnapshot.Result vb, int at) throws Exception {
        List<MountConfig> cfgs = new ArrayList<>(List.of(cfg));
        // not with metacopy files around: nfs_export=on turns metacopy off, and the kernel refuses to follow them
        if (cfg.index() && !cfg.nfsExport() && !cfg.metacopy()) cfgs.add(cfg.withNfsExport());
        int n = 0;
        for (MountConfig c : cfgs) {
            n++;
            boolean sameAsSession = !c.nfsExport();
            // the kernel on the candidate's layers
            Snapshot kb = kernelTree(c, root.resolve("mB" + n), b, nb, Set.of());
            if (kb == null) {
                // The kernel may say the same of the layers it made itself ("failed to get index nlink" for a
                // metadata-only copy of a lower hard link made without the index, rotating seeds 5508, 5796): then
                // the messages are the layers' due, not the candidate's
                List<String> theirs = lastMessages;
                Set<String> inherent = kernelMessages(c, root.resolve("mA" + n + "m"), a, na);
                if (inherent.containsAll(theirs)) kb = kernelTree(c, root.resolve("mB" + n + "r"), b, nb, inherent);
                else lastMessages = theirs;
            }
            if (kb == null) return new Mismatch(at, "kernel (" + c + ") mounted on the layers " + candidateName
                    + " left logged overlayfs messages (new lines after its mount, twice):\n  "
                    + String.join("\n  ", lastMessages));
            Snapshot expected = sameAsSession ? vb.snapshot() : candidateTree(c, root.resolve("mB" + n + "c"), b, nb);
            String d = expected.withoutAtimes().diff(kb.withoutAtimes(), candidateName, "kernel");
            if (d != null) return new Mismatch(at, "kernel (" + c + ") mounted on the layers " + candidateName
                    + " left shows another tree than " + candidateName
                    + (sameAsSession ? " showed in the session" : " shows on a fresh mount") + ":\n" + d);
            // the candidate on the kernel's layers
            Snapshot ca = candidateTree(c, root.resolve("mA" + n), a, na);
            if (!sameAsSession) {
                Snapshot ka = kernelTree(c, root.resolve("mA" + n + "k"), a, na, Set.of());
                if (ka == null) return new Mismatch(at, "kernel (" + c + ") remounted on its own layers logged"
                        + " overlayfs messages:\n  " + String.join("\n  ", lastMessages));
                d = ka.withoutAtimes().diff(ca.withoutAtimes(), "kernel", candidateName);
            } else {
                d = va.snapshot().withoutAtimes().diff(ca.withoutAtimes(), "kernel", candidateName);
            }
            if (d != null) return new Mismatch(at, candidateName + " (" + c + ") opened on the layers the kernel left"
                    + " shows another tree than the kernel" + (sameAsSession ? " showed in the session" : " shows there")
                    + ":\n" + d);
        }
        return null;
    }

    private List<String> lastMessages = List.of();

    /**
     * The kernel's view of {@code layers}, or null when it logged overlayfs messages while mounting and walking
     * them (twice: other processes may mount overlays meanwhile); the messages are then in {@link #lastMessages}.
     */
    private Snapshot kernelTree(MountConfig c, Path mnt, LayerSet layers, InodeNames names, Set<String> tolerated)
            throws Exception {
        for (int attempt = 0; attempt < 2; attempt++) {
            try (Kmsg log = Kmsg.mark()) {
                Snapshot s;
                names.refreshUpper();
                try (Target k = oracle.open("kernel", layers, c, mnt)) {
                    s = VisibleSnapshot.take("visible tree", k.view(), names, c.nfsExport()).snapshot();
                }
                lastMessages = new ArrayList<>(log.ownOverlayLines(mnt.getParent()));
                lastMessages.removeAll(tolerated);
                if (lastMessages.isEmpty()) return s;
            }
        }
        return null;
    }

    /** The overlayfs messages the kernel logs while it mounts and walks {@code layers} (its own, here). */
    private Set<String> kernelMessages(MountConfig c, Path mnt, LayerSet layers, InodeNames names) throws Exception {
        try (Kmsg log = Kmsg.mark()) {
            names.refreshUpper();
            try (Target k = oracle.open("kernel", layers, c, mnt)) {
                VisibleSnapshot.take("visible tree", k.view(), names, c.nfsExport());
            }
            return new java.util.HashSet<>(log.ownOverlayLines(mnt.getParent()));
        }
    }

    private Snapshot candidateTree(MountConfig c, Path mnt, LayerSet layers, InodeNames names) throws Exception {
        names.refreshUpper();
        try (Target t = candidate.open(candidateName, layers, c, mnt)) {
            return VisibleSnapshot.take("visible tree", t.view(), names, c.nfsExport()).snapshot();
        }
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
                .append(settings.mix() == Mix.MIXED ? "" : " -Doverlayj.index=" + (settings.mix() == Mix.INDEX ? "on" : "off"))
                .append('\n');
        return s.toString();
    }
}
