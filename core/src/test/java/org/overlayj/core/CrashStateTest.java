package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.tools.Fsck;
import org.overlayj.core.tools.LayerSet;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.EngineSmokeTest.walk;

/**
 * The states a killed copy-up or link-up can leave (issue 16), built by hand from layers the kernel wrote, each
 * mounted by the kernel and by the engine on copies made before either mount: the engine's mount-time index check
 * must do to every index entry what the kernel's did, and both must serve the same thing (or the same EIO). Then
 * {@code fsck} on the state: what it predicts for the index and what {@code --repair} leaves reachable.
 * nfs_export: lower single-link {@code s}, lower hard links {@code a}/{@code b}, lower directory {@code d}.
 */
class CrashStateTest {
    private static final String NFS = "index=on,nfs_export=on";

    /** What one mount shows: each name's content or errno, and the index entries' types afterwards. */
    record Seen(List<String> files, List<String> index) {}

    private static Layers layers(String damage) throws Exception {
        Layers L = new Layers(1);
        try {
            Layers.sh("cd " + L.root + " && echo s > l1/s && echo a > l1/a && ln l1/a l1/b && mkdir l1/d"
                    + " && echo x > l1/d/x");
            L.kernelMount(NFS);
            Layers.sh("cd " + L.mnt + " && echo s2 >> s && echo a2 >> a && touch d/new");
            L.kernelUmount();
            Layers.sh("cd " + L.root + " && " + damage);
        } catch (Exception e) {
            L.close();
            throw e;
        }
        return L;
    }

    /** Every index entry but the '#' temporaries, with its type (DirRemovalOrderTest reads it too). */
    static List<String> indexTypes(Layers L) throws Exception {
        List<String> out = new ArrayList<>();
        for (String n : IndexTest.indexNames(L)) {
            if (n.startsWith("#")) continue;
            Stat st = Linux.lstat(L.work.resolve("index").resolve(n).toString());
            out.add(n + (st.isWhiteout() ? " whiteout" : st.isDir() ? " dir" : " file"));
        }
        return out;
    }

    /** Every entry of the index dir, '#' temporaries too, with its type. */
    private static List<String> allIndexTypes(Layers L) throws Exception {
        List<String> out = new ArrayList<>();
        for (String n : IndexTest.indexNames(L)) {
            Stat st = Linux.lstat(L.work.resolve("index").resolve(n).toString());
            out.add(n + (st.isWhiteout() ? " whiteout" : st.isDir() ? " dir" : " file"));
        }
        return out;
    }

    private static final List<String> NAMES = List.of("s", "a", "b", "d/x", "d/new");

    private static Seen kernel(Layers L) throws Exception {
        List<String> files = new ArrayList<>();
        L.kernelMount(NFS);
        try {
            for (String n : NAMES) {
                files.add(n + "=" + Layers.shOut("cat " + L.mnt.resolve(n) + " 2>&1 | tr '\\n' ' '"
                        + " | sed 's/.*Input\\/output error.*/EIO/; s/.*No such file.*/ENOENT/'").trim());
            }
        } finally {
            L.kernelUmount();
        }
        return new Seen(files, indexTypes(L));
    }

    private static Seen engine(Layers L) throws Exception {
        List<String> files = new ArrayList<>();
        try (Overlay o = Overlay.mount(ExportTest.nfs(L))) {
            for (String n : NAMES) {
                String v;
                try {
                    v = IndexTest.read(o, n).replace('\n', ' ').trim();
                } catch (ErrnoException e) {
                    v = e.errno() == Errno.EIO ? "EIO" : e.errno() == Errno.ENOENT ? "ENOENT" : Errno.name(e.errno());
                }
                files.add(n + "=" + v);
            }
        }
        return new Seen(files, indexTypes(L));
    }

    /**
     * Builds the state twice, mounts one copy with the kernel and one with the engine; returns the kernel's view
     * after checking the engine's is the same, and hands fsck's findings on a third copy to {@code fsck}.
     */
    private static Seen compare(String damage, Consumer<List<Fsck.Finding>> fsck, List<String> afterRepair)
            throws Exception {
        Seen k, e;
        try (Layers L = layers(damage)) {
            // fsck's prediction, checked against what the kernel's mount then does to the same entries
            List<String> predicted;
            try (LayerSet ls = LayerSet.open(ExportTest.nfs(L))) {
                predicted = Fsck.check(ls).findings().stream()
                        .filter(x -> x.where().startsWith("work/index/") && x.code().matches("index-(temp|stale|orphan)"))
                        .map(x -> x.where().substring("work/index/".length())).sorted().toList();
            }
            List<String> before = allIndexTypes(L);
            k = kernel(L);
            List<String> after = allIndexTypes(L);
            List<String> changed = before.stream().filter(x -> !after.contains(x))
                    .map(x -> x.substring(0, x.indexOf(' '))).sorted().toList();
            assertEquals(changed, predicted, "fsck predicts the entries the kernel's mount changed");
        }
        try (Layers L = layers(damage)) {
            e = engine(L);
        }
        // handles (and so index names) differ between the two copies: compare the types only
        assertEquals(k.files(), e.files(), "engine serves what the kernel serves");
        assertEquals(k.index().stream().map(s -> s.substring(s.indexOf(' '))).sorted().toList(),
                e.index().stream().map(s -> s.substring(s.indexOf(' '))).sorted().toList(), "index after the mount");
        try (Layers L = layers(damage)) {
            OverlayOptions o = ExportTest.nfs(L);
            try (LayerSet ls = LayerSet.open(o)) {
                Fsck f = Fsck.check(ls);
                fsck.accept(f.findings());
                f.repair();
            }
            if (afterRepair != null) assertEquals(afterRepair, kernel(L).files(), "the kernel after fsck --repair");
        }
        return k;
    }

    @Test void singleLinkIndexEntryWithoutItsAliasIsAnOrphanWhateverItsCount() throws Exception {
        // the old order killed between the index link and the alias link; the count says 1 (U+0)
        Seen k = compare("n=$(find work/index -maxdepth 1 -samefile upper/s -printf %f) && rm upper/s"
                + " && setfattr -n trusted.overlay.nlink -v U+0 work/index/$n",
                f -> assertTrue(f.stream().anyMatch(x -> x.code().equals("index-orphan")
                        && x.message().contains("lower 1:/s gives EIO")), f.toString()),
                List.of("s=s", "a=a a2", "b=a a2", "d/x=x", "d/new="));
        assertEquals("s=EIO", k.files().getFirst(), k.toString());
    }

    @Test void lowerHardLinkIndexEntryBeforeItsLinkUpIsKept() throws Exception {
        // the new order killed after the index link, before the link-up: the index entry alone, count L+0
        Seen k = compare("n=$(find work/index -maxdepth 1 -samefile upper/a -printf %f) && rm upper/a"
                + " && setfattr -n trusted.overlay.nlink -v L+0 work/index/$n",
                f -> assertEquals(List.of(), f.stream().filter(x -> x.code().startsWith("index")).toList()),
                null);
        assertEquals(List.of("s=s s2", "a=a a2", "b=a a2", "d/x=x", "d/new="), k.files());
    }

    @Test void upperFileWithoutItsIndexLinkIsServed() throws Exception {
        // the new order killed between the alias link and the index link of a single-link file: served; fsck says
        // the link is missing (an old handle of s decodes to the lower file) and --repair makes it
        Seen k = compare("rm $(find work/index -maxdepth 1 -samefile upper/s)", f -> assertEquals(
                List.of("index-missing: upper:/s"), f.stream().map(x -> x.code() + ": " + x.where()).toList()),
                List.of("s=s s2", "a=a a2", "b=a a2", "d/x=x", "d/new="));
        assertEquals("s=s s2", k.files().getFirst());
    }

    @Test void directoryIndexEntryWithoutItsUpperDirectoryIsUndoneByRepair() throws Exception {
        // the old order killed before the copied-up directory got its name: the kernel whites the entry out
        // and the lower directory is EIO from then on; fsck says so and --repair removes the entry instead
        Seen k = compare("rm -rf upper/d", f -> assertTrue(f.stream().anyMatch(x -> x.code().equals("index-orphan")
                && x.message().contains("lower 1:/d gives EIO") && x.message().contains("--repair removes")), f
                .toString()), List.of("s=s s2", "a=a a2", "b=a a2", "d/x=x", "d/new=ENOENT"));
        assertEquals("d/x=EIO", k.files().get(3), k.toString());
    }

    // --- the kernel's other mount-time outcomes, each compared with what the kernel did to a copy ---------------

    /** The entry of a file: n=$(...) names it in the shell, by the upper alias it had. */
    private static String entryOf(String upper) {
        return "n=$(find work/index -maxdepth 1 -samefile upper/" + upper + " -printf %f) && ";
    }

    @Test void whiteoutIndexEntryOfALiveLowerFileIsEioUntilRepair() throws Exception {
        // what the kernel made of an orphan left by a killed copy-up: a whiteout where the entry was; the lower
        // file is still shown and now gives EIO ("bad index found"); --repair removes the whiteout
        Seen k = compare(entryOf("s") + "rm upper/s work/index/$n && mknod work/index/$n c 0 0",
                f -> assertTrue(f.stream().anyMatch(x -> x.code().equals("bad-index") && x.where().equals("lower 1:/s")
                        && x.message().contains("--repair removes")), f.toString()),
                List.of("s=s", "a=a a2", "b=a a2", "d/x=x", "d/new="));
        assertEquals("s=EIO", k.files().getFirst(), k.toString());
    }

    @Test void whiteoutIndexEntryOfALiveLowerDirectoryIsEioUntilRepair() throws Exception {
        Seen k = compare("n=$(find work/index -mindepth 1 -maxdepth 1 -type d -printf %f)"
                        + " && rm -rf upper/d work/index/$n && mknod work/index/$n c 0 0",
                f -> assertTrue(f.stream().anyMatch(x -> x.code().equals("bad-index") && x.where().equals("lower 1:/d")),
                        f.toString()),
                List.of("s=s s2", "a=a a2", "b=a a2", "d/x=x", "d/new=ENOENT"));
        assertEquals("d/x=EIO", k.files().get(3), k.toString());
    }

    @Test void lowerHardLinkEntryWithoutAliasCountedUPlus0IsKept() throws Exception {
        // U+0 on the entry alone: union count 1 (the entry's own link) — kept, served for every alias
        Seen k = compare(entryOf("a") + "rm upper/a && setfattr -n trusted.overlay.nlink -v U+0 work/index/$n",
                f -> assertEquals(List.of(), f.stream().filter(x -> x.code().startsWith("index")).toList()), null);
        assertEquals(List.of("s=s s2", "a=a a2", "b=a a2", "d/x=x", "d/new="), k.files());
    }

    @Test void lowerHardLinkEntryWithoutAliasCountedZeroIsAnOrphan() throws Exception {
        // L-2 on a 2-link lower inode: union 0, an orphan; the kernel whites it out and both aliases go EIO
        Seen k = compare(entryOf("a") + "rm upper/a && setfattr -n trusted.overlay.nlink -v L-2 work/index/$n",
                f -> assertTrue(f.stream().anyMatch(x -> x.code().equals("index-orphan")
                        && x.message().contains("union nlink 0") && x.message().contains("gives EIO")), f.toString()),
                List.of("s=s s2", "a=a", "b=a", "d/x=x", "d/new="));
        assertEquals(List.of("a=EIO", "b=EIO"), k.files().subList(1, 3), k.toString());
    }

    @Test void lowerHardLinkEntryWithoutAliasAndMalformedCountIsAnOrphan() throws Exception {
        // a count the kernel cannot parse falls back to 0 at mount ("failed to get index nlink"): an orphan
        Seen k = compare(entryOf("a") + "rm upper/a && setfattr -n trusted.overlay.nlink -v X+1 work/index/$n",
                f -> assertTrue(f.stream().anyMatch(x -> x.code().equals("index-orphan")
                        && x.message().contains("malformed")), f.toString()), null);
        assertEquals(List.of("a=EIO", "b=EIO"), k.files().subList(1, 3), k.toString());
    }

    @Test void countsTheKernelDoesNotActOnAreNoFinding() throws Exception {
        // an entry with its upper alias: whatever its count says (here too many links), the mount keeps it
        Seen k = compare(entryOf("a") + "setfattr -n trusted.overlay.nlink -v U+5 work/index/$n"
                        + " && setfattr -n trusted.overlay.nlink -v L+0 upper/a",
                f -> assertEquals(List.of(), f), null);
        assertEquals(List.of("s=s s2", "a=a a2", "b=a a2", "d/x=x", "d/new="), k.files());
    }

    @Test void staleEntriesAndTemporariesAreRemovedAsTheKernelDoes() throws Exception {
        // an entry whose lower is gone and no alias links it, a directory entry without 'upper', a temporary
        Seen k = compare(entryOf("s") + "rm upper/s l1/s"
                        + " && d=$(find work/index -mindepth 1 -maxdepth 1 -type d -printf %f)"
                        + " && setfattr -x trusted.overlay.upper work/index/$d && touch 'work/index/#7f01'",
                f -> {
                    assertEquals(2, f.stream().filter(x -> x.code().equals("index-stale") && x.kernelRepairs()).count(),
                            f.toString());
                    assertTrue(f.stream().anyMatch(x -> x.code().equals("index-temp")), f.toString());
                }, List.of("s=ENOENT", "a=a a2", "b=a a2", "d/x=x", "d/new="));
        assertEquals("s=ENOENT", k.files().getFirst(), k.toString());
    }
}
