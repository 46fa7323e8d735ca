package org.overlayj.core.layer;

import org.overlayj.core.fh.Fh;
import org.overlayj.core.xattr.OverlayXattr;
import org.overlayj.sys.Errno;

/**
 * The kernel's mount-time verdict on one entry of W/index (its index dir cleanup, format doc §5.7), decided from
 * facts the caller gathered. The engine's mount-time clean-up ({@code Index}) acts on it; {@code index verify} and
 * {@code fsck} report it: one rule, so the tools predict exactly what a mount then does.
 */
public final class IndexEntryCheck {
    private IndexEntryCheck() {}

    /** What a read-write index=on mount does with an entry. */
    public enum Verdict {
        KEEP(false, "kept"),
        /** A '#' temporary; the kernel's shared whiteout is one of these after every index=on mount. */
        REMOVE_TEMP(true, "removed (temporary)"),
        REMOVE_STALE(true, "removed (stale)"),
        WHITEOUT_ORPHAN(true, "turned into a whiteout (orphan, nfs_export)"),
        REMOVE_ORPHAN(true, "removed (orphan)"),
        MOUNT_FAILS(false, "the mount fails");

        /** The kernel changes the entry at mount (and so does {@code fsck --repair}). */
        public final boolean repaired;
        public final String text;

        Verdict(boolean repaired, String text) {
            this.repaired = repaired;
            this.text = text;
        }

        public boolean orphan() { return this == WHITEOUT_ORPHAN || this == REMOVE_ORPHAN; }
    }

    /** A verdict, the kernel's reason ("" when kept), and for MOUNT_FAILS the errno of the refusal. */
    public record Outcome(Verdict verdict, String why, int errno) {
        static Outcome keep() { return new Outcome(Verdict.KEEP, "", 0); }
    }

    /** An entry whose name is no fh blob: the mount fails (EINVAL for a malformed one, ENODATA for an unknown). */
    public static Outcome badName(Fh.Problem p, String why) {
        int errno = p == Fh.Problem.INVALID ? Errno.EINVAL : Errno.ENODATA;
        return new Outcome(Verdict.MOUNT_FAILS, "failed to verify index: " + why + " (" + Errno.name(errno) + ")",
                errno);
    }

    /** What the {@code NS upper} xattr of a directory entry names. */
    public enum UpperDir {
        /** no {@code NS upper} xattr */
        NO_XATTR,
        /** it decodes to nothing (the upper directory is gone) */
        GONE,
        /** a non-directory */
        NOT_DIR,
        /**
         * a directory found in no name of the upper layer: a scratch temporary in the work dir (a copy-up cut short
         * before its rename). The mount removes it before this entry or after it (readdir order): then this
         * mount or the next makes the entry an orphan. The engine, deciding while the temporary is there, says
         * {@link #DIR}.
         */
        TEMP,
        /** a directory at its name */
        DIR
    }

    /** A directory entry (only checked under nfs_export). */
    public static Outcome dir(boolean nfsExport, UpperDir upper) {
        if (!nfsExport) return keep("not checked without nfs_export");
        return switch (upper) {
            case NO_XATTR -> new Outcome(Verdict.REMOVE_STALE, "directory entry without 'upper' xattr", 0);
            case GONE -> new Outcome(Verdict.WHITEOUT_ORPHAN, "its upper directory is gone", 0);
            case NOT_DIR -> new Outcome(Verdict.MOUNT_FAILS, "'upper' names a non-directory (EIO)", Errno.EIO);
            case TEMP -> new Outcome(Verdict.WHITEOUT_ORPHAN, "its upper directory is a temporary in the work dir"
                    + " (whited out at this mount or the next, as the kernel reads the index dir)", 0);
            case DIR -> Outcome.keep();
        };
    }

    private static Outcome keep(String why) {
        return new Outcome(Verdict.KEEP, why, 0);
    }

    /**
     * A non-directory entry.
     *
     * @param origin       its {@code NS origin} (null when absent: the mount fails with ENODATA)
     * @param originIsName that origin is the blob the entry is named after (else a stale entry)
     * @param entryNlink   st_nlink of the entry: 1 means no upper alias links it
     * @param lowerNlink   st_nlink of the lower inode the name decodes to, 0 when it no longer decodes; only read
     *                     when {@code entryNlink} is 1 (callers may pass anything otherwise)
     * @param nlink        its {@code NS nlink} (null when absent)
     */
    public static Outcome file(byte[] origin, boolean originIsName, int entryNlink, int lowerNlink, byte[] nlink,
                               boolean nfsExport) {
        if (origin == null) return new Outcome(Verdict.MOUNT_FAILS, "no 'origin' xattr (ENODATA)", Errno.ENODATA);
        if (!originIsName) return new Outcome(Verdict.REMOVE_STALE, "its 'origin' xattr is not its name", 0);
        if (entryNlink != 1) return Outcome.keep();
        if (lowerNlink == 0) {
            return new Outcome(Verdict.REMOVE_STALE, "no upper alias and its lower origin is gone", 0);
        }
        // No upper alias links it: an orphan unless the kernel's union count (fallback 0) is above 0, which needs
        // a lower inode of more than one link — a single-link one is always an orphan, whatever 'nlink' says.
        if (OverlayXattr.unionNlink(nlink, 1, lowerNlink, 0) != 0) return Outcome.keep();
        OverlayXattr.Nlink stored = OverlayXattr.parseNlink(nlink);
        String why = lowerNlink == 1 ? "no upper alias and a single-link lower inode"
                : "no upper alias and union nlink 0 ('nlink' " + (nlink == null ? "absent" : stored == null
                ? "malformed" : "gives " + ((stored.lowerRelative() ? lowerNlink : 1) + stored.diff())) + ")";
        return new Outcome(nfsExport ? Verdict.WHITEOUT_ORPHAN : Verdict.REMOVE_ORPHAN, why, 0);
    }
}
