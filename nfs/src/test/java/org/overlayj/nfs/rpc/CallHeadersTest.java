package org.overlayj.nfs.rpc;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.*;

/** The lengths a call header claims are checked before oncrpc4j allocates them. */
class CallHeadersTest {
    /** A GETATTR call with an AUTH_SYS credential; offsets below are into this layout. */
    private static byte[] call(int flavor, String machine, int gids) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(7);                       // xid
        d.writeInt(0);                       // CALL
        d.writeInt(2);
        d.writeInt(100003);
        d.writeInt(3);
        d.writeInt(1);
        d.writeInt(flavor);
        int name = (machine.length() + 3) & ~3;
        d.writeInt(4 + 4 + name + 4 + 4 + 4 + 4 * gids);
        d.writeInt(0);                       // stamp
        d.writeInt(machine.length());
        d.writeBytes(machine);
        d.write(new byte[name - machine.length()]);
        d.writeInt(0);                       // uid
        d.writeInt(0);                       // gid
        d.writeInt(gids);
        for (int i = 0; i < gids; i++) d.writeInt(i);
        d.writeInt(0);                       // verifier AUTH_NONE
        d.writeInt(0);
        d.writeInt(4);                       // the handle
        d.writeInt(0x01020304);
        return b.toByteArray();
    }

    @Test void aWellFormedAuthSysCallIsDecoded() throws IOException {
        assertEquals(CallHeaders.Verdict.DECODE, CallHeaders.check(call(1, "client", 3)));
        assertEquals(CallHeaders.Verdict.DECODE, CallHeaders.check(call(1, "", 16)));
    }

    @Test void aMachineNameLongerThanItsCredentialIsABadCredential() throws IOException {
        byte[] c = call(1, "client", 0);
        ByteBuffer.wrap(c).putInt(36, 1 << 30);   // machinename length: 1 GiB, in a 24-byte credential
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(c));
        ByteBuffer.wrap(c).putInt(36, -4);
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(c));
    }

    @Test void rfc5531LimitsHold() throws IOException {
        assertEquals(CallHeaders.Verdict.DECODE, CallHeaders.check(call(1, "x".repeat(255), 16)), "at the limits");
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(call(1, "x".repeat(256), 0)), "machinename<255>");
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(call(1, "client", 17)), "gids<16>");
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(call(1, "x".repeat(255), 100)), "a body > 400 bytes");
        for (int len : new int[]{401, -1, 0x7fffffff, 1 << 30}) {
            byte[] c = call(1, "client", 0);
            ByteBuffer.wrap(c).putInt(28, len);    // credential body length
            assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(c), "credential length " + len);
        }
        byte[] g = call(1, "client", 0);
        ByteBuffer.wrap(g).putInt(56, -1);         // gids count 0xffffffff
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(g));
        byte[] v = call(1, "client", 0);
        ByteBuffer.wrap(v).putInt(v.length - 12, 0x7ffffff0);   // verifier length
        assertEquals(CallHeaders.Verdict.BAD_VERF, CallHeaders.check(v));
        ByteBuffer.wrap(v).putInt(v.length - 12, -1);
        assertEquals(CallHeaders.Verdict.BAD_VERF, CallHeaders.check(v));
    }

    @Test void truncatedCallsAreRejectedAndWhatIsNoCallIsDropped() throws IOException {
        byte[] c = call(1, "client", 2);
        for (int n = 0; n < 12; n++)
            assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(java.util.Arrays.copyOf(c, n)), "length " + n);
        int credEnd = 32 + 4 + 4 + 8 + 4 + 4 + 4 + 8;
        for (int n = 12; n < credEnd; n++)
            assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(java.util.Arrays.copyOf(c, n)), "length " + n);
        for (int n = credEnd; n < credEnd + 8; n++)
            assertEquals(CallHeaders.Verdict.BAD_VERF, CallHeaders.check(java.util.Arrays.copyOf(c, n)), "length " + n);
        assertEquals(CallHeaders.Verdict.DECODE, CallHeaders.check(java.util.Arrays.copyOf(c, credEnd + 8)));
        ByteBuffer.wrap(c).putInt(4, 1);           // REPLY
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(c));
    }

    @Test void otherRpcVersionsAreAMismatch() throws IOException {
        byte[] c = call(1, "client", 0);
        ByteBuffer.wrap(c).putInt(8, 3);
        assertEquals(CallHeaders.Verdict.RPC_MISMATCH, CallHeaders.check(c));
        ByteBuffer r = ByteBuffer.wrap(CallHeaders.rejection(c, CallHeaders.Verdict.RPC_MISMATCH));
        assertEquals(7, r.getInt());               // xid
        assertEquals(1, r.getInt());               // REPLY
        assertEquals(1, r.getInt());               // MSG_DENIED
        assertEquals(0, r.getInt());               // RPC_MISMATCH
        assertEquals(2, r.getInt());               // low
        assertEquals(2, r.getInt());               // high
        assertFalse(r.hasRemaining());
    }

    @Test void flavorsWeDoNotOfferGetBadCred() throws IOException {
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(call(6, "client", 0)), "RPCSEC_GSS");
        assertEquals(CallHeaders.Verdict.BAD_CRED, CallHeaders.check(call(7, "client", 0)), "AUTH_TLS");
    }
}
