package org.overlayj.nfs.rpc;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;

/**
 * A look at a call's header before oncrpc4j decodes it. oncrpc4j allocates whatever length a credential or
 * verifier field claims before it checks the bytes are there (a machine name "of 1 GiB" is a 1 GiB array, zeroed,
 * on the connection's thread), so the lengths are checked here against the record and RFC 5531's limits first.
 *
 * <p>A call whose header is wrong gets the rejection RFC 5531 §9 names for it, built here (it needs only the
 * xid): a client whose credential we cannot read must hear so, or it waits for a reply forever. Only what is
 * not a call at all (shorter than xid, type and RPC version; a REPLY) is dropped.
 */
final class CallHeaders {
    /** RFC 5531 §8.2: opaque_auth bodies are at most 400 bytes. */
    static final int MAX_AUTH_BYTES = 400;
    /** RFC 5531 appendix A: authsys_parms has machinename<255> and gids<16>. */
    static final int MAX_MACHINE_NAME = 255;
    static final int MAX_GIDS = 16;
    static final int AUTH_NONE = 0, AUTH_SYS = 1;
    static final int RPC_VERSION = 2;

    enum Verdict {
        /** Lengths fit: oncrpc4j may decode it. */
        DECODE,
        /** Not a call (too short to be one, or a reply): nothing to answer. */
        DROP,
        /** An RPC version other than 2: MSG_DENIED / RPC_MISMATCH, low = high = 2. */
        RPC_MISMATCH,
        /**
         * A credential that is truncated, longer than 400 bytes, an AUTH_SYS body breaking its limits, or of a
         * flavor we do not offer (RPCSEC_GSS, AUTH_TLS, ...): MSG_DENIED / AUTH_ERROR / AUTH_BADCRED.
         */
        BAD_CRED,
        /** A verifier that is truncated or longer than 400 bytes: MSG_DENIED / AUTH_ERROR / AUTH_BADVERF. */
        BAD_VERF
    }

    private CallHeaders() {}

    static Verdict check(byte[] record) {
        return check(ByteBuffer.wrap(record));
    }

    /** {@link #check(byte[])} of a record in a buffer (position to limit; the buffer's position is left as it is). */
    static Verdict check(ByteBuffer record) {
        ByteBuffer b = record.slice();
        if (b.remaining() < 12) return Verdict.DROP;
        b.getInt();                                               // xid
        if (b.getInt() != 0) return Verdict.DROP;                 // a reply: we make no calls
        if (b.getInt() != RPC_VERSION) return Verdict.RPC_MISMATCH;
        try {
            b.position(b.position() + 12);                        // prog, vers, proc
            int flavor = b.getInt();
            int credLength = b.getInt();
            if (credLength < 0 || credLength > MAX_AUTH_BYTES || pad(credLength) > b.remaining())
                return Verdict.BAD_CRED;
            if (flavor == AUTH_SYS && !authSysFits(b.slice(b.position(), credLength))) return Verdict.BAD_CRED;
            if (flavor == AUTH_NONE && credLength != 0) return Verdict.BAD_CRED;
            if (flavor != AUTH_NONE && flavor != AUTH_SYS) return Verdict.BAD_CRED;
            b.position(b.position() + pad(credLength));
        } catch (BufferUnderflowException | IllegalArgumentException | IndexOutOfBoundsException e) {
            return Verdict.BAD_CRED;
        }
        try {
            b.getInt();                                           // verifier flavor
            int verfLength = b.getInt();
            if (verfLength < 0 || verfLength > MAX_AUTH_BYTES || pad(verfLength) > b.remaining())
                return Verdict.BAD_VERF;
            return Verdict.DECODE;
        } catch (BufferUnderflowException e) {
            return Verdict.BAD_VERF;
        }
    }

    /** The reply to a call {@link #check} did not let through to decoding (not DECODE, not DROP): a whole record body. */
    static byte[] rejection(byte[] record, Verdict v) {
        return rejection(ByteBuffer.wrap(record), v);
    }

    static byte[] rejection(ByteBuffer record, Verdict v) {
        ByteBuffer r = ByteBuffer.allocate(24);
        r.putInt(record.getInt(record.position()));               // the call's xid
        r.putInt(1);                                              // REPLY
        r.putInt(1);                                              // MSG_DENIED
        switch (v) {
            case RPC_MISMATCH -> r.putInt(0).putInt(RPC_VERSION).putInt(RPC_VERSION);   // the only version we speak
            case BAD_CRED -> r.putInt(1).putInt(AUTH_BADCRED);
            case BAD_VERF -> r.putInt(1).putInt(AUTH_BADVERF);
            default -> throw new IllegalArgumentException(v + " is not a rejection");
        }
        return java.util.Arrays.copyOf(r.array(), r.position());
    }

    /** auth_stat values (RFC 5531 §9). */
    static final int AUTH_BADCRED = 1, AUTH_BADVERF = 3;

    /**
     * authsys_parms inside its opaque body: stamp, machinename<255>, uid, gid, gids<16>. Bytes after them are let
     * be, as knfsd lets them be.
     */
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
