package org.overlayj.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A stopped or killed server lets go of the layers at once: {@code overlayj serve} restarted on the same port again
 * and again while libnfs clients copy and read through it, each start right after the previous process ended
 * (SIGTERM, then SIGKILL, in turn), with {@code --wait-layers 0} so that a lock still held fails the start with
 * EBUSY instead of being waited out. {@code -Doverlayj.nfs.restarts=N} (default 10; 50 for the full run).
 * Fails (never skips) when libnfs-utils is missing.
 */
class ServeRestartTest {
    private static final int RESTARTS = Integer.getInteger("overlayj.nfs.restarts", 10);
    private ServeLayers layers;
    private Path dir;
    private List<Process> started;

    @BeforeEach void layers() throws IOException {
        for (String tool : new String[]{"nfs-cat", "nfs-cp"})
            assertTrue(Files.isExecutable(Path.of("/usr/bin", tool)), tool + " missing: install libnfs-utils");
        layers = new ServeLayers("restart");
        dir = layers.dir;
        started = layers.started;
    }

    @AfterEach void cleanup() throws IOException {
        if (layers != null) layers.close();
    }

    private Process serve(int port, int n) throws IOException {
        Path exports = dir.resolve("exports");
        if (!Files.exists(exports)) Files.writeString(exports, "/ 127.0.0.1(rw,no_root_squash,insecure)\n");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve",
                "-o", layers.layerOpts(),
                "--listen", "127.0.0.1:" + port, "--stats", "0", "--wait-layers", "0", "--exports", exports.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out(n).toFile()).start();
        started.add(p);
        return p;
    }

    private Path out(int n) { return dir.resolve("out-" + n + ".txt"); }

    private String output(int n) throws IOException { return Files.readString(out(n), StandardCharsets.ISO_8859_1); }

    private void awaitReady(Process p, int n) throws Exception {
        for (int i = 0; i < 2400; i++) {
            if (output(n).contains("overlayj: serving NFSv3 on")) return;
            if (!p.isAlive()) fail("start " + n + " failed (exit " + p.exitValue() + "):\n" + output(n));
            Thread.sleep(25);
        }
        fail("start " + n + " not ready after 60 s:\n" + output(n));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }

    /** Runs a libnfs tool, killed after 20 s (a client may wait for a server that is being restarted). */
    private static int tool(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            if (!p.waitFor(20, TimeUnit.SECONDS)) return -1;
            return p.exitValue();
        } finally {
            p.destroyForcibly();
        }
    }

    /**
     * The exclusive-use locks of a serving process are held through its own descriptors only, and those are
     * close-on-exec: no other process shares them (one that inherited them would keep the layers locked after
     * the server ended), and none could inherit them through an exec. Read from /proc (fdinfo "lock:" lines).
     */
    private void assertLockedByItselfOnly(Process p) throws Exception {
        var opts = org.overlayj.core.config.MountOptions.parse(
                org.overlayj.sys.Linux.fromUtf8(ServeCommand.withServeDefaults(layers.layerOpts()))).overlay();
        String holders = ServeCommand.holders(opts);
        var m = java.util.regex.Pattern.compile("pid (\\d+) \\([^)]*\\) fd (\\d+)").matcher(holders);
        int locks = 0;
        while (m.find()) {
            locks++;
            assertEquals(p.pid(), Long.parseLong(m.group(1)), "a lock of the layers held by another process: " + holders);
            String info = Files.readString(Path.of("/proc", m.group(1), "fdinfo", m.group(2)));
            var flags = java.util.regex.Pattern.compile("flags:\\s+([0-7]+)").matcher(info);
            assertTrue(flags.find(), info);
            assertTrue((Long.parseLong(flags.group(1), 8) & 02000000) != 0, "lock fd " + m.group(2) + " not close-on-exec: " + info);
        }
        assertEquals(2, locks, "the upper and the work dir locked, each once: " + holders);
    }

    @Test void restartsAtOnceAfterStopAndKillUnderLoad() throws Exception {
        int port = freePort();
        String base = "?version=3&nfsport=" + port + "&mountport=" + port;
        byte[] data = new byte[256 * 1024];
        new Random(50).nextBytes(data);
        Path local = dir.resolve("local.bin");
        Files.write(local, data);

        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger copies = new AtomicInteger();
        Thread load = Thread.ofPlatform().name("nfs-load").start(() -> {
            for (int i = 0; !stop.get(); i++) {
                try {
                    if (tool("nfs-cp", local.toString(), "nfs://127.0.0.1/d/copy" + (i % 4) + base) == 0) copies.incrementAndGet();
                    tool("nfs-cat", "nfs://127.0.0.1/d/f" + base);
                } catch (Exception e) {
                    return;
                }
            }
        });
        try {
            for (int n = 0; n < RESTARTS; n++) {
                Process p = serve(port, n);
                awaitReady(p, n);
                if (n < 2) assertLockedByItselfOnly(p);
                Thread.sleep(300);                           // let the clients' calls be in flight
                if (n % 2 == 0) {
                    p.toHandle().destroy();                  // SIGTERM: an orderly stop
                    assertTrue(p.waitFor(90, TimeUnit.SECONDS), "start " + n + " did not stop:\n" + output(n));
                    assertEquals(0, p.exitValue(), output(n));
                } else {
                    p.destroyForcibly();                     // SIGKILL
                    assertTrue(p.waitFor(90, TimeUnit.SECONDS));
                }
            }
        } finally {
            stop.set(true);
            load.join(TimeUnit.SECONDS.toMillis(60));
        }
        // once more, with no load: a copy goes through and reads back whole
        Process p = serve(port, RESTARTS);
        awaitReady(p, RESTARTS);
        assertEquals(0, tool("nfs-cp", local.toString(), "nfs://127.0.0.1/d/final" + base));
        assertArrayEquals(data, Files.readAllBytes(dir.resolve("u/d/final")));
        p.toHandle().destroy();
        assertTrue(p.waitFor(90, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), output(RESTARTS));
        System.out.println("restarts: " + RESTARTS + " (every other one SIGKILL), whole copies under them: " + copies.get());
    }
}
