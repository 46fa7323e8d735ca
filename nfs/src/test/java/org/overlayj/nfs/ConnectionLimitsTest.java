package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.rpc.RpcTcpServer;
import org.overlayj.nfs.xdr.Nfs3;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Idle connections never lock a new client out: 1,100 connections held open (each served one NULL call, then idle)
 * while libnfs's nfs-ls and nfs-cat mount and read; past the per-client-address and total limits the least
 * recently used connection is closed for the newcomer; idle connections are closed after the idle time. Clients
 * come from several loopback addresses (127.0.0.2, ...: all of 127/8 is loopback on Linux). Fails (never skips)
 * when libnfs-utils is missing.
 */
class ConnectionLimitsTest {
    private static final int IDLE = 1_100;

    private static byte[] nullCall(int xid) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(0x80000000 | 40);
        d.writeInt(xid);
        d.writeInt(0);
        d.writeInt(2);
        d.writeInt(Nfs3.NFS_PROGRAM);
        d.writeInt(Nfs3.NFS_V3);
        d.writeInt(Nfs3.NFSPROC3_NULL_3);
        d.writeLong(0);          // AUTH_NONE
        d.writeLong(0);
        return b.toByteArray();
    }

    /** Sends a NULL call and reads its reply: the connection was accepted and is served. */
    private static void ping(Socket s, int xid) throws IOException {
        s.getOutputStream().write(nullCall(xid));
        DataInputStream in = new DataInputStream(s.getInputStream());
        int mark = in.readInt();
        byte[] r = new byte[mark & 0x7fffffff];
        in.readFully(r);
        assertEquals(xid, java.nio.ByteBuffer.wrap(r).getInt(), "xid");
    }

    private static Socket connect(String from, int port) throws IOException {
        Socket s = new Socket();
        try {
            s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 30_000);
            s.setSoTimeout(60_000);
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    /** True if the server has closed {@code s}: a read gives EOF or a reset rather than blocking. */
    private static boolean closedByServer(Socket s) throws IOException {
        try {
            s.setSoTimeout(60_000);
            return s.getInputStream().read() < 0;
        } catch (SocketException e) {
            return true;
        }
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

    private static String url(TestOverlay t, String path) {
        return "nfs://127.0.0.1" + path + "?version=3&nfsport=" + t.port() + "&mountport=" + t.port();
    }

    private static void closeAll(List<Socket> sockets) {
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private static void requireLibnfs() {
        for (String tool : new String[]{"nfs-ls", "nfs-cat"})
            assertTrue(Files.isExecutable(Path.of("/usr/bin", tool)), tool + " missing: install libnfs-utils");
    }

    @Test
    void elevenHundredIdleConnectionsAreHeldAndANewClientMountsAndReads() throws Exception {
        requireLibnfs();
        List<Socket> idle = new ArrayList<>();
        try (TestOverlay t = new TestOverlay(null)) {
            // 100 from each of 11 addresses: under the default per-address limit, so every one is held
            for (int i = 0; i < IDLE; i++) {
                Socket s = connect("127.0.0." + (2 + i / 100), t.port());
                idle.add(s);
                ping(s, i);
            }
            assertEquals(IDLE, t.server.connections(), "every idle connection held");
            assertTrue(run("nfs-ls", url(t, "/dir")).contains("f299"));
            assertEquals("hello from the lower layer\n", run("nfs-cat", url(t, "//hello.txt")));
            // and none of the idle ones was dropped for it
            for (int i = 0; i < IDLE; i += 97) ping(idle.get(i), 10_000 + i);
        } finally {
            closeAll(idle);
        }
    }

    @Test
    void pastALimitTheLeastRecentlyUsedConnectionMakesRoom() throws Exception {
        requireLibnfs();
        List<Socket> idle = new ArrayList<>();
        try (TestOverlay t = new TestOverlay(null, new RpcTcpServer.Limits(300, 100, Duration.ZERO))) {
            // 1,100 from the new client's own address: at most 100 of them stay, the oldest go first
            for (int i = 0; i < IDLE; i++) {
                Socket s = connect("127.0.0.1", t.port());
                idle.add(s);
                ping(s, i);
            }
            assertTrue(t.server.connections() <= 100, t.server.connections() + " connections");
            assertTrue(closedByServer(idle.getFirst()), "the least recently used connection was closed");
            ping(idle.getLast(), 20_000);
            assertTrue(run("nfs-ls", url(t, "/dir")).contains("f299"));
            assertEquals("hello from the lower layer\n", run("nfs-cat", url(t, "//hello.txt")));
            closeAll(idle);
            idle.clear();
            // 4 addresses of 100: past the total of 300, the least recently used of all goes
            for (int i = 0; i < 400; i++) {
                Socket s = connect("127.0.0." + (2 + i / 100), t.port());
                idle.add(s);
                ping(s, i);
            }
            assertTrue(t.server.connections() <= 300, t.server.connections() + " connections");
            assertTrue(closedByServer(idle.getFirst()), "the least recently used connection was closed");
            assertEquals("hello from the lower layer\n", run("nfs-cat", url(t, "//hello.txt")));
        } finally {
            closeAll(idle);
        }
    }

    @Test
    void anIdleConnectionIsClosedAfterTheIdleTime() throws Exception {
        try (TestOverlay t = new TestOverlay(null, new RpcTcpServer.Limits(100, 100, Duration.ofSeconds(1)));
             Socket idle = connect("127.0.0.1", t.port())) {
            ping(idle, 1);
            assertTrue(closedByServer(idle), "an idle connection is closed");
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                c.nfsNull();                     // a new one is served
            }
        }
    }
}
