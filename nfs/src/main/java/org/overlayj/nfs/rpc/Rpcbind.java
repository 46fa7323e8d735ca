package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.portmap.mapping;
import org.dcache.oncrpc4j.portmap.rpcb;
import org.dcache.oncrpc4j.rpc.OncRpcException;
import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.xdr.XdrAble;
import org.dcache.oncrpc4j.xdr.XdrBoolean;
import org.dcache.oncrpc4j.xdr.XdrDecodingStream;
import org.dcache.oncrpc4j.xdr.XdrEncodingStream;
import org.dcache.oncrpc4j.xdr.XdrInt;
import org.dcache.oncrpc4j.xdr.XdrString;
import org.dcache.oncrpc4j.xdr.XdrVoid;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The portmapper program (100000): portmap version 2 (RFC 1833 §3: SET, UNSET, GETPORT, DUMP) and rpcbind versions
 * 3 and 4 (RFC 1833 §2: SET, UNSET, GETADDR, DUMP, GETTIME, and version 4's GETVERSADDR), over one table of
 * registrations. Version 2 sees the "tcp" and "udp" entries; clients over IPv6 (libnfs, the kernel's rpcbind
 * client) ask GETADDR of version 4 or 3 for "tcp6". A registration on a wildcard address answers with the address
 * the question came to, so a client gets an address it can reach. Only local callers (from loopback, or from the
 * address they call) may SET or UNSET, as with rpcbind; the server's own programs register directly
 * ({@link #register}).
 */
public final class Rpcbind implements RpcDispatchable {
    public static final int PROGRAM = 100000;
    public static final int PORT = 111;
    static final int NULL = 0, SET = 1, UNSET = 2, GETPORT_GETADDR = 3, DUMP = 4, CALLIT = 5, GETTIME = 6,
            GETVERSADDR = 9;
    private static final int IPPROTO_TCP = 6, IPPROTO_UDP = 17;

    /** One registration: program, version, transport ("tcp", "udp", "tcp6", "udp6"), universal address, owner. */
    public record Entry(int program, int version, String netid, String uaddr, String owner) {}

    private final List<Entry> table = new ArrayList<>();

    /** Every version of this program, for a server's map of programs. */
    public Map<OncRpcProgram, RpcDispatchable> programs() {
        return Map.of(new OncRpcProgram(PROGRAM, 2), this, new OncRpcProgram(PROGRAM, 3), this,
                new OncRpcProgram(PROGRAM, 4), this);
    }

    /** Registers (replacing an entry for the same program, version and transport). */
    public synchronized void register(Entry e) {
        table.removeIf(x -> same(x, e.program(), e.version(), e.netid()));
        table.add(e);
    }

    /** Removes the entries of {@code program} and {@code version} on every transport. */
    public synchronized void unregister(int program, int version) {
        table.removeIf(x -> x.program() == program && x.version() == version);
    }

    public synchronized List<Entry> entries() { return List.copyOf(table); }

    private static boolean same(Entry x, int prog, int vers, String netid) {
        return x.program() == prog && x.version() == vers && x.netid().equals(netid);
    }

    /** "tcp" or "udp" for an IPv4 address, "tcp6" or "udp6" for IPv6. */
    public static String netid(String proto, InetAddress a) { return a instanceof Inet6Address ? proto + "6" : proto; }

    /** RFC 1833's universal address: the address's text, then the port's two bytes in decimal. */
    public static String uaddr(InetSocketAddress a) {
        String host = a.getAddress().getHostAddress();
        int pct = host.indexOf('%');                          // no scope id in a universal address
        if (pct >= 0) host = host.substring(0, pct);
        return host + "." + (a.getPort() >> 8) + "." + (a.getPort() & 0xff);
    }

    /** The port of a universal address; -1 if it has none. */
    static int port(String uaddr) {
        int last = uaddr.lastIndexOf('.'), prev = last < 0 ? -1 : uaddr.lastIndexOf('.', last - 1);
        if (prev < 0) return -1;
        try {
            return Integer.parseInt(uaddr.substring(prev + 1, last)) << 8 | Integer.parseInt(uaddr.substring(last + 1));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** A wildcard host in {@code uaddr} replaced by the address the question came to. */
    static String merged(String uaddr, InetSocketAddress local) {
        int port = port(uaddr);
        if (port < 0) return uaddr;
        String host = uaddr.substring(0, uaddr.lastIndexOf('.', uaddr.lastIndexOf('.') - 1));
        try {
            if (!InetAddress.ofLiteral(host).isAnyLocalAddress()) return uaddr;
        } catch (IllegalArgumentException e) {
            return uaddr;                                     // not an address we can read: as registered
        }
        return uaddr(new InetSocketAddress(local.getAddress(), port));
    }

    @Override
    public void dispatchOncRpcCall(RpcCall call) throws OncRpcException, IOException {
        int vers = call.getProgramVersion(), proc = call.getProcedure();
        boolean v2 = vers == 2;
        switch (proc) {
            case NULL -> call.reply(XdrVoid.XDR_VOID);
            case SET, UNSET -> {
                Entry e = v2 ? fromMapping(args(call, new mapping())) : fromRpcb(args(call, new rpcb()));
                InetAddress from = call.getTransport().getRemoteSocketAddress().getAddress();
                boolean local = from.isLoopbackAddress() || from.equals(call.getTransport().getLocalSocketAddress().getAddress());
                call.reply(local && (proc == SET ? set(e) : unset(e, v2)) ? XdrBoolean.True : XdrBoolean.False);
            }
            case GETPORT_GETADDR -> {
                if (v2) {
                    mapping m = args(call, new mapping());
                    String netid = m.getProt() == IPPROTO_TCP ? "tcp" : m.getProt() == IPPROTO_UDP ? "udp" : null;
                    int port = netid == null ? 0 : find(m.getProg(), m.getVers(), netid, false).map(x -> port(x.uaddr())).orElse(0);
                    call.reply(new XdrInt(Math.max(port, 0)));
                } else {
                    rpcb r = args(call, new rpcb());
                    call.reply(new XdrString(addressFor(call, r, false)));
                }
            }
            case DUMP -> call.reply(v2 ? dumpV2() : dumpV3());
            case GETTIME -> {
                if (v2) call.failProcedureUnavailable();
                else call.reply(new XdrInt((int) (System.currentTimeMillis() / 1000)));
            }
            case GETVERSADDR -> {
                if (vers != 4) call.failProcedureUnavailable();
                else call.reply(new XdrString(addressFor(call, args(call, new rpcb()), true)));
            }
            // CALLIT/BCAST, INDIRECT, address conversions, GETADDRLIST, GETSTAT: not offered
            default -> call.failProcedureUnavailable();
        }
    }

    private static <T extends XdrAble> T args(RpcCall call, T args) throws IOException {
        call.retrieveCall(args);
        return args;
    }

    private static Entry fromMapping(mapping m) {
        String netid = m.getProt() == IPPROTO_TCP ? "tcp" : m.getProt() == IPPROTO_UDP ? "udp" : "?";
        return new Entry(m.getProg(), m.getVers(), netid, "0.0.0.0." + (m.getPort() >> 8 & 0xff) + "." + (m.getPort() & 0xff), "");
    }

    private static Entry fromRpcb(rpcb r) {
        return new Entry(r.getProg(), r.getVers(), String.valueOf(r.getNetid()), String.valueOf(r.getAddr()),
                String.valueOf(r.getOwner()));
    }

    /** RFC 1833: SET fails if the program, version and transport are registered already. */
    private synchronized boolean set(Entry e) {
        if (e.netid().equals("?")) return false;
        if (table.stream().anyMatch(x -> same(x, e.program(), e.version(), e.netid()))) return false;
        table.add(e);
        return true;
    }

    /** UNSET of version 2 names a transport it ignores; of versions 3 and 4 a netid, or "" for all. */
    private synchronized boolean unset(Entry e, boolean v2) {
        return table.removeIf(x -> x.program() == e.program() && x.version() == e.version()
                && (v2 || e.netid().isEmpty() || x.netid().equals(e.netid())));
    }

    /** Exactly this version, else (unless {@code exact}) any version of the program on that transport. */
    private synchronized Optional<Entry> find(int prog, int vers, String netid, boolean exact) {
        Optional<Entry> hit = table.stream().filter(x -> same(x, prog, vers, netid)).findFirst();
        if (hit.isPresent() || exact) return hit;
        return table.stream().filter(x -> x.program() == prog && x.netid().equals(netid)).findFirst();
    }

    /** GETADDR's answer: the merged universal address, or "" when there is none. */
    private String addressFor(RpcCall call, rpcb r, boolean exact) {
        String netid = r.getNetid();
        if (netid == null || netid.isEmpty()) {
            // no transport named: the one the question came by
            InetSocketAddress local = call.getTransport().getLocalSocketAddress();
            netid = netid(call.getTransport() instanceof RpcConnection ? "tcp" : "udp", local.getAddress());
        }
        return find(r.getProg(), r.getVers(), netid, exact)
                .map(x -> merged(x.uaddr(), call.getTransport().getLocalSocketAddress())).orElse("");
    }

    /** pmaplist: the "tcp" and "udp" entries as (program, version, protocol, port). */
    private XdrAble dumpV2() {
        List<Entry> all = entries();
        return new Encoder() {
            @Override public void xdrEncode(XdrEncodingStream x) throws OncRpcException, IOException {
                for (Entry e : all) {
                    int prot = e.netid().equals("tcp") ? IPPROTO_TCP : e.netid().equals("udp") ? IPPROTO_UDP : 0;
                    if (prot == 0) continue;
                    x.xdrEncodeBoolean(true);
                    x.xdrEncodeInt(e.program());
                    x.xdrEncodeInt(e.version());
                    x.xdrEncodeInt(prot);
                    x.xdrEncodeInt(Math.max(port(e.uaddr()), 0));
                }
                x.xdrEncodeBoolean(false);
            }
        };
    }

    /** rpcblist: every entry. */
    private XdrAble dumpV3() {
        List<Entry> all = entries();
        return new Encoder() {
            @Override public void xdrEncode(XdrEncodingStream x) throws OncRpcException, IOException {
                for (Entry e : all) {
                    x.xdrEncodeBoolean(true);
                    x.xdrEncodeInt(e.program());
                    x.xdrEncodeInt(e.version());
                    x.xdrEncodeString(e.netid());
                    x.xdrEncodeString(e.uaddr());
                    x.xdrEncodeString(e.owner());
                }
                x.xdrEncodeBoolean(false);
            }
        };
    }

    /** A reply that is only encoded. */
    private abstract static class Encoder implements XdrAble {
        @Override public void xdrDecode(XdrDecodingStream x) {
            throw new UnsupportedOperationException("a reply");
        }
    }
}
