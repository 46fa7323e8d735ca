package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.portmap.GenericPortmapClient;
import org.dcache.oncrpc4j.portmap.OncPortmapClient;
import org.dcache.oncrpc4j.rpc.OncRpcClient;
import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.BindException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The portmapper a server's programs are found through (--portmap): its own {@link Rpcbind} on port 111 of the
 * server's listen address only (TCP and UDP), or, when that port is taken (a system rpcbind, another server's
 * portmapper), registrations with the one there. Closing removes the registrations, or stops ours.
 *
 * <p>A server's programs are registered by {@link #start}: each (program, version) of its map with the transport
 * and address it listens on; adding a program to the server's map registers it too.
 */
public final class Portmap implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Portmap.class);
    private static final String OWNER = "superuser";
    /** Limits for the portmapper's own TCP port: a client asks a question or two and goes. */
    private static final RpcTcpServer.Limits LIMITS = new RpcTcpServer.Limits(256, 32, Duration.ofSeconds(60));

    private final Rpcbind ours;
    private final RpcTcpServer tcp;
    private final RpcUdpServer udp;
    private final List<Rpcbind.Entry> entries;
    /** The other portmapper the entries went to; null when ours runs. */
    private final InetSocketAddress joined;

    private Portmap(Rpcbind ours, RpcTcpServer tcp, RpcUdpServer udp, List<Rpcbind.Entry> entries,
                    InetSocketAddress joined) {
        this.ours = ours;
        this.tcp = tcp;
        this.udp = udp;
        this.entries = entries;
        this.joined = joined;
    }

    /**
     * Registration entries for {@code programs} listening on {@code at} with {@code proto} ("tcp" or "udp"): one
     * netid for the address's family, and the IPv4 one as well for the IPv6 wildcard (a dual-stack socket).
     */
    public static List<Rpcbind.Entry> entries(Collection<OncRpcProgram> programs, String proto, InetSocketAddress at) {
        List<Rpcbind.Entry> out = new ArrayList<>();
        for (OncRpcProgram p : programs) {
            out.add(new Rpcbind.Entry(p.getNumber(), p.getVersion(), Rpcbind.netid(proto, at.getAddress()),
                    Rpcbind.uaddr(at), OWNER));
            if (at.getAddress() instanceof Inet6Address && at.getAddress().isAnyLocalAddress())
                out.add(new Rpcbind.Entry(p.getNumber(), p.getVersion(), proto,
                        Rpcbind.uaddr(new InetSocketAddress("0.0.0.0", at.getPort())), OWNER));
        }
        return out;
    }

    /**
     * Starts a portmapper on port 111 of {@code listen} (TCP and UDP) holding {@code entries}; if the port is
     * taken, registers them with the portmapper there instead.
     */
    public static Portmap start(InetAddress listen, List<Rpcbind.Entry> entries) throws IOException {
        return start(new InetSocketAddress(listen, Rpcbind.PORT), entries);
    }

    /** {@link #start(InetAddress, List)} on another port than 111 (for tests). */
    static Portmap start(InetSocketAddress at, List<Rpcbind.Entry> entries) throws IOException {
        Rpcbind rpcbind = new Rpcbind();
        RpcTcpServer tcp;
        try {
            tcp = RpcTcpServer.start(at, rpcbind.programs(), 64 * 1024, LIMITS, "overlayj-portmap");
        } catch (BindException e) {
            log.info("port {} of {} is taken ({}): registering with the portmapper there", at.getPort(),
                    at.getAddress().getHostAddress(), e.getMessage());
            publish(at, entries);
            return new Portmap(null, null, null, entries, at);
        }
        RpcUdpServer udp;
        try {
            udp = RpcUdpServer.start(tcp.address(), rpcbind.programs(), "overlayj-portmap");
        } catch (IOException | RuntimeException e) {
            tcp.close();
            throw e;
        }
        for (int v = 2; v <= 4; v++) {
            OncRpcProgram self = new OncRpcProgram(Rpcbind.PROGRAM, v);
            for (Rpcbind.Entry e : entries(List.of(self), "tcp", tcp.address())) rpcbind.register(e);
            for (Rpcbind.Entry e : entries(List.of(self), "udp", udp.address())) rpcbind.register(e);
        }
        entries.forEach(rpcbind::register);
        log.info("portmapper (portmap 2, rpcbind 3 and 4) on {} TCP and UDP", tcp.address());
        return new Portmap(rpcbind, tcp, udp, entries, null);
    }

    /** The portmapper's TCP address when it is ours; null when the entries went to another one. */
    public InetSocketAddress address() { return tcp == null ? null : tcp.address(); }

    /** The registrations of our own portmapper (empty when the entries went to another one). */
    public List<Rpcbind.Entry> table() { return ours == null ? List.of() : ours.entries(); }

    /** Stops our portmapper, or removes our registrations from the other one. */
    @Override
    public void close() {
        if (ours != null) {
            udp.close();
            tcp.close();
        } else {
            withClient(joined, pm -> {
                for (Rpcbind.Entry e : entries) pm.unsetPort(e.program(), e.version(), e.owner());
            });
        }
    }

    /** Sets the entries at the portmapper on {@code at}, replacing what an earlier instance of ours left. */
    private static void publish(InetSocketAddress at, List<Rpcbind.Entry> entries) {
        withClient(at, pm -> {
            for (Rpcbind.Entry e : entries) pm.unsetPort(e.program(), e.version(), e.owner());
            for (Rpcbind.Entry e : entries) {
                if (!pm.setPort(e.program(), e.version(), e.netid(), e.uaddr(), e.owner()))
                    log.warn("the portmapper refused to register program {} version {} {}", e.program(), e.version(), e.netid());
            }
        });
    }

    private interface Use {
        void with(OncPortmapClient pm) throws Exception;
    }

    /**
     * A client of the portmapper on port {@code at.getPort()}: by loopback first (a system rpcbind listens on every
     * address and takes registrations from loopback callers only), else at {@code at}'s own address (another
     * portmapper bound to that address alone).
     */
    private static void withClient(InetSocketAddress at, Use use) {
        Exception first = null;
        List<InetAddress> hosts = new ArrayList<>(List.of(InetAddress.getLoopbackAddress()));
        if (!at.getAddress().isAnyLocalAddress() && !at.getAddress().isLoopbackAddress()) hosts.add(at.getAddress());
        for (InetAddress host : hosts) {
            try (OncRpcClient client = new OncRpcClient(host, IpProtocolType.UDP, at.getPort())) {
                use.with(new GenericPortmapClient(client.connect()));
                return;
            } catch (Exception e) {
                if (first == null) first = e;
                log.debug("no portmapper answers on {} port {}: {}", host.getHostAddress(), at.getPort(), e.toString());
            }
        }
        log.warn("portmapper registration failed: {}", first.toString());
    }
}
