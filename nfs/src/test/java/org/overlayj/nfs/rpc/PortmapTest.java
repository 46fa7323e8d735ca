package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.portmap.mapping;
import org.dcache.oncrpc4j.portmap.rpcb;
import org.dcache.oncrpc4j.rpc.OncRpcClient;
import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcAuthTypeNone;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcTransport;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrBoolean;
import org.dcache.oncrpc4j.xdr.XdrDecodingStream;
import org.dcache.oncrpc4j.xdr.XdrEncodingStream;
import org.dcache.oncrpc4j.xdr.XdrInt;
import org.dcache.oncrpc4j.xdr.XdrString;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The portmapper alone, on a free port of 127.0.0.1 (the real port 111 is tested in a network namespace by the cli's
 * ServeCommandTest): portmap 2 GETPORT/DUMP/SET/UNSET and rpcbind 3/4 GETADDR/GETVERSADDR/DUMP/SET/UNSET over TCP
 * and UDP, with oncrpc4j's client; bound to its address only.
 */
class PortmapTest {
    private static final int NFS = 100003, MOUNT = 100005;

    /** A list reply: entries while a "more" boolean is true, each read by {@code entry}. */
    private static final class ListOf implements XdrAble {
        interface Entry { String read(XdrDecodingStream x) throws IOException; }

        final List<String> items = new ArrayList<>();
        private final Entry entry;

        ListOf(Entry entry) { this.entry = entry; }

        @Override public void xdrDecode(XdrDecodingStream x) throws IOException {
            while (x.xdrDecodeBoolean()) items.add(entry.read(x));
        }

        @Override public void xdrEncode(XdrEncodingStream x) { throw new UnsupportedOperationException(); }
    }

    private static <T extends XdrAble> T call(RpcTransport t, int vers, int proc, XdrAble args, T res) throws Exception {
        new RpcCall(Rpcbind.PROGRAM, vers, new RpcAuthTypeNone(), t).call(proc, args, res, 10, TimeUnit.SECONDS);
        return res;
    }

    @Test
    void portmap2AndRpcbind34AnswerOverTcpAndUdpOnTheirAddressOnly() throws Exception {
        InetSocketAddress nfsAt = new InetSocketAddress("127.0.0.1", 2049);
        List<Rpcbind.Entry> entries = Portmap.entries(List.of(new OncRpcProgram(NFS, 3), new OncRpcProgram(MOUNT, 3)),
                "tcp", nfsAt);
        try (Portmap pm = Portmap.start(new InetSocketAddress("127.0.0.1", 0), entries)) {
            int port = pm.address().getPort();
            for (int proto : new int[]{IpProtocolType.TCP, IpProtocolType.UDP}) {
                try (OncRpcClient c = new OncRpcClient(InetAddress.getByName("127.0.0.1"), proto, port)) {
                    RpcTransport t = c.connect(10, TimeUnit.SECONDS);
                    String how = proto == IpProtocolType.TCP ? "tcp" : "udp";
                    call(t, 2, Rpcbind.NULL, XdrVoid.XDR_VOID, XdrVoid.XDR_VOID);
                    // portmap 2
                    assertEquals(2049, call(t, 2, Rpcbind.GETPORT_GETADDR, new mapping(NFS, 3, 6, 0), new XdrInt()).intValue(), how);
                    assertEquals(0, call(t, 2, Rpcbind.GETPORT_GETADDR, new mapping(NFS, 3, 17, 0), new XdrInt()).intValue(), "no udp");
                    assertEquals(0, call(t, 2, Rpcbind.GETPORT_GETADDR, new mapping(400001, 1, 6, 0), new XdrInt()).intValue());
                    ListOf dump2 = call(t, 2, Rpcbind.DUMP, XdrVoid.XDR_VOID, new ListOf(
                            x -> x.xdrDecodeInt() + "/" + x.xdrDecodeInt() + "/" + x.xdrDecodeInt() + "/" + x.xdrDecodeInt()));
                    assertTrue(dump2.items.contains("100003/3/6/2049"), dump2.items.toString());
                    assertTrue(dump2.items.contains("100005/3/6/2049"), dump2.items.toString());
                    assertTrue(dump2.items.contains("100000/2/6/" + port), dump2.items.toString());
                    assertTrue(dump2.items.contains("100000/4/17/" + port), dump2.items.toString());
                    // rpcbind 3 and 4
                    for (int v = 3; v <= 4; v++) {
                        assertEquals("127.0.0.1.8.1", call(t, v, Rpcbind.GETPORT_GETADDR,
                                new rpcb(NFS, 3, "tcp", "", ""), new XdrString()).stringValue(), "GETADDR v" + v);
                        assertEquals("", call(t, v, Rpcbind.GETPORT_GETADDR,
                                new rpcb(NFS, 3, "tcp6", "", ""), new XdrString()).stringValue(), "no tcp6 on 127.0.0.1");
                        ListOf dump = call(t, v, Rpcbind.DUMP, XdrVoid.XDR_VOID, new ListOf(x -> x.xdrDecodeInt() + "/"
                                + x.xdrDecodeInt() + "/" + x.xdrDecodeString() + "/" + x.xdrDecodeString() + "/" + x.xdrDecodeString()));
                        assertTrue(dump.items.contains("100005/3/tcp/127.0.0.1.8.1/superuser"), dump.items.toString());
                    }
                    assertEquals("127.0.0.1.8.1", call(t, 4, Rpcbind.GETVERSADDR, new rpcb(MOUNT, 3, "tcp", "", ""),
                            new XdrString()).stringValue());
                    assertEquals("", call(t, 4, Rpcbind.GETVERSADDR, new rpcb(MOUNT, 1, "tcp", "", ""),
                            new XdrString()).stringValue(), "GETVERSADDR wants the version");
                    // a local program registers itself (SET/UNSET from loopback), v2 and v4
                    assertTrue(call(t, 2, Rpcbind.SET, new mapping(400002, 1, 17, 4000), new XdrBoolean()).booleanValue());
                    assertFalse(call(t, 2, Rpcbind.SET, new mapping(400002, 1, 17, 4001), new XdrBoolean()).booleanValue(),
                            "SET over an existing registration fails");
                    assertEquals(4000, call(t, 2, Rpcbind.GETPORT_GETADDR, new mapping(400002, 1, 17, 0), new XdrInt()).intValue());
                    assertEquals("127.0.0.1.15.160", call(t, 3, Rpcbind.GETPORT_GETADDR,
                            new rpcb(400002, 1, "udp", "", ""), new XdrString()).stringValue(), "a wildcard answers with the address asked");
                    assertTrue(call(t, 2, Rpcbind.UNSET, new mapping(400002, 1, 17, 0), new XdrBoolean()).booleanValue());
                    assertTrue(call(t, 4, Rpcbind.SET, new rpcb(400003, 2, "tcp6", "::1.1.2", "me"), new XdrBoolean()).booleanValue());
                    assertEquals("::1.1.2", call(t, 4, Rpcbind.GETPORT_GETADDR, new rpcb(400003, 2, "tcp6", "", ""),
                            new XdrString()).stringValue());
                    assertTrue(call(t, 4, Rpcbind.UNSET, new rpcb(400003, 2, "", "", ""), new XdrBoolean()).booleanValue());
                    assertEquals("", call(t, 4, Rpcbind.GETPORT_GETADDR, new rpcb(400003, 2, "tcp6", "", ""),
                            new XdrString()).stringValue());
                }
            }
            // bound to 127.0.0.1 only: 127.0.0.2 (loopback too) has nothing on that port
            Socket s = new Socket();
            assertThrows(ConnectException.class, () -> s.connect(new InetSocketAddress("127.0.0.2", port), 5000));
            s.close();
        }
    }

    @Test
    void aTakenPortMeansRegisteringWithThePortmapperThere() throws Exception {
        List<Rpcbind.Entry> first = Portmap.entries(List.of(new OncRpcProgram(NFS, 3)), "tcp",
                new InetSocketAddress("127.0.0.1", 2049));
        try (Portmap pm = Portmap.start(new InetSocketAddress("127.0.0.1", 0), first)) {
            List<Rpcbind.Entry> second = Portmap.entries(List.of(new OncRpcProgram(MOUNT, 1)), "tcp",
                    new InetSocketAddress("127.0.0.1", 3049));
            try (Portmap joined = Portmap.start(pm.address(), second)) {
                assertNull(joined.address(), "not a portmapper of its own");
                assertTrue(pm.table().stream().anyMatch(e -> e.program() == MOUNT && e.uaddr().equals("127.0.0.1.11.233")),
                        pm.table().toString());
            }
            assertTrue(pm.table().stream().noneMatch(e -> e.program() == MOUNT), "unregistered at close: " + pm.table());
            assertTrue(pm.table().stream().anyMatch(e -> e.program() == NFS));
        }
    }

    @Test
    void aWildcardRegistrationIsAnsweredWithTheAddressAsked() throws Exception {
        List<Rpcbind.Entry> dual = Portmap.entries(List.of(new OncRpcProgram(NFS, 3)), "tcp", new InetSocketAddress("::", 2049));
        assertEquals(List.of("tcp6", "tcp"), dual.stream().map(Rpcbind.Entry::netid).toList(), "a dual-stack socket");
        assertEquals("0:0:0:0:0:0:0:1.8.1", Rpcbind.merged(dual.get(0).uaddr(), new InetSocketAddress("::1", 111)));
        assertEquals("10.1.2.3.8.1", Rpcbind.merged(dual.get(1).uaddr(), new InetSocketAddress("10.1.2.3", 111)));
        assertEquals("10.9.9.9.8.1", Rpcbind.merged("10.9.9.9.8.1", new InetSocketAddress("10.1.2.3", 111)));
        try (Portmap pm = Portmap.start(new InetSocketAddress("127.0.0.1", 0), dual);
             OncRpcClient c = new OncRpcClient(InetAddress.getByName("127.0.0.1"), IpProtocolType.TCP, pm.address().getPort())) {
            RpcTransport t = c.connect(10, TimeUnit.SECONDS);
            assertEquals("127.0.0.1.8.1", call(t, 4, Rpcbind.GETPORT_GETADDR, new rpcb(NFS, 3, "tcp", "", ""),
                    new XdrString()).stringValue());
        }
    }
}
