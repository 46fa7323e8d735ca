package org.overlayj.nfs;

import org.overlayj.nfs.nlm.FileKey;
import org.overlayj.nfs.nlm.LockFiles;
import org.overlayj.nfs.xdr.nfsstat3;
import org.overlayj.nfs.xdr.nlm4_stats;

import java.net.InetSocketAddress;

/**
 * The NFS handles named in lock calls, resolved as NFS calls resolve them: the export the handle was issued under
 * must list the client (and its secure-port rule holds), and the file must still exist. The lock table key is the
 * export and the file's fileid, which stays the same over copy-up and restarts.
 */
final class LockedFiles implements LockFiles {
    private final ExportedOverlay x;

    LockedFiles(ExportedOverlay x) {
        this.x = x;
    }

    @Override
    public String exportPath(int exportId) {
        return x.exports.byId(exportId).map(e -> e.path()).orElse(null);
    }

    @Override
    public int exportId(String path) {
        for (org.overlayj.nfs.exports.Export e : x.exports.exports()) {
            if (e.path().equals(path)) return x.exports.idOf(e);
        }
        return -1;
    }

    @Override
    public Resolved resolve(byte[] fh, InetSocketAddress client) throws Refused {
        try {
            FileHandles.Decoded d = ExportedOverlay.decode(fh);
            ExportedOverlay.Caller c = x.caller(d.exportId(), client, 65534, 65534, new int[0]);
            ExportedOverlay.Resolved r = x.node(d);
            if (r.attr() == null) throw new Refused(nlm4_stats.NLM4_FAILED, "attributes unreadable");
            return new Resolved(new FileKey(d.exportId(), r.attr().ino()), c.options().readOnly());
        } catch (NfsStatus s) {
            int status = switch (s.stat) {
                case nfsstat3.NFS3ERR_STALE, nfsstat3.NFS3ERR_BADHANDLE -> nlm4_stats.NLM4_STALE_FH;
                default -> nlm4_stats.NLM4_FAILED;
            };
            throw new Refused(status, s.getMessage());
        }
    }
}
