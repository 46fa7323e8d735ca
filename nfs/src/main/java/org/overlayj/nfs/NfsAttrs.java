package org.overlayj.nfs;

import org.overlayj.core.Attr;
import org.overlayj.core.SetAttr;
import org.overlayj.nfs.xdr.fattr3;
import org.overlayj.nfs.xdr.ftype3;
import org.overlayj.nfs.xdr.nfstime3;
import org.overlayj.nfs.xdr.post_op_attr;
import org.overlayj.nfs.xdr.pre_op_attr;
import org.overlayj.nfs.xdr.sattr3;
import org.overlayj.nfs.xdr.specdata3;
import org.overlayj.nfs.xdr.time_how;
import org.overlayj.nfs.xdr.wcc_attr;
import org.overlayj.nfs.xdr.wcc_data;
import org.overlayj.sys.Linux;

/** Engine attributes to and from their NFSv3 forms (RFC 1813 §2.5, §2.6). */
final class NfsAttrs {
    private NfsAttrs() {}

    static final int S_IFMT = 0170000, S_IFSOCK = 0140000, S_IFLNK = 0120000, S_IFREG = 0100000,
            S_IFBLK = 0060000, S_IFDIR = 0040000, S_IFCHR = 0020000, S_IFIFO = 0010000;

    static int ftype(int mode) {
        return switch (mode & S_IFMT) {
            case S_IFDIR -> ftype3.NF3DIR;
            case S_IFBLK -> ftype3.NF3BLK;
            case S_IFCHR -> ftype3.NF3CHR;
            case S_IFLNK -> ftype3.NF3LNK;
            case S_IFSOCK -> ftype3.NF3SOCK;
            case S_IFIFO -> ftype3.NF3FIFO;
            default -> ftype3.NF3REG;
        };
    }

    static nfstime3 time(long sec, int nsec) {
        nfstime3 t = new nfstime3();
        t.seconds = (int) sec;
        t.nseconds = nsec;
        return t;
    }

    static fattr3 fattr(Attr a, long fsid) {
        fattr3 f = new fattr3();
        f.type = ftype(a.mode());
        f.mode = a.mode() & 07777;
        f.nlink = a.nlink();
        f.uid = a.uid();
        f.gid = a.gid();
        f.size = a.size();
        f.used = a.blocks() * 512;
        f.rdev = new specdata3();
        f.rdev.specdata1 = Linux.major(a.rdev());
        f.rdev.specdata2 = Linux.minor(a.rdev());
        f.fsid = fsid;
        f.fileid = a.ino();
        f.atime = time(a.atimeSec(), a.atimeNsec());
        f.mtime = time(a.mtimeSec(), a.mtimeNsec());
        f.ctime = time(a.ctimeSec(), a.ctimeNsec());
        return f;
    }

    static post_op_attr post(Attr a, long fsid) {
        post_op_attr p = new post_op_attr();
        p.attributes_follow = a != null;
        if (a != null) p.attributes = fattr(a, fsid);
        return p;
    }

    static pre_op_attr pre(Attr a) {
        pre_op_attr p = new pre_op_attr();
        p.attributes_follow = a != null;
        if (a != null) {
            p.attributes = new wcc_attr();
            p.attributes.size = a.size();
            p.attributes.mtime = time(a.mtimeSec(), a.mtimeNsec());
            p.attributes.ctime = time(a.ctimeSec(), a.ctimeNsec());
        }
        return p;
    }

    static wcc_data wcc(Attr before, Attr after, long fsid) {
        wcc_data w = new wcc_data();
        w.before = pre(before);
        w.after = post(after, fsid);
        return w;
    }

    /** The sattr3 as an engine SetAttr; null when it changes nothing. {@code withMode} false drops the mode. */
    static SetAttr setAttr(sattr3 s, boolean withMode) {
        if (s == null) return null;
        Integer mode = withMode && s.mode != null && s.mode.set_it ? s.mode.mode & 07777 : null;
        Integer uid = s.uid != null && s.uid.set_it ? s.uid.uid : null;
        Integer gid = s.gid != null && s.gid.set_it ? s.gid.gid : null;
        Long size = s.size != null && s.size.set_it ? s.size.size : null;
        Long aSec = null, aNsec = null, mSec = null, mNsec = null;
        if (s.atime != null && s.atime.set_it == time_how.SET_TO_SERVER_TIME) { aSec = 0L; aNsec = SetAttr.NOW; }
        if (s.atime != null && s.atime.set_it == time_how.SET_TO_CLIENT_TIME) {
            aSec = s.atime.atime.seconds & 0xffffffffL;
            aNsec = (long) s.atime.atime.nseconds;
        }
        if (s.mtime != null && s.mtime.set_it == time_how.SET_TO_SERVER_TIME) { mSec = 0L; mNsec = SetAttr.NOW; }
        if (s.mtime != null && s.mtime.set_it == time_how.SET_TO_CLIENT_TIME) {
            mSec = s.mtime.mtime.seconds & 0xffffffffL;
            mNsec = (long) s.mtime.mtime.nseconds;
        }
        if (mode == null && uid == null && gid == null && size == null && aNsec == null && mNsec == null) return null;
        return new SetAttr(mode, uid, gid, size, aSec, aNsec, mSec, mNsec);
    }

    static int mode(sattr3 s, int dflt) {
        return s != null && s.mode != null && s.mode.set_it ? s.mode.mode & 07777 : dflt;
    }
}
