package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.grizzly.GrizzlyMemoryManager;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.glassfish.grizzly.Buffer;

/**
 * A call's Xdr, which oncrpc4j encodes the reply into as well (RpcCall#acceptedReply: beginEncoding on the call's
 * own buffer, grown by half each time it fills, from the size of the call). A procedure that knows its reply is
 * large (READDIRPLUS) reserves that size first: one array instead of a dozen growing ones, each copied into the
 * next (an 8 KiB reply to a 100-byte call made ~25 KiB of them: an eighth of what the first listing of a 20k-entry
 * directory allocated).
 */
public final class ReplyXdr extends Xdr {
    ReplyXdr(byte[] b) {
        super(b);
    }

    ReplyXdr(Buffer b) {
        super(b);
    }

    /**
     * Makes the buffer of {@code call}'s reply hold {@code bytes} at least (nothing when it does, or when the call
     * did not come through {@link Calls}); only once its arguments are decoded: the reply overwrites them.
     */
    public static void reserve(RpcCall call, int bytes) {
        if (call.getXdr() instanceof ReplyXdr x) x.reserve(bytes);
    }

    void reserve(int bytes) {
        Buffer b = _buffer;
        if (b.capacity() < bytes) {
            _buffer = GrizzlyMemoryManager.reallocate(GrizzlyMemoryManager.getDefaultMemoryManager(), b, bytes);
        }
    }

    /** How many bytes the buffer holds now (tests). */
    int capacity() {
        return _buffer.capacity();
    }
}
