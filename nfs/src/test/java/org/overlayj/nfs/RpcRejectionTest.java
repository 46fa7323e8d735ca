package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.Nfs3;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Calls with broken headers, hand-built and sent over TCP to the running server, each answered as RFC 5531 §9 says
 * (never silence, which leaves a client waiting for ever): a malformed or oversized AUTH_SYS credential, or a
 * flavor we do not offer, gets MSG_DENIED / AUTH_ERROR / AUTH_BADCRED; a bad verifier AUTH_BADVERF; another RPC
 * version RPC_MISMATCH with low = high = 2. The connection serves on after each.
 */
class RpcRejectionTest {
    private static final int MSG_DENIED = 1, RPC_MISMATCH = 0, AUTH_ERROR = 1, AUTH_BADCRED = 1, AUTH_BADVERF = 3;

    /** A GETATTR call with {@code cred} as the credential body of flavor {@code flavor}, and the given handle. */
    private static byte[] call(int xid, int rpcvers, int flavor, int credLength, byte[] cred, int verfLength, byte[] fh)
            throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(xid);
        d.writeInt(0);                  // CALL
        d.writeInt(rpcvers);
        d.writeInt(Nfs3.NFS_PROGRAM);
        d.writeInt(Nfs3.NFS_V3);
        d.writeInt(Nfs3.NFSPROC3_GETATTR_3);
        d.writeInt(flavor);
        d.writeInt(credLength);
        d.write(cred);
        d.write(new byte[(4 - cred.length % 4) % 4]);
        d.writeInt(0);                  // verifier AUTH_NONE
        d.writeInt(verfLength);
        d.writeInt(fh.length);
        d.write(fh);
        d.write(new byte[(4 - fh.length % 4) % 4]);
        return b.toByteArray();
    }

    /** authsys_parms: stamp, machinename, uid, gid, gids; {@code nameLength} and {@code ngids} as claimed. */
    private static byte[] authSys(int nameLength, String name, int ngids, int gidsWritten) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(1);
        d.writeInt(nameLength);
        d.writeBytes(name);
        d.write(new byte[(4 - name.length() % 4) % 4]);
        d.writeInt(0);
        d.writeInt(0);
        d.writeInt(ngids);
        for (int i = 0; i < gidsWritten; i++) d.writeInt(i);
        return b.toByteArray();
    }

    private static byte[] authSys(String name, int ngids) throws IOException {
        return authSys(name.length(), name, ngids, ngids);
    }

    private static byte[] good(int xid, byte[] fh) throws IOException {
        byte[] cred = authSys("client", 1);
        return call(xid, 2, 1, cred.length, cred, 0, fh);
    }

    private static void send(DataOutputStream out, byte[] body) throws IOException {
        out.writeInt(0x80000000 | body.length);
        out.write(body);
        out.flush();
    }

    /** The next reply's words after the xid and REPLY: reply_stat and what follows it (up to 3 words). */
    private static int[] reply(DataInputStream in, int xid) throws IOException {
        int mark = in.readInt();
        assertTrue(mark < 0, "one fragment");
        byte[] r = new byte[mark & 0x7fffffff];
        in.readFully(r);
        DataInputStream d = new DataInputStream(new ByteArrayInputStream(r));
        assertEquals(xid, d.readInt(), "xid");
        assertEquals(1, d.readInt(), "REPLY");
        int stat = d.readInt();
        if (stat == MSG_DENIED) {
            int why = d.readInt();
            return why == RPC_MISMATCH ? new int[]{stat, why, d.readInt(), d.readInt()} : new int[]{stat, why, d.readInt()};
        }
        d.readInt();                              // verifier
        d.skipBytes(d.readInt());
        return new int[]{stat, d.readInt()};      // MSG_ACCEPTED, accept_stat
    }

    @Test
    void everyBrokenHeaderIsAnsweredAndTheConnectionServesOn() throws Exception {
        try (TestOverlay t = new TestOverlay(null)) {
            byte[] fh;
            try (RpcTestClient c = new RpcTestClient(t.port(), RpcTestClient.unix(0, 0))) {
                fh = c.rootHandle("/").data;
            }
            byte[] ok = authSys("client", 1);
            Map<String, byte[]> badCred = new LinkedHashMap<>();
            byte[] g17 = authSys("client", 17);
            badCred.put("17 gids", call(0, 2, 1, g17.length, g17, 0, fh));
            byte[] n256 = authSys("x".repeat(256), 0);
            badCred.put("a 256-byte machine name", call(0, 2, 1, n256.length, n256, 0, fh));
            byte[] big = Arrays.copyOf(authSys("x".repeat(255), 16), 404);
            badCred.put("a body of 404 bytes", call(0, 2, 1, big.length, big, 0, fh));
            badCred.put("credential length 0xffffffff", call(0, 2, 1, -1, ok, 0, fh));
            badCred.put("credential length 2^30", call(0, 2, 1, 1 << 30, ok, 0, fh));
            byte[] name = authSys(-1, "client", 1, 1);
            badCred.put("machine name length 0xffffffff", call(0, 2, 1, name.length, name, 0, fh));
            byte[] gids = authSys(6, "client", -1, 1);
            badCred.put("gids count 0xffffffff", call(0, 2, 1, gids.length, gids, 0, fh));
            byte[] longName = authSys(200, "client", 1, 1);
            badCred.put("machine name longer than its body", call(0, 2, 1, longName.length, longName, 0, fh));
            badCred.put("RPCSEC_GSS", call(0, 2, 6, ok.length, ok, 0, fh));
            byte[] whole = good(0, fh);
            badCred.put("a record ending inside the credential", Arrays.copyOf(whole, 40));
            badCred.put("a record ending inside the call header", Arrays.copyOf(whole, 20));
            Map<String, byte[]> badVerf = new LinkedHashMap<>();
            badVerf.put("verifier length 0xffffffff", call(0, 2, 1, ok.length, ok, -1, fh));
            badVerf.put("verifier length 401", call(0, 2, 1, ok.length, ok, 401, fh));
            badVerf.put("a record ending before the verifier", Arrays.copyOf(whole, 32 + ok.length + 4));

            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), t.port())) {
                s.setSoTimeout(30_000);
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                DataInputStream in = new DataInputStream(s.getInputStream());
                int xid = 100;
                for (Map.Entry<String, byte[]> e : badCred.entrySet()) {
                    ByteBuffer.wrap(e.getValue()).putInt(0, ++xid);
                    send(out, e.getValue());
                    assertArrayEquals(new int[]{MSG_DENIED, AUTH_ERROR, AUTH_BADCRED}, reply(in, xid), e.getKey());
                    send(out, good(++xid, fh));
                    assertArrayEquals(new int[]{0, 0}, reply(in, xid), "a good call after " + e.getKey());
                }
                for (Map.Entry<String, byte[]> e : badVerf.entrySet()) {
                    ByteBuffer.wrap(e.getValue()).putInt(0, ++xid);
                    send(out, e.getValue());
                    assertArrayEquals(new int[]{MSG_DENIED, AUTH_ERROR, AUTH_BADVERF}, reply(in, xid), e.getKey());
                }
                for (int vers : new int[]{1, 3, -1}) {
                    send(out, call(++xid, vers, 1, ok.length, ok, 0, fh));
                    assertArrayEquals(new int[]{MSG_DENIED, RPC_MISMATCH, 2, 2}, reply(in, xid), "RPC version " + vers);
                }
                send(out, good(++xid, fh));
                assertArrayEquals(new int[]{0, 0}, reply(in, xid), "still serving");
            }
        }
    }
}
