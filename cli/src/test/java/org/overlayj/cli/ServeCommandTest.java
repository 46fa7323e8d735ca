package org.overlayj.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code overlayj serve} run as a user would: the launcher (Main) in a child JVM on the test classpath, a real NFS
 * client (libnfs-utils) against it, then SIGTERM. Fails (never skips) when libnfs-utils is missing.
 */
class ServeCommandTest {
    private static final Pattern READY = Pattern.compile("overlayj: serving NFSv3 on 127\\.0\\.0\\.1:(\\d+)");
    private ServeLayers layers;
    private Path dir;
    private List<Process> started;

    @BeforeEach void layers() throws IOException {
        for (String tool : new String[]{"nfs-ls", "nfs-cat", "nfs-cp"})
            assertTrue(Files.isExecutable(Path.of("/usr/bin", tool)), tool + " missing: install libnfs-utils");
        layers = new ServeLayers("serve");
        dir = layers.dir;
        started = layers.started;
    }

    @AfterEach void cleanup() throws IOException {
        if (layers != null) layers.close();
    }

    private String layerOpts() { return layers.layerOpts(); }

    private Path out(Process p) { return dir.resolve("out-" + started.indexOf(p) + ".txt"); }

    private List<String> java(String... args) {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve"));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private Process serve(String... args) throws IOException { return start(java(args)); }

    private Process start(List<String> cmd) throws IOException {
        // output to a file: a pipe nobody reads could fill up
        Path out = dir.resolve("out-" + started.size() + ".txt");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        started.add(p);
        return p;
    }

    private String output(Process p) throws IOException {
        return Files.readString(out(p), StandardCharsets.ISO_8859_1);
    }

    /** Waits for the readiness line and returns the port it names. */
    private int awaitReady(Process p) throws Exception {
        for (int i = 0; i < 1200; i++) {
            Matcher m = READY.matcher(output(p));
            if (m.find()) return Integer.parseInt(m.group(1));
            if (!p.isAlive()) fail("serve exited " + p.exitValue() + " before ready:\n" + output(p));
            Thread.sleep(50);
        }
        fail("serve not ready after 60 s:\n" + output(p));
        return -1;
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            byte[] out = p.getInputStream().readAllBytes();
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + String.join(" ", cmd));
            String s = new String(out, StandardCharsets.ISO_8859_1);
            assertEquals(0, p.exitValue(), String.join(" ", cmd) + "\n" + s);
            return s;
        } finally {
            p.destroyForcibly();
        }
    }

    private static String url(int port, String path) {
        return "nfs://127.0.0.1" + path + "?version=3&nfsport=" + port + "&mountport=" + port;
    }

    @Test void servesUntilSigtermThenExitsZeroWithTheUpperSynced() throws Exception {
        // root writes as root: the default export squashes it, and d/ is root's 0755
        Path exports = dir.resolve("exports");
        Files.writeString(exports, "# test\n/ 127.0.0.1(rw,no_root_squash)\n");
        Process p = serve("-o", layerOpts(), "--listen", "127.0.0.1:0", "--stats", "0", "--exports", exports.toString());
        int port = awaitReady(p);
        assertEquals(1, READY.matcher(output(p)).results().count(), "one readiness line");

        assertTrue(run("nfs-ls", url(port, "/d")).contains(" f"));
        assertEquals("lower file\n", run("nfs-cat", url(port, "/d/f")));
        byte[] data = new byte[1 << 20];
        new Random(5).nextBytes(data);
        Path local = dir.resolve("local.bin");
        Files.write(local, data);
        run("nfs-cp", local.toString(), url(port, "/d/new.bin"));

        // SIGUSR1: the counters now, in the log
        run("kill", "-USR1", Long.toString(p.pid()));
        for (int i = 0; i < 600 && !output(p).contains("nfs counters: {"); i++) Thread.sleep(100);
        assertTrue(output(p).matches("(?s).*nfs counters: \\{[^\n]*nfs\\.WRITE=.*"), output(p));

        p.toHandle().destroy();                                   // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "serve did not stop on SIGTERM:\n" + output(p));
        assertEquals(0, p.exitValue(), output(p));
        assertTrue(output(p).contains("stopped; counters"), output(p));
        assertTrue(output(p).contains("nfs.WRITE="), output(p));
        assertArrayEquals(data, Files.readAllBytes(dir.resolve("u/d/new.bin")));
        // nfs_export=on was turned on by serve: the upper layer has the index dir the kernel's nfs_export uses
        assertTrue(Files.isDirectory(dir.resolve("w/index")), "index=on by default");
        // the lock state by default outside the overlay's dirs: /var/lib/overlayj/nlm/<hash of the upper dir>
        assertEquals("2", Files.readString(layers.stateDir().resolve("state")).trim(), "NSM state after a stop");
        assertFalse(Files.exists(dir.resolve("w/overlayj-nlm")), "nothing of serve's own in the work dir");
    }

    /**
     * --portmap: in a network namespace of its own (port 111 is privileged and may be taken outside), a client
     * that names no ports finds NFS and MOUNT through serve's portmapper.
     */
    @Test void portmapperLetsClientsFindThePorts() throws Exception {
        Path exports = dir.resolve("exports");
        Files.writeString(exports, "/ 127.0.0.1(rw,no_root_squash)\n");
        // and "ro" among the overlay options: served read-only whatever the exports file says
        List<String> java = java("-o", layerOpts() + ",ro", "--listen", "127.0.0.1:2049", "--portmap", "--stats", "0",
                "--exports", exports.toString());
        StringBuilder sh = new StringBuilder("ip link set lo up && exec");
        for (String a : java) sh.append(" '").append(a.replace("'", "'\\''")).append('\'');
        Process p = start(List.of("unshare", "-n", "sh", "-c", sh.toString()));   // sh execs java: one pid
        awaitReady(p);
        String pid = Long.toString(p.pid());
        assertEquals("lower file\n", run("nsenter", "-t", pid, "-n", "nfs-cat", "nfs://127.0.0.1/d/f?version=3"));
        assertTrue(run("nsenter", "-t", pid, "-n", "nfs-ls", "nfs://127.0.0.1/?version=3").contains(" d"));
        Files.writeString(dir.resolve("local.txt"), "x");
        Process cp = new ProcessBuilder("nsenter", "-t", pid, "-n", "nfs-cp", dir.resolve("local.txt").toString(),
                "nfs://127.0.0.1/d/new?version=3").redirectErrorStream(true).start();
        String cpOut = new String(cp.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        assertTrue(cp.waitFor(120, TimeUnit.SECONDS));
        assertNotEquals(0, cp.exitValue(), cpOut);
        assertTrue(cpOut.contains("ROFS"), cpOut);
        assertFalse(Files.exists(dir.resolve("u/d/new")));
        p.toHandle().destroy();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "serve did not stop on SIGTERM:\n" + output(p));
        assertEquals(0, p.exitValue(), output(p));
    }

    /** serve with {@code args}, in a network namespace of its own set up by {@code setup} (shell commands). */
    private Process serveInNetns(String setup, String... args) throws IOException {
        StringBuilder sh = new StringBuilder(setup + " && exec");
        for (String a : java(args)) sh.append(" '").append(a.replace("'", "'\\''")).append('\'');
        return start(List.of("unshare", "-n", "sh", "-c", sh.toString()));   // sh execs java: one pid
    }

    /** Runs {@code cmd} in the network namespace of {@code p}; its exit status and output. */
    private static String[] inNetns(Process p, String... cmd) throws Exception {
        List<String> c = new ArrayList<>(List.of("nsenter", "-t", Long.toString(p.pid()), "-n"));
        c.addAll(List.of(cmd));
        Process q = new ProcessBuilder(c).redirectErrorStream(true).start();
        try {
            String out = new String(q.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertTrue(q.waitFor(120, TimeUnit.SECONDS), "timed out: " + c);
            return new String[]{Integer.toString(q.exitValue()), out};
        } finally {
            q.destroyForcibly();
        }
    }

    /**
     * --portmap with --listen on an address other than loopback: the portmapper is on port 111 of that address
     * alone, TCP and UDP (nothing on 127.0.0.1:111), and a client naming no ports finds NFS and MOUNT there.
     */
    @Test void portmapperListensOnTheListenAddressOnly() throws Exception {
        Path exports = dir.resolve("exports");
        Files.writeString(exports, "/ *(rw,no_root_squash,insecure)\n");
        Process p = serveInNetns("ip link set lo up && ip addr add 10.77.0.1/32 dev lo",
                "-o", layerOpts(), "--listen", "10.77.0.1:2049", "--portmap", "--stats", "0",
                "--exports", exports.toString());
        Pattern ready = Pattern.compile("overlayj: serving NFSv3 on 10\\.77\\.0\\.1:2049");
        for (int i = 0; i < 1200 && !ready.matcher(output(p)).find(); i++) {
            if (!p.isAlive()) fail("serve exited:\n" + output(p));
            Thread.sleep(50);
        }
        assertTrue(ready.matcher(output(p)).find(), output(p));
        String[] ss = inNetns(p, "ss", "-Hlntu");
        assertEquals("0", ss[0], ss[1]);
        List<String> on111 = ss[1].lines().filter(l -> l.matches(".*:111\\s.*")).toList();
        assertEquals(2, on111.size(), "TCP and UDP on 111:\n" + ss[1]);
        for (String l : on111) {
            String local = l.trim().split("\\s+")[4];
            assertTrue(local.equals("10.77.0.1:111") || local.equals("[::ffff:10.77.0.1]:111"),
                    "only the --listen address:\n" + ss[1]);
        }
        String[] lo = inNetns(p, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/111");
        assertNotEquals("0", lo[0], "127.0.0.1:111 answers: " + lo[1]);
        String[] cat = inNetns(p, "nfs-cat", "nfs://10.77.0.1/d/f?version=3");
        assertEquals("0", cat[0], cat[1]);
        assertEquals("lower file\n", cat[1]);
        p.toHandle().destroy();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "serve did not stop on SIGTERM:\n" + output(p));
        assertEquals(0, p.exitValue(), output(p));
    }

    /** Over IPv6 libnfs asks rpcbind (version 4, then 3) GETADDR for "tcp6": the portmapper answers it. */
    @Test void portmapperAnswersRpcbindForIpv6Clients() throws Exception {
        Path exports = dir.resolve("exports");
        Files.writeString(exports, "/ *(rw,no_root_squash,insecure)\n");
        Process p = serveInNetns("ip link set lo up", "-o", layerOpts(), "--listen", "[::1]:2049", "--portmap",
                "--stats", "0", "--exports", exports.toString());
        for (int i = 0; i < 1200 && !output(p).contains("overlayj: serving NFSv3 on"); i++) {
            if (!p.isAlive()) fail("serve exited:\n" + output(p));
            Thread.sleep(50);
        }
        assertTrue(output(p).contains("overlayj: serving NFSv3 on [0:0:0:0:0:0:0:1]:2049"), output(p));
        String[] cat = inNetns(p, "nfs-cat", "nfs://::1/d/f?version=3");
        assertEquals("0", cat[0], cat[1] + "\n" + output(p));
        assertEquals("lower file\n", cat[1]);
        String[] ls = inNetns(p, "nfs-ls", "nfs://::1/?version=3");
        assertEquals("0", ls[0], ls[1]);
        assertTrue(ls[1].contains(" d"), ls[1]);
        p.toHandle().destroy();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "serve did not stop on SIGTERM:\n" + output(p));
        assertEquals(0, p.exitValue(), output(p));
    }

    @Test void refusesNfsExportOffWithTheReason() throws Exception {
        Process p = serve("-o", layerOpts() + ",nfs_export=off", "--listen", "127.0.0.1:0");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), output(p));
        assertTrue(output(p).contains("refusing to serve with nfs_export=off"), output(p));
        assertFalse(READY.matcher(output(p)).find(), output(p));
    }

    @Test void refusesABadListenAddress() throws Exception {
        Process p = serve("-o", layerOpts(), "--listen", "nowhere");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), output(p));
        assertTrue(output(p).contains("--listen wants HOST:PORT"), output(p));
    }
}
