package org.overlayj.nfs.nlm;

import java.util.HexFormat;

/**
 * Who holds a lock: the client host, the svid (the Linux client sends the owning process's id) and the owner
 * handle {@code oh} (opaque; Linux sends "pid@nodename"). Locks of one owner never conflict with each other and
 * merge or split as POSIX locks of one process do.
 */
record LockOwner(ClientHost host, int svid, String oh) {
    static LockOwner of(ClientHost host, int svid, byte[] oh) {
        return new LockOwner(host, svid, HexFormat.of().formatHex(oh == null ? new byte[0] : oh));
    }

    byte[] ohBytes() { return HexFormat.of().parseHex(oh); }
}
