package org.overlayj.fuse;

import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.adapter.OverlayFileSystem;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The READ rehearsal of a fresh server ({@link ReadRehearsal}): it runs its rounds only while the mounts are quiet,
 * steps back when a request comes, and leaves nothing behind (fds, memfd, pipes, its thread); on a real mount it
 * sends no request and changes nothing in the layers.
 */
class ReadRehearsalTest {

    /** The fds of this process that the rehearsal could leave: pipes, memfds and /dev/null, by target. */
    private static List<String> rehearsalLikeFds() throws Exception {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : s.toList()) {
                try {
                    String t = Files.readSymbolicLink(p).toString();
                    if (t.startsWith("pipe:") || t.startsWith("/memfd:") || t.equals("/dev/null")) out.add(t);
                } catch (java.io.IOException gone) {
                    // the fd the listing itself used
                }
            }
        }
        out.sort(null);
        return out;
    }

    /**
     * Waits for any rehearsal already running in this JVM to end: the process's own one, which the first mount of
     * any test starts (FuseServer.mount), would otherwise open and close its fds while these tests count theirs.
     */
    private static void noOtherRehearsal() throws InterruptedException {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals("fuse-rehearsal")) assertTrue(t.join(java.time.Duration.ofSeconds(60)));
        }
    }

    private static boolean rehearsalThreadAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals("fuse-rehearsal") && t.isAlive());
    }

    @Test void aQuietMountGetsEveryRoundAndNothingIsLeftBehind() throws Exception {
        noOtherRehearsal();
        List<String> before = rehearsalLikeFds();
        AtomicInteger quietLooks = new AtomicInteger();
        ReadRehearsal r = new ReadRehearsal(() -> 0, ms -> {
            quietLooks.incrementAndGet();
            return false;
        }, FuseServer.PIPE_CAPACITY).start();
        assertTrue(r.join(60_000), "the rehearsal ends");
        assertTrue(r.rounds() >= ReadRehearsal.ROUNDS, "all rounds, then some while the JIT settles: " + r.rounds());
        if (FuseServer.PIPE_CAPACITY > 0) {
            assertEquals(r.rounds(), r.spliced(), "every big READ reply went by splice, as the door's do");
        }
        assertTrue(quietLooks.get() >= 1, "a quiet window before it starts");
        assertEquals(before, rehearsalLikeFds(), "its memfd, /dev/null and pipes are closed");
        assertFalse(rehearsalThreadAlive(), "its thread is gone");
    }

    @Test void nothingRunsWhileRequestsKeepComingAndItStopsWhenTheMountGoes() throws Exception {
        noOtherRehearsal();
        List<String> before = rehearsalLikeFds();
        AtomicInteger requests = new AtomicInteger(), looks = new AtomicInteger();
        // a request comes during every quiet window; after 20 windows the mount is gone
        ReadRehearsal r = new ReadRehearsal(requests::get, ms -> {
            requests.incrementAndGet();
            return looks.incrementAndGet() >= 20;
        }, FuseServer.PIPE_CAPACITY).start();
        assertTrue(r.join(60_000));
        assertEquals(0, r.rounds(), "no round while the mount is busy");
        assertEquals(20, looks.get());
        assertEquals(before, rehearsalLikeFds());
        assertFalse(rehearsalThreadAlive());
    }

    @Test void theJitCompilerThreadsAreFound() {
        assertFalse(ReadRehearsal.compilerTasks().isEmpty(), "C1/C2 CompilerThread among this JVM's threads");
        ReadRehearsal r = new ReadRehearsal(() -> 0, ms -> true, 0);
        assertTrue(r.compilerNanos() > 0, "their CPU time (schedstat)");
    }

    @Test void aRequestMakesItStepBackAfterItsCurrentFewRounds() throws Exception {
        noOtherRehearsal();
        AtomicReference<ReadRehearsal> self = new AtomicReference<>();
        AtomicInteger looks = new AtomicInteger();
        // quiet at first; a request comes once 4 rounds have run; then the mount goes
        ReadRehearsal r = new ReadRehearsal(() -> self.get() != null && self.get().rounds() >= 4 ? 1 : 0,
                ms -> looks.incrementAndGet() > 1, FuseServer.PIPE_CAPACITY);
        self.set(r);
        r.start();
        assertTrue(r.join(60_000));
        assertTrue(r.rounds() >= 4 && r.rounds() < 8, "stepped back within a batch of the request: " + r.rounds());
        assertEquals(2, looks.get());
    }

    /** The layers as lstat sees them, with each file's bytes: what "unchanged" means here. */
    private static Map<String, String> layers(Path dir) throws Exception {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                String v = Linux.lstat(p.toString()).toString();
                if (Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    v += " " + java.util.Arrays.hashCode(Files.readAllBytes(p));
                }
                m.put(dir.relativize(p).toString(), v);
            }
        }
        return m;
    }

    @Test void onAMountItSendsNoRequestAndLeavesTheLayersAsTheyWere() throws Exception {
        TestMounts.requireFuse();
        Path dir = TestMounts.tempDir(), mnt = dir.resolve("mnt");
        Path lower = Files.createDirectories(dir.resolve("layers/lower"));
        Path upper = Files.createDirectories(dir.resolve("layers/upper"));
        Path work = Files.createDirectories(dir.resolve("layers/work"));
        Files.createDirectories(mnt);
        byte[] data = new byte[3 << 20];
        new java.util.Random(20).nextBytes(data);
        Files.write(lower.resolve("big"), data);
        Files.writeString(upper.resolve("small"), "upper file");
        Overlay overlay = null;
        FuseServer server = null;
        try {
            overlay = Overlay.mount(OverlayOptions.of(List.of(lower.toString()), upper.toString(), work.toString()));
            server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay").withUring(false),
                    new OverlayFileSystem(overlay));
            noOtherRehearsal();                                 // (the mount may have started the process's one)
            layers(dir.resolve("layers"));                      // directory atimes settle (relatime) at the first walk
            Map<String, String> was = layers(dir.resolve("layers"));
            long requests = 0, spliced = server.splicedReads();
            for (int op = 0; op < 64; op++) requests += server.requests(op);
            List<String> fds = rehearsalLikeFds();

            ReadRehearsal r = ReadRehearsal.of(server).start();
            assertTrue(r.join(60_000), "the rehearsal ends");
            assertTrue(r.rounds() >= ReadRehearsal.ROUNDS, "a quiet mount gets every round");

            long after = 0;
            for (int op = 0; op < 64; op++) after += server.requests(op);
            assertEquals(requests, after, "the rehearsal sends the mount no request");
            assertEquals(spliced, server.splicedReads(), "nor a READ reply of the mount's");
            assertEquals(was, layers(dir.resolve("layers")), "the layers are as they were");
            assertEquals(fds, rehearsalLikeFds(), "no fd left behind");
            // and the mount's own READs, spliced by its threads, are whole afterwards
            assertArrayEquals(data, Files.readAllBytes(mnt.resolve("big")));
        } finally {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
            TestMounts.cleanup(mnt, dir);
        }
    }
}
