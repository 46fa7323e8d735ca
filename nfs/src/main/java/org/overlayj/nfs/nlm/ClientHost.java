package org.overlayj.nfs.nlm;

import java.net.InetAddress;

/**
 * A client machine as the lock manager knows it: the caller_name its lock manager sends (the Linux client sends
 * its node name) and the address its calls come from. Two machines that share a node name (containers, clones)
 * are still two hosts; one machine that calls from two addresses is two hosts as well, as in knfsd.
 */
record ClientHost(String name, InetAddress address) {
    @Override public String toString() { return name + "@" + address.getHostAddress(); }
}
