package org.overlayj.nfs.xdr;

import org.dcache.oncrpc4j.xdr.XdrDecodingStream;

import java.io.IOException;

/**
 * Bounded decoding of variable-length XDR items. oncrpc4j allocates the length a message claims before looking
 * at how many bytes it has, so a 4-byte lie ("2^31 bytes follow") costs an OutOfMemoryError. The build rewrites
 * the generated classes' dynamic decodes to these, which refuse lengths no legal message of ours can carry;
 * what remains is copied only after oncrpc4j checked the bytes are there.
 *
 * <p>Hand-written; the rest of this package is generated from src/main/xdr.
 */
public final class XdrBounds {
    /** The largest WRITE payload we accept (Nfs3Program.MAX_IO) and more than any name; smaller than anything that hurts. */
    public static final int MAX_ITEM = 1 << 20;

    private XdrBounds() {}

    private static int length(XdrDecodingStream xdr, int unit) throws IOException {
        int n = xdr.xdrDecodeInt();
        if (n < 0 || (long) n * unit > MAX_ITEM) throw new IOException("XDR length " + (n & 0xffffffffL));
        return n;
    }

    public static byte[] dynamicOpaque(XdrDecodingStream xdr) throws IOException {
        byte[] b = new byte[length(xdr, 1)];
        xdr.xdrDecodeOpaque(b, 0, b.length);
        return b;
    }

    public static int[] intVector(XdrDecodingStream xdr) throws IOException {
        int n = length(xdr, 4);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) v[i] = xdr.xdrDecodeInt();
        return v;
    }
}
