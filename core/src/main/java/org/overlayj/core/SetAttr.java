package org.overlayj.core;

/**
 * A setattr request: null fields stay as they are. A time with {@link #NOW} as nanoseconds means "the current
 * time" (utimensat's UTIME_NOW).
 */
public record SetAttr(Integer mode, Integer uid, Integer gid, Long size,
                      Long atimeSec, Long atimeNsec, Long mtimeSec, Long mtimeNsec) {
    public static final long NOW = (1L << 30) - 1;

    public static SetAttr chmod(int mode) { return new SetAttr(mode, null, null, null, null, null, null, null); }
    public static SetAttr chown(Integer uid, Integer gid) { return new SetAttr(null, uid, gid, null, null, null, null, null); }
    public static SetAttr truncate(long size) { return new SetAttr(null, null, null, size, null, null, null, null); }
    public static SetAttr times(Long aSec, Long aNsec, Long mSec, Long mNsec) {
        return new SetAttr(null, null, null, null, aSec, aNsec, mSec, mNsec);
    }

    public boolean hasTimes() { return atimeNsec != null || mtimeNsec != null; }

    /** Changes nothing but the ctime: chown(f, -1, -1), which a FUSE or NFS client sends as an empty setattr. */
    public boolean isEmpty() {
        return mode == null && uid == null && gid == null && size == null && !hasTimes();
    }
}
