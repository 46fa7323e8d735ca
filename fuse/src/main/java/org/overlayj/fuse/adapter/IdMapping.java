package org.overlayj.fuse.adapter;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

import java.util.ArrayList;
import java.util.List;

/**
 * How a mount shows owners, as fuse-overlayfs's {@code uidmapping=}/{@code gidmapping=}/{@code squash_to_*} options
 * make it (containers/storage passes them for {@code --uidmap}, {@code --userns=auto} and CRI-O): a mount-level
 * transform of ids at the door, not an overlay rule. The layers keep the ids as written (usually the container's own:
 * 0 for its root); the mount shows them shifted, and ids coming in (the caller's, a chown's) are shifted back.
 *
 * <p>A mapping is a list of {@code DISK:SHOWN:COUNT} triples ({@code uidmapping=0:100000:65536:65536:300000:10}):
 * an id on disk in [DISK, DISK+COUNT) shows as SHOWN + (id - DISK). An id no triple covers shows as the overflow
 * id (65534); with no triples every id shows as it is. Squashing applies to what is shown only: every uid shows as
 * {@code squash_to_uid}, every gid as {@code squash_to_gid}, and {@code squash_to_root} shows both as 0 (where the
 * former are not given).
 *
 * @param squashed an id every id shows as, or -1
 */
public record IdMapping(List<Range> ranges, int squashed) {
    /** fuse-overlayfs reads /proc/sys/kernel/overflow{u,g}id; both are 65534 unless changed. */
    public static final int OVERFLOW = 65534;
    public static final IdMapping IDENTITY = new IdMapping(List.of(), -1);

    /** One triple: ids on disk in [disk, disk + count) show as [shown, shown + count). */
    public record Range(long disk, long shown, long count) {}

    public IdMapping {
        ranges = List.copyOf(ranges);
    }

    public boolean isIdentity() {
        return ranges.isEmpty() && squashed < 0;
    }

    /** Whether shown ids are squashed: a chown through the mount then succeeds whatever the layers say. */
    public boolean squashes() {
        return squashed >= 0;
    }

    /** The id shown for an id on disk. */
    public int shown(int disk) {
        if (squashed >= 0) return squashed;
        if (ranges.isEmpty()) return disk;
        long id = Integer.toUnsignedLong(disk);
        for (Range r : ranges) {
            if (id >= r.disk() && id < r.disk() + r.count()) return (int) (r.shown() + (id - r.disk()));
        }
        return OVERFLOW;
    }

    /** The id on disk for an id a caller gives (its own, or a chown's); not squashed, as in fuse-overlayfs. */
    public int onDisk(int shown) {
        if (ranges.isEmpty()) return shown;
        long id = Integer.toUnsignedLong(shown);
        for (Range r : ranges) {
            if (id >= r.shown() && id < r.shown() + r.count()) return (int) (r.disk() + (id - r.shown()));
        }
        return OVERFLOW;
    }

    /** Whether a caller id is covered by a triple (an uncovered one becomes the overflow id on disk). */
    public boolean maps(int shown) {
        if (ranges.isEmpty()) return true;
        long id = Integer.toUnsignedLong(shown);
        for (Range r : ranges) if (id >= r.shown() && id < r.shown() + r.count()) return true;
        return false;
    }

    /**
     * Parses a {@code uidmapping=}/{@code gidmapping=} value: any number of colon-separated triples of decimal
     * numbers, each range within 32 bits; empty fields are skipped.
     */
    public static List<Range> parse(String option, String value) throws ErrnoException {
        // empty fields are skipped, as fuse-overlayfs's strtok reads them: containers/storage writes a leading
        // colon (uidmapping=:0:100000:65536)
        String[] f = java.util.Arrays.stream(value.split(":")).filter(x -> !x.isEmpty()).toArray(String[]::new);
        if (f.length == 0 || f.length % 3 != 0) throw bad(option, value);
        List<Range> out = new ArrayList<>();
        for (int i = 0; i < f.length; i += 3) {
            long a = number(option, value, f[i]), b = number(option, value, f[i + 1]), c = number(option, value, f[i + 2]);
            if (c == 0 || a + c > 1L << 32 || b + c > 1L << 32) throw bad(option, value);
            out.add(new Range(a, b, c));
        }
        return out;
    }

    /** A squash_to_uid= / squash_to_gid= value. */
    public static int parseId(String option, String value) throws ErrnoException {
        long v = number(option, value, value);
        if (v > 0xffff_fffeL) throw bad(option, value);
        return (int) v;
    }

    private static long number(String option, String value, String s) throws ErrnoException {
        if (s.isEmpty() || s.length() > 10 || !s.chars().allMatch(Character::isDigit)) throw bad(option, value);
        return Long.parseLong(s);
    }

    private static ErrnoException bad(String option, String value) {
        return new ErrnoException(Errno.EINVAL, "invalid mapping specified: " + option + "=" + value);
    }
}
