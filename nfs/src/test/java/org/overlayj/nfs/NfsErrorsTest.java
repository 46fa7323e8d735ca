package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.nfsstat3;
import org.overlayj.sys.Errno;

import static org.junit.jupiter.api.Assertions.assertEquals;

class NfsErrorsTest {
    @Test
    void errnosWithAnNfsTwinMapToIt() {
        int[][] pairs = {
                {Errno.EPERM, nfsstat3.NFS3ERR_PERM}, {Errno.ENOENT, nfsstat3.NFS3ERR_NOENT},
                {Errno.EIO, nfsstat3.NFS3ERR_IO}, {Errno.ENXIO, nfsstat3.NFS3ERR_NXIO},
                {Errno.EACCES, nfsstat3.NFS3ERR_ACCES}, {Errno.EEXIST, nfsstat3.NFS3ERR_EXIST},
                {Errno.EXDEV, nfsstat3.NFS3ERR_XDEV}, {Errno.ENODEV, nfsstat3.NFS3ERR_NODEV},
                {Errno.ENOTDIR, nfsstat3.NFS3ERR_NOTDIR}, {Errno.EISDIR, nfsstat3.NFS3ERR_ISDIR},
                {Errno.EINVAL, nfsstat3.NFS3ERR_INVAL}, {Errno.EFBIG, nfsstat3.NFS3ERR_FBIG},
                {Errno.ENOSPC, nfsstat3.NFS3ERR_NOSPC}, {Errno.EROFS, nfsstat3.NFS3ERR_ROFS},
                {Errno.EMLINK, nfsstat3.NFS3ERR_MLINK}, {Errno.ENAMETOOLONG, nfsstat3.NFS3ERR_NAMETOOLONG},
                {Errno.ENOTEMPTY, nfsstat3.NFS3ERR_NOTEMPTY}, {Errno.EDQUOT, nfsstat3.NFS3ERR_DQUOT},
                {Errno.ESTALE, nfsstat3.NFS3ERR_STALE}, {Errno.EREMOTE, nfsstat3.NFS3ERR_REMOTE},
        };
        for (int[] p : pairs) assertEquals(p[1], NfsErrors.toNfsStat(p[0]), Errno.name(p[0]));
    }

    @Test
    void theRestMapToWhatClientsHandle() {
        assertEquals(nfsstat3.NFS3ERR_NOTSUPP, NfsErrors.toNfsStat(Errno.EOPNOTSUPP));
        assertEquals(nfsstat3.NFS3ERR_NOTSUPP, NfsErrors.toNfsStat(Errno.ENOSYS));
        assertEquals(nfsstat3.NFS3ERR_JUKEBOX, NfsErrors.toNfsStat(Errno.EAGAIN));
        assertEquals(nfsstat3.NFS3ERR_JUKEBOX, NfsErrors.toNfsStat(Errno.ENOMEM));
        assertEquals(nfsstat3.NFS3ERR_INVAL, NfsErrors.toNfsStat(Errno.ELOOP));
        assertEquals(nfsstat3.NFS3ERR_IO, NfsErrors.toNfsStat(9999));
        assertEquals(nfsstat3.NFS3_OK, NfsErrors.toNfsStat(0));
        assertEquals("NFS3ERR_STALE", NfsErrors.name(nfsstat3.NFS3ERR_STALE));
    }

    @Test
    void numericValuesAreTheRfcs() {
        // RFC 1813 §2.6: the values are on the wire, so they are checked against the text, not the generator.
        assertEquals(70, nfsstat3.NFS3ERR_STALE);
        assertEquals(10001, nfsstat3.NFS3ERR_BADHANDLE);
        assertEquals(10003, nfsstat3.NFS3ERR_BAD_COOKIE);
        assertEquals(10008, nfsstat3.NFS3ERR_JUKEBOX);
    }
}
