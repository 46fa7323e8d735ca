package org.overlayj.nfs.xdr;

import org.dcache.oncrpc4j.rpc.OncRpcException;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrDecodingStream;
import org.dcache.oncrpc4j.xdr.XdrEncodingStream;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A successful READ3res whose data is referenced, not copied, into the reply: the bytes of {@link #data}
 * (position to limit) go to the socket from where they are. The generated READ3resok copies its byte[] into the
 * reply's buffer, which for 1 MiB meant growing that buffer (a zeroed allocation) and a copy. The caller must not
 * touch the data until the reply has been sent. On the wire it is exactly READ3res with status NFS3_OK.
 *
 * <p>Hand-written, like XdrBounds; the rest of this package is generated from src/main/xdr.
 */
public final class ReadReply implements XdrAble {
    private final post_op_attr attributes;
    private final boolean eof;
    private final ByteBuffer data;

    public ReadReply(post_op_attr attributes, boolean eof, ByteBuffer data) {
        this.attributes = attributes;
        this.eof = eof;
        this.data = data;
    }

    @Override
    public void xdrEncode(XdrEncodingStream xdr) throws OncRpcException, IOException {
        xdr.xdrEncodeInt(nfsstat3.NFS3_OK);
        attributes.xdrEncode(xdr);
        xdr.xdrEncodeInt(data.remaining());
        xdr.xdrEncodeBoolean(eof);
        if (xdr instanceof Xdr x) x.xdrEncodeShallowByteBuffer(data.duplicate());   // length, bytes, padding
        else xdr.xdrEncodeByteBuffer(data.duplicate());
    }

    @Override
    public void xdrDecode(XdrDecodingStream xdr) {
        throw new UnsupportedOperationException("a reply we only send");
    }
}
