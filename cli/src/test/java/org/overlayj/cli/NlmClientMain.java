package org.overlayj.cli;

import org.dcache.oncrpc4j.rpc.OncRpcClient;
import org.dcache.oncrpc4j.rpc.RpcAuthTypeUnix;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.overlayj.nfs.xdr.*;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

/**
 * One NLM v4 call as a client machine's lock manager makes it (caller_name = its node name, svid = pid,
 * oh = "pid@node"), for tests that must call from inside a network namespace:
 * {@code NlmClientMain HOST PORT NODE SVID FH_HEX lock|test|unlock OFFSET LEN excl|shared [reclaim]}.
 * Prints the nlm4_stats number of the reply.
 */
public final class NlmClientMain {
    public static void main(String[] a) throws Exception {
        InetAddress host = InetAddress.ofLiteral(a[0]);
        int port = Integer.parseInt(a[1]);
        String node = a[2];
        int svid = Integer.parseInt(a[3]);
        byte[] fh = HexFormat.of().parseHex(a[4]);
        String op = a[5];
        nlm4_lock l = new nlm4_lock();
        l.caller_name = node.getBytes(StandardCharsets.US_ASCII);
        l.fh = new netobj(fh);
        l.oh = new netobj((svid + "@" + node).getBytes(StandardCharsets.US_ASCII));
        l.svid = svid;
        l.l_offset = Long.parseLong(a[6]);
        l.l_len = Long.parseLong(a[7]);
        boolean exclusive = a[8].equals("excl");
        boolean reclaim = a.length > 9 && a[9].equals("reclaim");
        netobj cookie = new netobj(new byte[]{1, 2, 3, 4});
        try (OncRpcClient client = new OncRpcClient(host, IpProtocolType.TCP, port)) {
            RpcTransport t = client.connect(10, TimeUnit.SECONDS);
            RpcCall call = new RpcCall(Nlm4.NLM_PROG, Nlm4.NLM4_VERS,
                    new RpcAuthTypeUnix(0, 0, new int[]{0}, 0, node), t);
            int status;
            switch (op) {
                case "lock" -> {
                    nlm4_lockargs args = new nlm4_lockargs();
                    args.cookie = cookie;
                    args.exclusive = exclusive;
                    args.alock = l;
                    args.reclaim = reclaim;
                    args.state = 1;
                    nlm4_res r = new nlm4_res();
                    call.call(Nlm4.NLMPROC4_LOCK_4, args, r, 30, TimeUnit.SECONDS);
                    status = r.stat.stat;
                }
                case "test" -> {
                    nlm4_testargs args = new nlm4_testargs();
                    args.cookie = cookie;
                    args.exclusive = exclusive;
                    args.alock = l;
                    nlm4_testres r = new nlm4_testres();
                    call.call(Nlm4.NLMPROC4_TEST_4, args, r, 30, TimeUnit.SECONDS);
                    status = r.test_stat.stat;
                }
                case "unlock" -> {
                    nlm4_unlockargs args = new nlm4_unlockargs();
                    args.cookie = cookie;
                    args.alock = l;
                    nlm4_res r = new nlm4_res();
                    call.call(Nlm4.NLMPROC4_UNLOCK_4, args, r, 30, TimeUnit.SECONDS);
                    status = r.stat.stat;
                }
                default -> throw new IllegalArgumentException(op);
            }
            System.out.println(status);
        }
    }
}
