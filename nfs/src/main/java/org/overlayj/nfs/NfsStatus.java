package org.overlayj.nfs;

import org.overlayj.sys.ErrnoException;

/** A procedure ends with this nfsstat3: how the door's own checks (handles, exports, names) fail a call. */
final class NfsStatus extends Exception {
    final int stat;

    NfsStatus(int stat, String why) {
        super(NfsErrors.name(stat) + ": " + why, null, false, false);
        this.stat = stat;
    }

    static int of(Exception e) {
        if (e instanceof NfsStatus s) return s.stat;
        if (e instanceof ErrnoException x) return NfsErrors.toNfsStat(x.errno());
        return org.overlayj.nfs.xdr.nfsstat3.NFS3ERR_SERVERFAULT;
    }
}
