package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Thousands of broken RPC messages over raw sockets: random bytes, truncated and corrupted calls, absurd lengths.
 * Each must be answered or dropped (the connection may close); the server must still serve afterwards.
 * {@code -Doverlayj.nfs.fuzz=N} raises the count.
 */
class MalformedRpcTest {
    private static final int MESSAGES = Integer.getInteger("overlayj.nfs.fuzz", 10_000);

    /** A well-formed GETATTR call for {@code fh}, as one record (with its record mark). */
    static byte[] getattrCall(int xid, byte[] fh) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(xid);
        d.writeInt(0);          // CALL
        d.writeInt(2);          // RPC version
        d.writeInt(Nfs3.NFS_PROGRAM);
        d.writeInt(Nfs3.NFS_V3);
        d.writeInt(Nfs3.NFSPROC3_GETATTR_3);
        d.writeInt(1);          // AUTH_UNIX
        d.writeInt(4 + 8 + 4 + 4 + 4 + 4);
        d.writeInt(0);          // stamp
        d.writeInt(4);          // machine name "test"
        d.writeBytes("test");
        d.writeInt(0);          // uid
        d.writeInt(0);          // gid
        d.writeInt(1);          // one group
        d.writeInt(0);
        d.writeInt(0);          // verifier AUTH_NONE
        d.writeInt(0);
        d.writeInt(fh.length);
        d.write(fh);
        d.write(new byte[(4 - fh.length % 4) % 4]);
        return b.toByteArray();
    }

    static byte[] record(byte[] body) {
        return ByteBuffer.allocate(4 + body.length).putInt(0x80000000 | body.length).put(body).array();
    }

    @Test
    void garbageIsAnsweredOrDroppedAndTheServerKeepsServing() throws Exception {
        try (TestOverlay t = new TestOverlay(null)) {
            byte[] rootFh;
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                rootFh = c.rootHandle("/").data;
            }
            int threadsBefore = Thread.activeCount();
            Random rnd = new Random(1813);
            byte[] good = getattrCall(1, rootFh);
            int sent = 0, connections = 0;
            while (sent < MESSAGES) {
                connections++;
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), t.port())) {
                    s.setSoTimeout(2000);
                    OutputStream out = s.getOutputStream();
                    // Up to 100 messages per connection; the server may close it on the first one.
                    for (int i = 0; i < 100 && sent < MESSAGES; i++, sent++) {
                        byte[] msg = switch (rnd.nextInt(6)) {
                            case 0 -> { // random bytes with a plausible record mark
                                byte[] body = new byte[rnd.nextInt(200)];
                                rnd.nextBytes(body);
                                yield record(body);
                            }
                            case 1 -> record(Arrays.copyOf(good, rnd.nextInt(good.length))); // truncated XDR
                            case 2 -> { // one corrupted byte
                                byte[] body = good.clone();
                                body[rnd.nextInt(body.length)] ^= (byte) (1 + rnd.nextInt(255));
                                body[0] = (byte) i;
                                yield record(body);
                            }
                            case 3 -> { // huge length inside the XDR (the fh opaque)
                                byte[] body = good.clone();
                                ByteBuffer.wrap(body).putInt(body.length - rootFh.length - 4 - (4 - rootFh.length % 4) % 4,
                                        rnd.nextBoolean() ? 0x7fffffff : 0xfffffff0);
                                yield record(body);
                            }
                            case 4 -> { // wrong program / version / procedure numbers
                                byte[] body = good.clone();
                                ByteBuffer.wrap(body).putInt(12 + 4 * rnd.nextInt(3), rnd.nextInt());
                                yield record(body);
                            }
                            default -> record(good); // a valid call in between
                        };
                        out.write(msg);
                    }
                    // A record mark announcing far more than will ever come, then hang up.
                    out.write(ByteBuffer.allocate(4).putInt(0x80000000 | (1 << 30)).array());
                    out.flush();
                    drain(s.getInputStream());
                } catch (SocketException e) {
                    // the server dropped the connection: allowed
                }
            }
            assertTrue(connections > 1);
            // No leak per connection or message: the server's thread count stays where it was (pools are bounded).
            assertTrue(Thread.activeCount() <= threadsBefore + 16,
                    "threads before " + threadsBefore + ", after " + Thread.activeCount());
            // Still serving: a proper client works.
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                c.nfsNull();
                GETATTR3args ga = new GETATTR3args();
                ga.object = c.rootHandle("/");
                assertEquals(nfsstat3.NFS3_OK, c.nfs(Nfs3.NFSPROC3_GETATTR_3, ga, new GETATTR3res()).status);
            }
            assertTrue(t.server.stats().nfsCalls("GETATTR") > 0);
        }
    }

    /**
     * A READ whose arguments end after the handle (no offset, no count) is answered GARBAGE_ARGS, on a platform
     * connection thread too, where a READ's arguments are decoded before the call is served (to serve a small
     * READ there and hand a large one to a worker); and a whole READ on the same connection after it is served.
     */
    @Test
    void truncatedReadArgumentsAreGarbageAndTheConnectionGoesOn() throws Exception {
        try (TestOverlay t = new TestOverlay(null)) {
            byte[] rootFh;
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                rootFh = c.rootHandle("/").data;
            }
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), t.port())) {
                s.setSoTimeout(10_000);
                OutputStream out = s.getOutputStream();
                java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
                // a few calls first, so that a platform thread serves the connection
                for (int xid = 1; xid <= 3; xid++) {
                    out.write(record(getattrCall(xid, rootFh)));
                    assertEquals(0, acceptStat(in, xid));
                }
                byte[] read = getattrCall(7, rootFh);
                ByteBuffer.wrap(read).putInt(20, Nfs3.NFSPROC3_READ_3);     // the handle only: truncated
                out.write(record(read));
                assertEquals(4, acceptStat(in, 7), "GARBAGE_ARGS");
                ByteArrayOutputStream whole = new ByteArrayOutputStream();
                whole.write(read);
                whole.write(new byte[8]);                                  // offset 0
                whole.write(ByteBuffer.allocate(4).putInt(4096).array());  // count
                byte[] body = whole.toByteArray();
                ByteBuffer.wrap(body).putInt(0, 8);
                out.write(record(body));
                // a directory: the READ is served and answered NFS3ERR_ISDIR (accepted, SUCCESS)
                assertEquals(0, acceptStat(in, 8));
            }
            assertTrue(t.server.stats().nfsCalls("READ") >= 2);
        }
    }

    /** Reads one reply record and returns its accept_stat (after checking its xid and that it was accepted). */
    private static int acceptStat(java.io.DataInputStream in, int xid) throws IOException {
        int mark = in.readInt();
        byte[] body = new byte[mark & 0x7fffffff];
        in.readFully(body);
        ByteBuffer b = ByteBuffer.wrap(body);
        assertEquals(xid, b.getInt());
        assertEquals(1, b.getInt());            // REPLY
        assertEquals(0, b.getInt());            // MSG_ACCEPTED
        b.getInt();                             // verifier flavor
        int verifier = b.getInt();
        b.position(b.position() + verifier);    // verifier body
        return b.getInt();
    }

    /** Reads whatever replies came back; a timeout just ends the wait (the server owes nothing to garbage). */
    private static void drain(InputStream in) throws IOException {
        byte[] buf = new byte[65536];
        try {
            while (in.read(buf) >= 0) {
                // discard
            }
        } catch (SocketTimeoutException | SocketException e) {
            // done
        }
    }
}
