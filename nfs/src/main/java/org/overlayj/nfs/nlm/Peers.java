package org.overlayj.nfs.nlm;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;

/**
 * Where a client's lock manager or status monitor listens. In service: the client's portmapper says. Tests give
 * the port of a fake client on loopback instead (the real port 111 is not theirs to use).
 */
@FunctionalInterface
public interface Peers {
    /** The TCP port of {@code prog}/{@code vers} on {@code host}, or 0 when it has none; {@code from} is our side. */
    int tcpPort(InetAddress host, InetAddress from, int prog, int vers) throws IOException;

    /** Asks the portmapper (port 111) on the client host. */
    static Peers portmapper(Duration timeout) {
        return (host, from, prog, vers) -> RpcCaller.getPort(host, from, prog, vers, RpcCaller.IPPROTO_TCP, timeout);
    }
}
