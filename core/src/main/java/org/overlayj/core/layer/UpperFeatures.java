package org.overlayj.core.layer;

import java.util.HashMap;
import java.util.Map;

import org.overlayj.sys.Linux;

/**
 * What the probes of the kernel's ovl_make_workdir found on an upper filesystem (d_type in readdir, O_TMPFILE,
 * RENAME_WHITEOUT, NS xattrs on the work dir, file handles), remembered by a process that makes many mounts (the
 * resident server), so that a mount on a filesystem another live mount of the same process already probed does not
 * create, rename and remove its probe files again: on ext4 those were the most expensive part of a mount's checks
 * (each one a journalled metadata change), about 0.3 to 1.3 ms of CPU per mount.
 *
 * <p>Only where the answer cannot change: the answers are the filesystem's (its type and its superblock's
 * features), asked through one mount of it, by this process with its unchanging credentials; they are kept only
 * when every probe succeeded (a refusal may be passing, such as ENOSPC, and its warnings must be logged each time: a
 * mount with any missing feature probes again), keyed by the work dir's device, its mount's id and the xattr name
 * prefix, and only while a live mount of this process holds that filesystem through that mount (its in-use locks
 * are open descriptors there): so neither the device number nor the mount id can have gone to another filesystem
 * or mount meanwhile. When the last such mount is gone, the next one probes again. Not kept when a security module
 * that labels each file (SELinux, Smack) may answer per directory. Everything else the kernel checks at mount (the
 * work dir's creation, read-only, the in-use locks, remote filesystems, volatile, uuid, the lower layers) is checked
 * for every mount.
 */
final class UpperFeatures {
    private UpperFeatures() {}

    /** The filesystem as the probes reached it: the work dir's device and mount id, and the NS xattr prefix. */
    record Key(long dev, long mntId, String xattrPrefix) {}

    /** The upper fs file handle answer (FsIdentity.canDecodeFh of the work dir) and the live mounts holding it. */
    private static final class Entry {
        final int upperFh;
        int holders;

        Entry(int upperFh) {
            this.upperFh = upperFh;
        }
    }

    private static final Map<Key, Entry> KNOWN = new HashMap<>();
    /** Per-file security labels can make the answers a directory's: then nothing is kept. */
    private static final boolean LABELLED = exists("/sys/fs/selinux/enforce") || exists("/sys/fs/smackfs");

    private static boolean exists(String path) {
        try {
            return Linux.lstatOrNull(path) != null;
        } catch (org.overlayj.sys.ErrnoException e) {
            return true;                              // unknown: as if labelled (keep nothing)
        }
    }

    /**
     * The file handle answer of a filesystem whose probes all succeeded before, now held by {@code locks} too
     * (released when they are closed); null when it must be probed.
     */
    static synchronized Integer known(Key key, InUse.Locks locks) {
        Entry e = KNOWN.get(key);
        if (e == null) return null;
        hold(key, e, locks);
        return e.upperFh;
    }

    /** After probes that all succeeded: kept while {@code locks} (a mount's) are held. */
    static synchronized void remember(Key key, int upperFh, InUse.Locks locks) {
        if (LABELLED || locks == InUse.Locks.NONE) return;
        Entry e = KNOWN.computeIfAbsent(key, k -> new Entry(upperFh));
        hold(key, e, locks);
    }

    private static void hold(Key key, Entry e, InUse.Locks locks) {
        e.holders++;
        locks.onClose(() -> release(key, e));
    }

    private static synchronized void release(Key key, Entry e) {
        if (--e.holders == 0) KNOWN.remove(key, e);
    }

    /** How many filesystems are remembered now (tests). */
    static synchronized int size() {
        return KNOWN.size();
    }
}
