package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.rpc.RpcException;
import org.dcache.oncrpc4j.rpc.RpcMessageType;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.xdr.Xdr;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.glassfish.grizzly.memory.ByteBufferWrapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.function.Consumer;

/** One call message, whatever carried it (a TCP record, a UDP datagram): checked, decoded, handed to its program. */
final class Calls {
    private static final Logger log = LoggerFactory.getLogger(Calls.class);

    private Calls() {}

    /**
     * Decodes the call header (oncrpc4j's RpcCall: version, program, credential) and hands the call to its
     * program. A call whose header is wrong is rejected as RFC 5531 says (CallHeaders), through {@code raw}, which
     * sends a reply body built here; only what is not a call at all is dropped. Replies to calls of ours cannot
     * arrive: we make none.
     */
    static void handle(byte[] message, RpcTransport transport, Map<OncRpcProgram, RpcDispatchable> programs,
                       Consumer<byte[]> raw) {
        handle(ByteBuffer.wrap(message), transport, programs, raw);
    }

    /**
     * {@link #handle(byte[], RpcTransport, Map, Consumer)} of a message in a buffer: a heap one, or native memory
     * (a large WRITE read off the socket with no copy; see RpcConnection).
     */
    static void handle(ByteBuffer message, RpcTransport transport, Map<OncRpcProgram, RpcDispatchable> programs,
                       Consumer<byte[]> raw) {
        CallHeaders.Verdict verdict = CallHeaders.check(message);
        switch (verdict) {
            case DECODE -> { }
            case DROP -> {
                log.debug("not an RPC call from {}", transport.getRemoteSocketAddress());
                return;
            }
            default -> {
                log.debug("RPC call from {} rejected: {}", transport.getRemoteSocketAddress(), verdict);
                raw.accept(CallHeaders.rejection(message, verdict));
                return;
            }
        }
        RpcCall call;
        try {
            Xdr xdr = message.hasArray() && message.arrayOffset() == 0 && message.position() == 0
                    && message.limit() == message.array().length
                    ? new ReplyXdr(message.array()) : new ReplyXdr(new ByteBufferWrapper(message.slice()));
            xdr.beginDecoding();
            int xid = xdr.xdrDecodeInt();
            if (xdr.xdrDecodeInt() != RpcMessageType.CALL) return;
            call = new RpcCall(xid, xdr, transport);
            try {
                call.accept();
            } catch (RpcException e) {               // bad or too weak credentials
                call.reject(e.getStatus(), e.getRpcReply());
                return;
            }
        } catch (IOException | RuntimeException e) {
            // CallHeaders let it through, so the credential's lengths fit: what oncrpc4j still refuses is its content.
            log.debug("undecodable RPC call from {}: {}", transport.getRemoteSocketAddress(), e.toString());
            raw.accept(CallHeaders.rejection(message, CallHeaders.Verdict.BAD_CRED));
            return;
        }
        RpcDispatchable program = programs.get(new OncRpcProgram(call.getProgram(), call.getProgramVersion()));
        if (program == null) {
            refuse(call, programs);
            return;
        }
        try {
            program.dispatchOncRpcCall(call);
        } catch (RpcException e) {
            call.reject(e.getStatus(), e.getRpcReply());
        } catch (IOException e) {
            log.debug("garbage call from {}: {}", transport.getRemoteSocketAddress(), e.toString());
            call.failRpcGarbage();
        } catch (RuntimeException e) {
            log.error("RPC program {} failed on a call from {}", call.getProgram(), transport.getRemoteSocketAddress(), e);
            call.failRpcSystem();
        }
    }

    /** PROG_MISMATCH with the versions we have when the program is ours, else PROG_UNAVAIL (RFC 5531 §9). */
    private static void refuse(RpcCall call, Map<OncRpcProgram, RpcDispatchable> programs) {
        int low = Integer.MAX_VALUE, high = Integer.MIN_VALUE;
        for (OncRpcProgram p : programs.keySet()) {
            if (p.getNumber() != call.getProgram()) continue;
            low = Math.min(low, p.getVersion());
            high = Math.max(high, p.getVersion());
        }
        if (low <= high) call.failProgramMismatch(low, high);
        else call.failProgramUnavailable();
    }
}
