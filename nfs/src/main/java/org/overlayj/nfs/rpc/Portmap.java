package org.overlayj.nfs.rpc;

import org.dcache.oncrpc4j.portmap.GenericPortmapClient;
import org.dcache.oncrpc4j.portmap.OncPortmapClient;
import org.dcache.oncrpc4j.rpc.OncRpcClient;
import org.dcache.oncrpc4j.rpc.OncRpcProgram;
import org.dcache.oncrpc4j.rpc.net.IpProtocolType;
import org.dcache.oncrpc4j.rpc.net.InetSocketAddresses;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Collection;

/**
 * Registration of our programs with the local portmapper (rpcbind, or oncrpc4j's embedded one), so clients that
 * name no ports find them: what oncrpc4j's service did for itself when it owned the transport.
 */
public final class Portmap {
    private static final Logger log = LoggerFactory.getLogger(Portmap.class);
    private static final int PORTMAP_PORT = 111;

    private Portmap() {}

    /** Sets "tcp" at {@code at} for every program, replacing what an earlier instance of ours left. */
    public static void publish(Collection<OncRpcProgram> programs, InetSocketAddress at) {
        publish(programs, at, "tcp", true);
    }

    /** Also sets "udp" at {@code at} for these programs (call after {@link #publish(Collection, InetSocketAddress)}). */
    public static void publishUdp(Collection<OncRpcProgram> programs, InetSocketAddress at) {
        publish(programs, at, "udp", false);
    }

    private static void publish(Collection<OncRpcProgram> programs, InetSocketAddress at, String netid, boolean unset) {
        String owner = System.getProperty("user.name");
        withClient(pm -> {
            for (OncRpcProgram p : programs) {
                if (unset) pm.unsetPort(p.getNumber(), p.getVersion(), owner);
                if (!pm.setPort(p.getNumber(), p.getVersion(), netid, InetSocketAddresses.uaddrOf(at), owner))
                    log.warn("the portmapper refused to register program {} version {} ({})", p.getNumber(),
                            p.getVersion(), netid);
            }
        });
    }

    /** Removes our registrations. */
    public static void clear(Collection<OncRpcProgram> programs) {
        String owner = System.getProperty("user.name");
        withClient(pm -> {
            for (OncRpcProgram p : programs) pm.unsetPort(p.getNumber(), p.getVersion(), owner);
        });
    }

    private interface Use {
        void with(OncPortmapClient pm) throws Exception;
    }

    private static void withClient(Use use) {
        try (OncRpcClient client = new OncRpcClient(InetAddress.getLoopbackAddress(), IpProtocolType.UDP, PORTMAP_PORT)) {
            use.with(new GenericPortmapClient(client.connect()));
        } catch (Exception e) {
            log.warn("portmapper registration failed: {}", e.toString());
        }
    }
}
