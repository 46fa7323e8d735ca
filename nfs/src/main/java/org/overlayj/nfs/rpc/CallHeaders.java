package org.overlayj.nfs.rpc;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;

/**
 * A look at a call's header before oncrpc4j decodes it. oncrpc4j allocates whatever length a credential or
 * verifier field claims before it checks the bytes are there (a machine name "of 1 GiB" is a 1 GiB array, zeroed,
 * on the connection's thread), so the lengths are checked here against the record and RFC 5531's limits first.
 */
final class CallHeaders {
    /** RFC 5531 §8.2: opaque_auth bodies are at most 400 bytes. */
    static final int MAX_AUTH_BYTES = 400;
    /** RFC 5531 appendix A: authsys_parms has machinename<255> and gids<16>. */
    static final int MAX_MACHINE_NAME = 255;
    static final int MAX_GIDS = 16;
    static final int AUTH_NONE = 0, AUTH_SYS = 1;

    enum Verdict {
        /** Lengths fit: oncrpc4j may decode it. */
        DECODE,
        /** Not a call, or lengths that do not fit: dropped, as an undecodable message. */
        DROP,
        /** A credential flavor we do not offer (RPCSEC_GSS, AUTH_TLS, ...): AUTH_ERROR / AUTH_BADCRED. */
        BAD_FLAVOR
    }

    private CallHeaders() {}

    static Verdict check(byte[] record) {
        ByteBuffer b = ByteBuffer.wrap(record);
        try {
            b.getInt();                                           // xid
            if (b.getInt() != 0) return Verdict.DROP;             // a reply: we make no calls
            b.position(b.position() + 16);                        // rpcvers, prog, vers, proc
            int flavor = b.getInt();
            int credLength = b.getInt();
            if (credLength < 0 || credLength > MAX_AUTH_BYTES || credLength > b.remaining()) return Verdict.DROP;
            int credEnd = b.position() + pad(credLength);
            if (credEnd > b.limit()) return Verdict.DROP;
            if (flavor == AUTH_SYS && !authSysFits(b.slice(b.position(), credLength))) return Verdict.DROP;
            b.position(credEnd);
            b.getInt();                                           // verifier flavor
            int verfLength = b.getInt();
            if (verfLength < 0 || verfLength > MAX_AUTH_BYTES || pad(verfLength) > b.remaining()) return Verdict.DROP;
            return flavor == AUTH_NONE || flavor == AUTH_SYS ? Verdict.DECODE : Verdict.BAD_FLAVOR;
        } catch (BufferUnderflowException | IllegalArgumentException | IndexOutOfBoundsException e) {
            return Verdict.DROP;
        }
    }

    /** authsys_parms inside its opaque body: stamp, machinename<255>, uid, gid, gids<16>. */
    private static boolean authSysFits(ByteBuffer body) {
        body.getInt();                                            // stamp
        int name = body.getInt();
        if (name < 0 || name > MAX_MACHINE_NAME || pad(name) > body.remaining()) return false;
        body.position(body.position() + pad(name));
        body.getInt();                                            // uid
        body.getInt();                                            // gid
        int gids = body.getInt();
        return gids >= 0 && gids <= MAX_GIDS && 4L * gids <= body.remaining();
    }

    private static int pad(int n) { return (n + 3) & ~3; }
}
