package org.overlayj.nfs.xdr;

import org.dcache.oncrpc4j.rpc.OncRpcException;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.dcache.oncrpc4j.xdr.XdrDecodingStream;
import org.glassfish.grizzly.Buffer;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * WRITE3args whose data is not copied out of the call: {@link #data} is then the received record itself and the
 * payload is {@link #dataLength} bytes at {@link #dataOffset}; or, for a record read into native memory, {@link #direct}. A WRITE of 1 MiB otherwise cost a zeroed 1 MiB
 * array and a copy into it before the bytes went on to pwrite(2). Decoded from anything but an array-backed
 * oncrpc4j Xdr, the data is copied as the generated class does ({@code dataOffset} 0).
 *
 * <p>Hand-written, like XdrBounds; the rest of this package is generated from src/main/xdr.
 */
public final class WriteArgs extends WRITE3args {
    public int dataOffset;
    public int dataLength;
    /** The data when the record is in native memory (then {@code data} is null): valid until the reply is sent. */
    public ByteBuffer direct;

    @Override
    public void xdrDecode(XdrDecodingStream xdr) throws OncRpcException, IOException {
        file = new nfs_fh3(xdr);
        offset = xdr.xdrDecodeLong();
        count = xdr.xdrDecodeInt();
        stable = xdr.xdrDecodeInt();
        if (xdr instanceof Xdr x && x.asBuffer().hasArray()) {
            Buffer b = x.asBuffer();
            int n = xdr.xdrDecodeInt();
            int padded = (int) (((n & 0xffffffffL) + 3) & ~3L);
            if (n < 0 || n > XdrBounds.MAX_ITEM || padded > b.remaining())
                throw new IOException("XDR opaque of " + (n & 0xffffffffL) + " bytes, " + b.remaining() + " left");
            data = b.array();
            dataOffset = b.arrayOffset() + b.position();
            dataLength = n;
            b.position(b.position() + padded);
        } else if (xdr instanceof Xdr x && x.asBuffer().isDirect() && !x.asBuffer().isComposite()) {
            // a large record read into native memory (RpcConnection): the data stays there, for pwrite(2)
            Buffer b = x.asBuffer();
            int n = xdr.xdrDecodeInt();
            int padded = (int) (((n & 0xffffffffL) + 3) & ~3L);
            if (n < 0 || n > XdrBounds.MAX_ITEM || padded > b.remaining())
                throw new IOException("XDR opaque of " + (n & 0xffffffffL) + " bytes, " + b.remaining() + " left");
            direct = b.toByteBuffer(b.position(), b.position() + n).slice();
            data = null;
            dataOffset = 0;
            dataLength = n;
            b.position(b.position() + padded);
        } else {
            data = XdrBounds.dynamicOpaque(xdr);
            dataOffset = 0;
            dataLength = data.length;
        }
    }
}
