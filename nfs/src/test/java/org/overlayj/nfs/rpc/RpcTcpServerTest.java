package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** The transport alone: record marking, fragments, limits, program and version refusals, stop. */
class RpcTcpServerTest {
    private static final int PROG = 400100, VERS = 2, MAX = 4096;
    /** A program that answers the hash of the opaque its call carries: what the server read of a record's body. */
    private static final int HASH = 400199;
    private final AtomicInteger calls = new AtomicInteger();
    /** What RpcTcpServer#servesBlockingCalls said during each call, in order. */
    private final java.util.List<Boolean> blockingHere = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
    private RpcTcpServer server;

    @BeforeEach void start() throws IOException {
        RpcDispatchable echo = call -> {
            calls.incrementAndGet();
            blockingHere.add(RpcTcpServer.servesBlockingCalls());
            call.reply(XdrVoid.XDR_VOID);
        };
        RpcDispatchable hash = call -> {
            Blob b = new Blob();
            call.retrieveCall(b);
            call.reply(new org.dcache.oncrpc4j.xdr.XdrInt(java.util.Arrays.hashCode(b.bytes)));
        };
        server = RpcTcpServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                Map.of(new OncRpcProgram(PROG, VERS), echo, new OncRpcProgram(HASH, 1), hash), MAX, new RpcTcpServer.Limits(4, 4, java.time.Duration.ZERO), "test-rpc");
    }

    @AfterEach void stop() { server.close(); }

    /** A NULL-style call with AUTH_NONE and {@code pad} bytes of arguments. */
    private static byte[] call(int xid, int prog, int vers, int pad) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(xid);
        d.writeInt(0);
        d.writeInt(2);
        d.writeInt(prog);
        d.writeInt(vers);
        d.writeInt(0);
        d.writeLong(0);          // credential AUTH_NONE
        d.writeLong(0);          // verifier AUTH_NONE
        d.write(new byte[pad]);
        return b.toByteArray();
    }

    private Socket connect() throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort());
        s.setSoTimeout(10_000);
        return s;
    }

    private static void fragment(DataOutputStream out, byte[] msg, int from, int to, boolean last) throws IOException {
        out.writeInt((last ? 0x80000000 : 0) | (to - from));
        out.write(msg, from, to - from);
    }

    /** xid and the accept/reject words of the next reply. */
    private static int[] reply(DataInputStream in) throws IOException {
        int mark = in.readInt();
        assertTrue(mark < 0, "one fragment");
        byte[] r = new byte[mark & 0x7fffffff];
        in.readFully(r);
        DataInputStream d = new DataInputStream(new java.io.ByteArrayInputStream(r));
        int xid = d.readInt();
        assertEquals(1, d.readInt(), "REPLY");
        int stat = d.readInt();                    // MSG_ACCEPTED 0 / MSG_DENIED 1
        if (stat != 0) return new int[]{xid, stat, d.readInt()};
        d.readInt();                               // verifier flavor
        d.skipBytes(d.readInt());
        return new int[]{xid, stat, d.readInt()};  // accept_stat
    }

    @Test void fragmentsAreJoinedAndEachCallAnsweredInOrder() throws IOException {
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] c = call(11, PROG, VERS, 100);
            fragment(out, c, 0, 10, false);
            fragment(out, c, 10, 50, false);
            fragment(out, c, 50, c.length, true);
            byte[] c2 = call(12, PROG, VERS, 0);
            fragment(out, c2, 0, c2.length, true);
            out.flush();
            assertArrayEquals(new int[]{11, 0, 0}, reply(in));
            assertArrayEquals(new int[]{12, 0, 0}, reply(in));
        }
        assertEquals(2, calls.get());
    }

    @Test void unknownProgramsAndVersionsAreRefusedAsRfc5531Says() throws IOException {
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] c = call(21, PROG + 1, VERS, 0);
            fragment(out, c, 0, c.length, true);
            byte[] v = call(22, PROG, VERS + 5, 0);
            fragment(out, v, 0, v.length, true);
            out.flush();
            assertArrayEquals(new int[]{21, 0, 1}, reply(in), "PROG_UNAVAIL");
            assertArrayEquals(new int[]{22, 0, 2}, reply(in), "PROG_MISMATCH");
        }
        assertEquals(0, calls.get());
    }

    @Test void aRecordOverTheLimitEndsTheConnection() throws IOException {
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            byte[] c = call(31, PROG, VERS, MAX);
            fragment(out, c, 0, c.length, true);
            out.flush();
            // closed unread: EOF, or a reset since the rest of the record was never read
            assertThrows(IOException.class, () -> new DataInputStream(s.getInputStream()).readInt());
        }
        // the server serves on
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            byte[] c = call(32, PROG, VERS, 0);
            fragment(out, c, 0, c.length, true);
            assertArrayEquals(new int[]{32, 0, 0}, reply(new DataInputStream(s.getInputStream())));
        }
    }

    @Test void closeEndsEveryConnection() throws Exception {
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            byte[] c = call(41, PROG, VERS, 0);
            fragment(out, c, 0, c.length, true);
            DataInputStream in = new DataInputStream(s.getInputStream());
            reply(in);
            assertEquals(1, server.connections());
            server.close();
            assertThrows(IOException.class, in::readInt);
        }
        assertEquals(0, server.connections());
    }

    /** Waits (at most 10 s) until the server holds {@code n} connections; false if it never does. */
    private boolean awaitConnections(int n) throws InterruptedException {
        for (int i = 0; i < 1000 && server.connections() != n; i++) Thread.sleep(10);
        return server.connections() == n;
    }

    /**
     * libnfs's nfs-cp ends each connection with a reset (its close sends RST): the platform thread waiting for the
     * next call (RpcConnection#readMarkNatively) sees ECONNRESET and ends the connection as at EOF, also when the
     * reset comes inside a record; the server serves on. A record mark that comes in two pieces is joined.
     */
    @Test void aResetEndsTheConnectionAndTheServerServesOn() throws Exception {
        for (boolean insideARecord : new boolean[]{false, true}) {
            try (Socket s = connect()) {
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                DataInputStream in = new DataInputStream(s.getInputStream());
                byte[] c = call(51, PROG, VERS, 0);
                fragment(out, c, 0, c.length, true);
                assertArrayEquals(new int[]{51, 0, 0}, reply(in));
                // the next mark in two pieces, to the connection's platform thread now
                byte[] c2 = call(52, PROG, VERS, 0);
                byte[] mark = java.nio.ByteBuffer.allocate(4).putInt(0x80000000 | c2.length).array();
                out.write(mark, 0, 2);
                out.flush();
                Thread.sleep(50);
                out.write(mark, 2, 2);
                out.write(c2);
                out.flush();
                assertArrayEquals(new int[]{52, 0, 0}, reply(in));
                if (insideARecord) {
                    byte[] c3 = call(53, PROG, VERS, 0);
                    fragment(out, c3, 0, 10, false);
                    out.flush();
                }
                assertEquals(1, server.connections());
                s.setSoLinger(true, 0);            // close() sends RST
            }
            assertTrue(awaitConnections(0), "the reset connection is closed");
            try (Socket s = connect()) {
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                byte[] c = call(54, PROG, VERS, 0);
                fragment(out, c, 0, c.length, true);
                assertArrayEquals(new int[]{54, 0, 0}, reply(new DataInputStream(s.getInputStream())));
            }
            assertTrue(awaitConnections(0));
        }
        assertEquals(6, calls.get());
    }

    /**
     * A new connection goes from the acceptor straight to a platform thread of the pool, which reads its records
     * natively (RpcConnection#readMarkNatively): no virtual thread is started for a connection that sends its calls
     * at once and goes (nfs-cp: two connections per file copied, each a hop through a virtual thread before, which
     * cost the server a poller's and a carrier's wake-ups). Fragments, a mark split in two and a reset inside a
     * record on such a connection are the other tests'.
     */
    @Test void aNewConnectionIsServedByAPlatformThreadFromItsFirstCall() throws Exception {
        int before = server.virtualStarts();
        for (int i = 0; i < 10; i++) {
            try (Socket s = connect()) {
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                DataInputStream in = new DataInputStream(s.getInputStream());
                for (int k = 0; k < 3; k++) {
                    byte[] c = call(60 + k, PROG, VERS, 8);
                    fragment(out, c, 0, c.length, true);
                    out.flush();
                    assertArrayEquals(new int[]{60 + k, 0, 0}, reply(in));
                }
                if (i % 2 == 0) s.setSoLinger(true, 0);   // as libnfs ends: a reset
            }
            assertTrue(awaitConnections(0));
        }
        assertEquals(30, calls.get());
        assertEquals(before, server.virtualStarts(), "connections handed to virtual threads");
    }

    /**
     * The platform thread reads whatever has come in one read(2) (RpcConnection#fillInBuf), the next calls' records
     * too: a call with another one already read behind it must not be told that it may block its connection's
     * thread (RpcTcpServer#servesBlockingCalls), although the socket itself then has nothing left to read.
     */
    @Test void aCallWithAnotherReadBehindItMayNotBlockTheConnectionsThread() throws Exception {
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] c = call(71, PROG, VERS, 0);
            fragment(out, c, 0, c.length, true);
            out.flush();
            assertArrayEquals(new int[]{71, 0, 0}, reply(in));   // the connection is on its platform thread now
            blockingHere.clear();
            // three calls in one segment: one read(2) takes them all
            java.io.ByteArrayOutputStream three = new java.io.ByteArrayOutputStream();
            DataOutputStream t = new DataOutputStream(three);
            for (int k = 0; k < 3; k++) {
                byte[] ck = call(72 + k, PROG, VERS, 4);
                fragment(t, ck, 0, ck.length, true);
            }
            out.write(three.toByteArray());
            out.flush();
            for (int k = 0; k < 3; k++) assertArrayEquals(new int[]{72 + k, 0, 0}, reply(in));
        }
        assertEquals(java.util.List.of(false, false, true), blockingHere);
    }

    /**
     * A connection quiet for the linger time leaves its platform thread for a virtual one (no platform thread per
     * idle connection), however the platform thread waits (SO_RCVTIMEO in read(2), or poll: RpcConnection#fillInBuf),
     * and its next calls are served, then by a platform thread again.
     */
    @Test void aQuietConnectionGoesToAVirtualThreadAndIsServedOn() throws Exception {
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] c = call(81, PROG, VERS, 0);
            fragment(out, c, 0, c.length, true);
            out.flush();
            assertArrayEquals(new int[]{81, 0, 0}, reply(in));
            int before = server.virtualStarts();
            for (int i = 0; i < 300 && server.virtualStarts() == before; i++) Thread.sleep(10);
            assertEquals(before + 1, server.virtualStarts(), "gone to a virtual thread after the linger time");
            for (int k = 0; k < 3; k++) {
                byte[] ck = call(82 + k, PROG, VERS, 0);
                fragment(out, ck, 0, ck.length, true);
                out.flush();
                assertArrayEquals(new int[]{82 + k, 0, 0}, reply(in));
            }
        }
        assertTrue(awaitConnections(0));
        assertEquals(4, calls.get());
    }

    /** An XDR variable-length opaque. */
    private static final class Blob implements org.dcache.oncrpc4j.xdr.XdrAble {
        byte[] bytes;

        @Override public void xdrDecode(org.dcache.oncrpc4j.xdr.XdrDecodingStream x) throws IOException {
            bytes = x.xdrDecodeDynamicOpaque();
        }

        @Override public void xdrEncode(org.dcache.oncrpc4j.xdr.XdrEncodingStream x) throws IOException {
            x.xdrEncodeDynamicOpaque(bytes);
        }
    }

    /**
     * The platform thread serving a connection reads a record's body by read(2) itself (RpcConnection#fillInBuf):
     * a body that comes in pieces, with pauses between them, is joined byte for byte; a reset inside a body ends
     * the connection as at EOF, and the server serves on.
     */
    @Test void aBodyInPiecesIsJoinedAndAResetInsideOneEndsTheConnection() throws Exception {
        byte[] blob = new byte[3001];
        new java.util.Random(7).nextBytes(blob);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.write(call(61, HASH, 1, 0));
        d.writeInt(blob.length);
        d.write(blob);
        d.write(new byte[3]);                       // XDR padding to 4 bytes
        byte[] c = b.toByteArray();
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] first = call(60, PROG, VERS, 0);
            fragment(out, first, 0, first.length, true);
            assertArrayEquals(new int[]{60, 0, 0}, reply(in));   // the connection has its platform thread now
            out.writeInt(0x80000000 | c.length);
            int[] cuts = {0, 7, 44, 1500, 2999, c.length};
            for (int i = 0; i + 1 < cuts.length; i++) {
                out.write(c, cuts[i], cuts[i + 1] - cuts[i]);
                out.flush();
                Thread.sleep(30);
            }
            assertArrayEquals(new int[]{61, 0, 0}, reply(in, r -> assertEquals(java.util.Arrays.hashCode(blob), r.readInt())));
            // a reset in the middle of the next body
            out.writeInt(0x80000000 | c.length);
            out.write(c, 0, 100);
            out.flush();
            Thread.sleep(30);
            assertEquals(1, server.connections());
            s.setSoLinger(true, 0);
        }
        assertTrue(awaitConnections(0), "the reset connection is closed");
        try (Socket s = connect()) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            fragment(out, c, 0, c.length, true);
            assertArrayEquals(new int[]{61, 0, 0}, reply(new DataInputStream(s.getInputStream()),
                    r -> assertEquals(java.util.Arrays.hashCode(blob), r.readInt())));
        }
    }

    private interface Result {
        void check(DataInputStream r) throws IOException;
    }

    /** {@link #reply(DataInputStream)}, and the result that follows an accepted reply's status, checked. */
    private static int[] reply(DataInputStream in, Result result) throws IOException {
        int mark = in.readInt();
        assertTrue(mark < 0, "one fragment");
        byte[] r = new byte[mark & 0x7fffffff];
        in.readFully(r);
        DataInputStream d = new DataInputStream(new java.io.ByteArrayInputStream(r));
        int xid = d.readInt();
        assertEquals(1, d.readInt(), "REPLY");
        int stat = d.readInt();
        assertEquals(0, stat, "accepted");
        d.readInt();
        d.skipBytes(d.readInt());
        int accept = d.readInt();
        if (accept == 0) result.check(d);
        return new int[]{xid, stat, accept};
    }
}
