package org.overlayj.nfs.nlm;

import java.net.InetSocketAddress;

/**
 * What the NFS door tells the lock manager about a file handle named in an NLM call: which file it is, and whether
 * the calling client may use it at all (the export's client list and secure-port rule, as for NFS calls).
 */
public interface LockFiles {
    /** The file behind an NFS file handle, for a call from {@code client}. */
    Resolved resolve(byte[] fh, InetSocketAddress client) throws Refused;

    /** The path of export {@code exportId}, kept with saved locks so that they find their export again. */
    String exportPath(int exportId);

    /** The id of the export at {@code path} now, or -1 when there is none. */
    int exportId(String path);

    /** A handle's file, and whether its export is read-only (exclusive locks are then refused with ROFS). */
    record Resolved(FileKey key, boolean readOnly) {}

    /** The handle is not usable: {@code status} is the nlm4_stats to answer (STALE_FH, FAILED, ...). */
    final class Refused extends Exception {
        private final int status;

        public Refused(int status, String why) {
            super(why, null, false, false);
            this.status = status;
        }

        public int status() { return status; }
    }
}
