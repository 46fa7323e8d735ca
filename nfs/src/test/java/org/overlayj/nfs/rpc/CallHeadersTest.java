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

    @Test void aMachineNameLongerThanItsCredentialIsDropped() throws IOException {
        byte[] c = call(1, "client", 0);
        ByteBuffer.wrap(c).putInt(36, 1 << 30);   // machinename length: 1 GiB, in a 24-byte credential
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(c));
        ByteBuffer.wrap(c).putInt(36, -4);
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(c));
    }

    @Test void rfc5531LimitsHold() throws IOException {
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(call(1, "x".repeat(256), 0)), "machinename<255>");
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(call(1, "client", 17)), "gids<16>");
        byte[] c = call(1, "client", 0);
        ByteBuffer.wrap(c).putInt(28, 401);        // credential body longer than MAX_AUTH_BYTES
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(c));
        byte[] v = call(1, "client", 0);
        ByteBuffer.wrap(v).putInt(v.length - 12, 0x7ffffff0);   // verifier length
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(v));
    }

    @Test void truncatedRecordsAndRepliesAreDropped() throws IOException {
        byte[] c = call(1, "client", 2);
        for (int n = 0; n < 44; n++)
            assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(java.util.Arrays.copyOf(c, n)), "length " + n);
        ByteBuffer.wrap(c).putInt(4, 1);           // REPLY
        assertEquals(CallHeaders.Verdict.DROP, CallHeaders.check(c));
    }

    @Test void flavorsWeDoNotOfferGetBadCred() throws IOException {
        assertEquals(CallHeaders.Verdict.BAD_FLAVOR, CallHeaders.check(call(6, "client", 0)), "RPCSEC_GSS");
        assertEquals(CallHeaders.Verdict.BAD_FLAVOR, CallHeaders.check(call(7, "client", 0)), "AUTH_TLS");
    }
}
