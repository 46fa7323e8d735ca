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
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * File locking of {@code overlayj serve} against the real status monitor tools of a Linux NFS client (nfs-utils'
 * rpc.statd and sm-notify, with rpcbind): a "server" and a "client" network namespace joined by a veth pair
 * (10.99.0.1 and 10.99.0.2), each with its own rpcbind, /run and /var/lib/nfs. The client's lock manager is
 * {@link NlmClientMain} (its calls are what the kernel's lockd sends); its status monitor is the real one.
 * <ul>
 *   <li>serve registers NLM v4 and NSM v1 (TCP and UDP) with its portmapper;</li>
 *   <li>a client that reboots runs sm-notify: it finds our status monitor through rpcbind and notifies it over
 *   UDP, and the client's locks are released;</li>
 *   <li>serve restarts in order (SIGTERM): the locks are held on, nobody notices;</li>
 *   <li>serve crashes (SIGKILL) and starts again: it tells the client's rpc.statd (which matches it against its
 *   monitor list), and keeps a grace period in which the client reclaims and new locks wait.</li>
 * </ul>
 * Fails (never skips) when a tool is missing: rpcbind and nfs-common (rpc.statd, sm-notify), iproute2, util-linux.
 */
class ServeLockingTest {
    private ServeLayers layers;
    private Path dir;
    private List<Process> started;

    @BeforeEach void layers() throws IOException {
        for (String tool : new String[]{"unshare", "nsenter", "ip", "rpcbind", "rpc.statd", "sm-notify", "rpcinfo"})
            assertNotNull(which(tool), tool + " missing: install rpcbind, nfs-common, iproute2, util-linux");
        layers = new ServeLayers("lock");
        dir = layers.dir;
        started = layers.started;
        for (String d : new String[]{"smc/sm", "smc/sm.bak", "stc/sm", "stc/sm.bak"}) Files.createDirectories(dir.resolve(d));
        Files.writeString(dir.resolve("exports"), "/ 10.99.0.0/24(rw,no_root_squash,insecure)\n");
    }

    private static Path which(String tool) {
        for (String d : new String[]{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    @AfterEach void cleanup() throws IOException {
        if (layers != null) layers.close();
    }

    private String layerOpts() { return layers.layerOpts(); }

    private static List<String> java(String mainClass, String... args) {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static List<String> in(Process ns, String spaces, List<String> cmd) {
        List<String> l = new ArrayList<>(List.of("nsenter", "-t", Long.toString(ns.pid())));
        for (char c : spaces.toCharArray()) l.add("-" + c);
        l.addAll(cmd);
        return l;
    }

    private Path out(Process p) { return dir.resolve("out-" + started.indexOf(p) + ".txt"); }

    private Process start(List<String> cmd) throws IOException {
        Path out = dir.resolve("out-" + started.size() + ".txt");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        started.add(p);
        return p;
    }

    private String output(Process p) throws IOException {
        return Files.readString(out(p), StandardCharsets.ISO_8859_1);
    }

    /** Waits (at most 60 s) until the process's output contains {@code text}. */
    private void await(Process p, String text) throws Exception {
        for (int i = 0; i < 1200; i++) {
            if (output(p).contains(text)) return;
            if (!p.isAlive() && !output(p).contains(text)) fail("exited " + p.exitValue() + " before '" + text + "':\n" + output(p));
            Thread.sleep(50);
        }
        fail("no '" + text + "' after 60 s:\n" + output(p));
    }

    private static String run(List<String> cmd) throws Exception {
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

    /** A namespace holder: its own network (lo up), mounts (/run, /var/lib/nfs on tmpfs), and host name. */
    private Process namespace(String hostname) throws Exception {
        Process p = start(List.of("unshare", "-n", "-m", "-u", "--propagation", "private", "sh", "-c",
                "hostname " + hostname + " && ip link set lo up && mount -t tmpfs tmpfs /run && mkdir -p /var/lib/nfs"
                        + " && mount -t tmpfs tmpfs /var/lib/nfs && echo ready && exec sleep 3600"));
        await(p, "ready");
        return p;
    }

    private void rpcbind(Process ns) throws Exception {
        start(in(ns, "nm", List.of("sh", "-c", "mkdir -p /run/rpcbind && exec rpcbind -f -w")));
        for (int i = 0; ; i++) {
            Process q = new ProcessBuilder(in(ns, "n", List.of("rpcinfo", "-p", "127.0.0.1"))).redirectErrorStream(true).start();
            q.getInputStream().readAllBytes();
            if (q.waitFor() == 0) return;
            assertTrue(i < 600, "rpcbind did not come up");
            Thread.sleep(100);
        }
    }

    private Process serve(Process server) throws Exception {
        Process p = start(in(server, "nm", java(Main.class.getName(), "serve", "-o", layerOpts(), "--listen",
                "10.99.0.1:2049", "--portmap", "--stats", "0", "--grace-period", "600", "--state-dir",
                dir.resolve("state").toString(), "--exports", dir.resolve("exports").toString())));
        await(p, "overlayj: serving NFSv3 on 10.99.0.1:2049");
        return p;
    }

    /** One NLM call from the client machine; the nlm4_stats it got. */
    private int nlm(Process client, String node, int svid, String fh, String op, String... more) throws Exception {
        List<String> args = new ArrayList<>(List.of("10.99.0.1", "2049", node, Integer.toString(svid), fh, op, "0", "0"));
        args.addAll(List.of(more));
        return Integer.parseInt(run(in(client, "n", java(NlmClientMain.class.getName(), args.toArray(String[]::new))))
                .strip().lines().reduce((a, b) -> b).orElseThrow());
    }

    /** A monitor record as rpc.statd writes it when the local lockd asks it to watch the server 10.99.0.1. */
    private static final String RECORD =
            "0100007f 000186b5 00000004 00000010 00000000000000000000000000000000 10.99.0.1 clienta\n";

    private static final int GRANTED = 0, DENIED = 1, DENIED_GRACE_PERIOD = 4;

    @Test void clientRebootAndServerRestartWithTheRealStatusMonitor() throws Exception {
        // the NFS handle of d/f: our header (magic, export 0) and the engine's handle, taken before serving
        String fh = "6f00" + run(java(Main.class.getName(), "handle", "-o", layerOpts(), "d/f")).strip();
        Process server = namespace("server");
        Process client = namespace("clienta");
        run(in(server, "n", List.of("ip", "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns",
                "/proc/" + client.pid() + "/ns/net")));
        run(in(server, "n", List.of("sh", "-c", "ip addr add 10.99.0.1/24 dev vs && ip link set vs up")));
        run(in(client, "n", List.of("sh", "-c", "ip addr add 10.99.0.2/24 dev vc && ip link set vc up")));
        rpcbind(server);
        rpcbind(client);
        Process serve = serve(server);

        String programs = run(in(client, "n", List.of("rpcinfo", "-p", "10.99.0.1")));
        for (String p : new String[]{"100021\\s+4\\s+tcp\\s+2049", "100021\\s+4\\s+udp\\s+2049",
                "100024\\s+1\\s+tcp\\s+2049", "100024\\s+1\\s+udp\\s+2049"})
            assertTrue(programs.matches("(?s).*" + p + ".*"), p + " not registered:\n" + programs);

        assertEquals(GRANTED, nlm(client, "clienta", 11, fh, "lock", "excl"));
        assertEquals(DENIED, nlm(client, "clientb", 22, fh, "test", "excl"));

        // clienta reboots: sm-notify (mon_name = its node name) finds our statd through rpcbind, over UDP
        Files.writeString(dir.resolve("smc/sm/10.99.0.1"), RECORD);
        String notify = run(in(client, "nmu", List.of("sm-notify", "-f", "-d", "-P", dir.resolve("smc").toString())));
        assertTrue(notify.contains("notified successfully"), notify);
        assertEquals(GRANTED, nlm(client, "clientb", 22, fh, "test", "excl"), "clienta's lock is released");

        // clienta locks again; its rpc.statd monitors the server (the record its lockd's SM_MON would leave)
        assertEquals(GRANTED, nlm(client, "clienta", 11, fh, "lock", "excl"));
        Files.writeString(dir.resolve("stc/sm/10.99.0.1"), RECORD);
        Process statd = start(in(client, "nmu", List.of("rpc.statd", "-F", "-d", "--no-notify", "-P",
                dir.resolve("stc").toString())));
        await(statd, "Waiting for client connections");

        serve.toHandle().destroy();                                      // SIGTERM: an orderly stop
        assertTrue(serve.waitFor(60, TimeUnit.SECONDS), output(serve));
        assertEquals(0, serve.exitValue(), output(serve));
        assertEquals("2", Files.readString(dir.resolve("state/state")).strip(), "even once stopped");
        serve = serve(server);
        assertEquals("3", Files.readString(dir.resolve("state/state")).strip(), "the next odd number");
        // an orderly restart holds the locks on: no grace period, clienta still holds its lock
        assertEquals(DENIED, nlm(client, "clientb", 22, fh, "lock", "excl"));
        assertTrue(output(serve).contains("held on from the previous instance"), output(serve));

        serve.toHandle().destroyForcibly();                             // SIGKILL: a crash
        assertTrue(serve.waitFor(60, TimeUnit.SECONDS), output(serve));
        serve = serve(server);
        assertEquals("5", Files.readString(dir.resolve("state/state")).strip(), "odd after a crash: the next but one");
        // the client's statd got our SM_NOTIFY and matched it to the server it monitors
        await(statd, "Received SM_NOTIFY from 10.99.0.1, state: 5");
        await(statd, "hostnames 10.99.0.1 and 10.99.0.1 matched");
        // grace period: new locks wait, the reclaim is granted
        assertEquals(DENIED_GRACE_PERIOD, nlm(client, "clientb", 22, fh, "lock", "excl"));
        assertEquals(GRANTED, nlm(client, "clienta", 11, fh, "lock", "excl", "reclaim"));
        assertEquals(DENIED, nlm(client, "clientb", 22, fh, "lock", "excl", "reclaim"), "reclaims conflict too");
        assertTrue(output(serve).contains("told clienta@10.99.0.2 of our restart (state 5)"), output(serve));
    }
}
