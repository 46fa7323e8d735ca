package org.overlayj.nfs;

import org.overlayj.nfs.xdr.nfsstat3;
import org.overlayj.sys.Errno;

/**
 * The engine speaks errno (what the kernel's overlayfs would return); NFSv3 speaks nfsstat3 (RFC 1813 §2.6).
 * Errnos with an NFS3ERR_* of the same meaning map to it; the rest map to the nearest status a client handles
 * sensibly, never to NFS3ERR_SERVERFAULT unless nothing fits.
 */
public final class NfsErrors {
    private NfsErrors() {}

    public static int toNfsStat(int errno) {
        return switch (errno) {
            case 0 -> nfsstat3.NFS3_OK;
            case Errno.EPERM -> nfsstat3.NFS3ERR_PERM;
            case Errno.ENOENT -> nfsstat3.NFS3ERR_NOENT;
            case Errno.EIO -> nfsstat3.NFS3ERR_IO;
            case Errno.ENXIO -> nfsstat3.NFS3ERR_NXIO;
            case Errno.EACCES -> nfsstat3.NFS3ERR_ACCES;
            case Errno.EEXIST -> nfsstat3.NFS3ERR_EXIST;
            case Errno.EXDEV -> nfsstat3.NFS3ERR_XDEV;
            case Errno.ENODEV -> nfsstat3.NFS3ERR_NODEV;
            case Errno.ENOTDIR -> nfsstat3.NFS3ERR_NOTDIR;
            case Errno.EISDIR -> nfsstat3.NFS3ERR_ISDIR;
            case Errno.EINVAL -> nfsstat3.NFS3ERR_INVAL;
            case Errno.EFBIG -> nfsstat3.NFS3ERR_FBIG;
            case Errno.ENOSPC -> nfsstat3.NFS3ERR_NOSPC;
            case Errno.EROFS -> nfsstat3.NFS3ERR_ROFS;
            case Errno.EMLINK -> nfsstat3.NFS3ERR_MLINK;
            case Errno.ENAMETOOLONG -> nfsstat3.NFS3ERR_NAMETOOLONG;
            case Errno.ENOTEMPTY -> nfsstat3.NFS3ERR_NOTEMPTY;
            case Errno.EDQUOT -> nfsstat3.NFS3ERR_DQUOT;
            case Errno.ESTALE -> nfsstat3.NFS3ERR_STALE;
            case Errno.EREMOTE -> nfsstat3.NFS3ERR_REMOTE;
            // Operations the engine (or the layers' filesystem) cannot do: xattrs, mknod types, flags.
            case Errno.EOPNOTSUPP, Errno.ENOSYS -> nfsstat3.NFS3ERR_NOTSUPP;
            // A symlink loop or a too-long answer is an invalid request for NFS, as knfsd reports it.
            case Errno.ELOOP, Errno.ERANGE, Errno.EOVERFLOW, Errno.E2BIG -> nfsstat3.NFS3ERR_INVAL;
            case Errno.ETXTBSY, Errno.EBUSY -> nfsstat3.NFS3ERR_ACCES;
            // Transient shortage: the client retries later (RFC 1813: JUKEBOX = "try again").
            case Errno.EAGAIN, Errno.EINTR, Errno.ENOMEM, Errno.ENFILE, Errno.EMFILE, Errno.ETIMEDOUT ->
                    nfsstat3.NFS3ERR_JUKEBOX;
            case Errno.EBADF -> nfsstat3.NFS3ERR_BADHANDLE;
            case Errno.ENODATA -> nfsstat3.NFS3ERR_NOENT;
            case Errno.ESPIPE -> nfsstat3.NFS3ERR_INVAL;
            default -> nfsstat3.NFS3ERR_IO;
        };
    }

    /** The RFC name of an nfsstat3, for logs and test messages. */
    public static String name(int stat) {
        return switch (stat) {
            case nfsstat3.NFS3_OK -> "NFS3_OK";
            case nfsstat3.NFS3ERR_PERM -> "NFS3ERR_PERM";
            case nfsstat3.NFS3ERR_NOENT -> "NFS3ERR_NOENT";
            case nfsstat3.NFS3ERR_IO -> "NFS3ERR_IO";
            case nfsstat3.NFS3ERR_NXIO -> "NFS3ERR_NXIO";
            case nfsstat3.NFS3ERR_ACCES -> "NFS3ERR_ACCES";
            case nfsstat3.NFS3ERR_EXIST -> "NFS3ERR_EXIST";
            case nfsstat3.NFS3ERR_XDEV -> "NFS3ERR_XDEV";
            case nfsstat3.NFS3ERR_NODEV -> "NFS3ERR_NODEV";
            case nfsstat3.NFS3ERR_NOTDIR -> "NFS3ERR_NOTDIR";
            case nfsstat3.NFS3ERR_ISDIR -> "NFS3ERR_ISDIR";
            case nfsstat3.NFS3ERR_INVAL -> "NFS3ERR_INVAL";
            case nfsstat3.NFS3ERR_FBIG -> "NFS3ERR_FBIG";
            case nfsstat3.NFS3ERR_NOSPC -> "NFS3ERR_NOSPC";
            case nfsstat3.NFS3ERR_ROFS -> "NFS3ERR_ROFS";
            case nfsstat3.NFS3ERR_MLINK -> "NFS3ERR_MLINK";
            case nfsstat3.NFS3ERR_NAMETOOLONG -> "NFS3ERR_NAMETOOLONG";
            case nfsstat3.NFS3ERR_NOTEMPTY -> "NFS3ERR_NOTEMPTY";
            case nfsstat3.NFS3ERR_DQUOT -> "NFS3ERR_DQUOT";
            case nfsstat3.NFS3ERR_STALE -> "NFS3ERR_STALE";
            case nfsstat3.NFS3ERR_REMOTE -> "NFS3ERR_REMOTE";
            case nfsstat3.NFS3ERR_BADHANDLE -> "NFS3ERR_BADHANDLE";
            case nfsstat3.NFS3ERR_NOT_SYNC -> "NFS3ERR_NOT_SYNC";
            case nfsstat3.NFS3ERR_BAD_COOKIE -> "NFS3ERR_BAD_COOKIE";
            case nfsstat3.NFS3ERR_NOTSUPP -> "NFS3ERR_NOTSUPP";
            case nfsstat3.NFS3ERR_TOOSMALL -> "NFS3ERR_TOOSMALL";
            case nfsstat3.NFS3ERR_SERVERFAULT -> "NFS3ERR_SERVERFAULT";
            case nfsstat3.NFS3ERR_BADTYPE -> "NFS3ERR_BADTYPE";
            case nfsstat3.NFS3ERR_JUKEBOX -> "NFS3ERR_JUKEBOX";
            default -> "nfsstat3 " + stat;
        };
    }
}
