package org.overlayj.nfs.nlm;

import org.dcache.oncrpc4j.xdr.Xdr;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.glassfish.grizzly.Buffer;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The few calls the server makes to its clients: GRANTED to a client's lock manager, SM_NOTIFY to its status
 * monitor, the *_RES answers of the asynchronous NLM procedures, and the portmapper GETPORT that finds them. One
 * call per connection (TCP) or per socket (UDP), from our side of the address the client called, so that the
 * client sees them come from the server it knows (the Linux client ignores a GRANTED from another address).
 */
final class RpcCaller {
    static final int PMAP_PROG = 100000, PMAP_VERS = 2, PMAPPROC_GETPORT = 3;
    static final int IPPROTO_TCP = 6, IPPROTO_UDP = 17;
    private static final int MAX_REPLY = 64 * 1024;
    private static final int AUTH_SYS = 1;

    private RpcCaller() {}

    /** A void-or-result call over TCP; {@code result} null for a void result. */
    static void callTcp(InetSocketAddress to, InetAddress from, int prog, int vers, int proc, XdrAble args,
                        XdrAble result, Duration timeout) throws IOException {
        int xid = ThreadLocalRandom.current().nextInt();
        byte[] call = encode(xid, prog, vers, proc, args);
        try (Socket s = new Socket()) {
            if (from != null && !from.isAnyLocalAddress()) s.bind(new InetSocketAddress(from, 0));
            s.setSoTimeout((int) timeout.toMillis());
            s.connect(to, (int) timeout.toMillis());
            OutputStream out = s.getOutputStream();
            out.write(ByteBuffer.allocate(4 + call.length).putInt(0x80000000 | call.length).put(call).array());
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            while (true) {
                byte[] reply = readRecord(in);
                if (decodeReply(reply, xid, result)) return;
            }
        }
    }

    /** The same over UDP, sent up to three times. */
    static void callUdp(InetSocketAddress to, InetAddress from, int prog, int vers, int proc, XdrAble args,
                        XdrAble result, Duration timeout) throws IOException {
        int xid = ThreadLocalRandom.current().nextInt();
        byte[] call = encode(xid, prog, vers, proc, args);
        try (DatagramSocket s = from != null && !from.isAnyLocalAddress()
                ? new DatagramSocket(new InetSocketAddress(from, 0)) : new DatagramSocket()) {
            s.setSoTimeout((int) Math.max(1, timeout.toMillis() / 3));
            byte[] buf = new byte[MAX_REPLY];
            for (int attempt = 0; attempt < 3; attempt++) {
                s.send(new DatagramPacket(call, call.length, to));
                try {
                    while (true) {
                        DatagramPacket p = new DatagramPacket(buf, buf.length);
                        s.receive(p);
                        byte[] reply = java.util.Arrays.copyOf(p.getData(), p.getLength());
                        if (decodeReply(reply, xid, result)) return;
                    }
                } catch (SocketTimeoutException e) {
                    // resend
                }
            }
            throw new SocketTimeoutException("no reply from " + to);
        }
    }

    /** The port the portmapper at {@code host} has for the program (TCP or UDP), 0 when none. */
    static int getPort(InetAddress host, InetAddress from, int prog, int vers, int protocol, Duration timeout)
            throws IOException {
        XdrAble args = new XdrAble() {
            @Override public void xdrEncode(org.dcache.oncrpc4j.xdr.XdrEncodingStream x) {
                x.xdrEncodeInt(prog);
                x.xdrEncodeInt(vers);
                x.xdrEncodeInt(protocol);
                x.xdrEncodeInt(0);
            }

            @Override public void xdrDecode(org.dcache.oncrpc4j.xdr.XdrDecodingStream x) {
                throw new UnsupportedOperationException();
            }
        };
        int[] port = new int[1];
        XdrAble res = new XdrAble() {
            @Override public void xdrEncode(org.dcache.oncrpc4j.xdr.XdrEncodingStream x) {
                throw new UnsupportedOperationException();
            }

            @Override public void xdrDecode(org.dcache.oncrpc4j.xdr.XdrDecodingStream x) throws IOException {
                port[0] = x.xdrDecodeInt();
            }
        };
        InetSocketAddress pm = new InetSocketAddress(host, 111);
        try {
            callUdp(pm, from, PMAP_PROG, PMAP_VERS, PMAPPROC_GETPORT, args, res, timeout);
        } catch (IOException e) {
            callTcp(pm, from, PMAP_PROG, PMAP_VERS, PMAPPROC_GETPORT, args, res, timeout);
        }
        return port[0] & 0xffff;
    }

    private static byte[] encode(int xid, int prog, int vers, int proc, XdrAble args) throws IOException {
        Xdr x = new Xdr(Xdr.INITIAL_XDR_SIZE);
        x.beginEncoding();
        x.xdrEncodeInt(xid);
        x.xdrEncodeInt(0);                      // CALL
        x.xdrEncodeInt(2);                      // RPC version
        x.xdrEncodeInt(prog);
        x.xdrEncodeInt(vers);
        x.xdrEncodeInt(proc);
        // AUTH_SYS as root of this machine, as knfsd's lockd calls back; statd and lockd accept it.
        Xdr cred = new Xdr(256);
        cred.beginEncoding();
        cred.xdrEncodeInt((int) (System.currentTimeMillis() / 1000));
        cred.xdrEncodeDynamicOpaque("overlayj".getBytes(StandardCharsets.US_ASCII));
        cred.xdrEncodeInt(0);
        cred.xdrEncodeInt(0);
        cred.xdrEncodeInt(0);                   // no supplementary groups
        cred.endEncoding();
        x.xdrEncodeInt(AUTH_SYS);
        x.xdrEncodeDynamicOpaque(bytes(cred));
        x.xdrEncodeInt(0);                      // verifier AUTH_NONE
        x.xdrEncodeInt(0);
        try {
            args.xdrEncode(x);
        } catch (org.dcache.oncrpc4j.rpc.OncRpcException e) {
            throw new IOException(e);
        }
        x.endEncoding();
        return bytes(x);
    }

    private static byte[] bytes(Xdr x) {
        Buffer b = x.asBuffer();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /** True when this is the reply to {@code xid} (and its result was decoded); throws for a refused call. */
    private static boolean decodeReply(byte[] reply, int xid, XdrAble result) throws IOException {
        Xdr x = new Xdr(reply);
        x.beginDecoding();
        if (x.xdrDecodeInt() != xid) return false;
        if (x.xdrDecodeInt() != 1) return false;                          // not a REPLY
        if (x.xdrDecodeInt() != 0) throw new IOException("call denied");  // MSG_DENIED
        x.xdrDecodeInt();                                                  // verifier flavor
        int len = x.xdrDecodeInt();
        if (len < 0 || len > 400) throw new IOException("bad verifier");
        x.xdrDecodeOpaque(len);
        int acceptStat = x.xdrDecodeInt();
        if (acceptStat != 0) throw new IOException("call not accepted: accept_stat " + acceptStat);
        if (result != null) {
            try {
                result.xdrDecode(x);
            } catch (org.dcache.oncrpc4j.rpc.OncRpcException e) {
                throw new IOException(e);
            }
        }
        return true;
    }

    private static byte[] readRecord(DataInputStream in) throws IOException {
        byte[] record = new byte[0];
        while (true) {
            int mark = in.readInt();
            int n = mark & 0x7fffffff;
            if (record.length + (long) n > MAX_REPLY) throw new IOException("reply too long");
            byte[] more = java.util.Arrays.copyOf(record, record.length + n);
            in.readFully(more, record.length, n);
            record = more;
            if ((mark & 0x80000000) != 0) return record;
        }
    }
}
