package org.overlayj.core.fh;

import org.overlayj.sys.FileHandle;

import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The fh blob ({@code struct ovl_fb}, format doc §5.2): how the overlay names a real inode on disk, in
 * {@code NS origin}, {@code NS upper}, index entry names and NFS handles.
 * <pre>
 *   0 version (0) | 1 magic (0xfb) | 2 len (21 + fid) | 3 flags | 4 type | 5..20 fs uuid | 21.. fid
 * </pre>
 * Two blobs are equal only byte for byte over {@code len} bytes.
 */
public record Fh(int flags, int type, byte[] uuid, byte[] fid) {
    public static final int VERSION = 0, MAGIC = 0xfb, HEADER = 21, MAX_FID = 128;
    public static final int FLAG_BIG_ENDIAN = 0x01, FLAG_ANY_ENDIAN = 0x02, FLAG_PATH_UPPER = 0x04;
    public static final int FLAG_ALL = FLAG_BIG_ENDIAN | FLAG_ANY_ENDIAN | FLAG_PATH_UPPER;
    private static final int NATIVE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? FLAG_BIG_ENDIAN : 0;

    public Fh {
        if (uuid.length != 16) throw new IllegalArgumentException("uuid must be 16 bytes");
        if (fid.length > MAX_FID) throw new IllegalArgumentException("fid too long");
        uuid = uuid.clone();
        fid = fid.clone();
    }

    @Override public byte[] uuid() { return uuid.clone(); }
    @Override public byte[] fid() { return fid.clone(); }

    /** The blob of a real inode: handle from name_to_handle_at, the fs uuid per uuid=, upper or lower. */
    public static Fh of(FileHandle h, byte[] uuid, boolean upper) {
        return new Fh(NATIVE_ENDIAN | (upper ? FLAG_PATH_UPPER : 0), h.type(), uuid, h.bytes());
    }

    public boolean upper() { return (flags & FLAG_PATH_UPPER) != 0; }

    public FileHandle handle() { return new FileHandle(type, fid); }

    public int length() { return HEADER + fid.length; }

    public byte[] bytes() {
        byte[] b = new byte[length()];
        b[0] = VERSION;
        b[1] = (byte) MAGIC;
        b[2] = (byte) b.length;
        b[3] = (byte) flags;
        b[4] = (byte) type;
        System.arraycopy(uuid, 0, b, 5, 16);
        System.arraycopy(fid, 0, b, HEADER, fid.length);
        return b;
    }

    /** Lowercase hex of the whole blob: the index entry name (§5.3). */
    public String hex() { return HexFormat.of().formatHex(bytes()); }

    /** The same blob with the upper flag set or cleared. */
    public Fh withUpper(boolean upper) {
        return new Fh(upper ? flags | FLAG_PATH_UPPER : flags & ~FLAG_PATH_UPPER, type, uuid, fid);
    }

    /** Why a blob could not be parsed. {@code INVALID} is malformed; {@code UNKNOWN} is a format we do not use. */
    public enum Problem { INVALID, UNKNOWN }

    /** Result of {@link #parse}: a blob, or the problem. */
    public sealed interface Parsed permits Ok, Bad {}
    public record Ok(Fh fh) implements Parsed {}
    public record Bad(Problem problem, String why) implements Parsed {}

    /**
     * Parses a blob by the kernel's reading rules: fewer than 21 bytes, a len beyond the data, or a wrong magic is
     * invalid; a version above 0, unknown flags or a foreign byte order is "unknown" (ignored in origin xattrs).
     */
    public static Parsed parse(byte[] b) {
        if (b == null || b.length < HEADER) return new Bad(Problem.INVALID, "too short");
        if ((b[1] & 0xff) != MAGIC) return new Bad(Problem.INVALID, "bad magic");
        int len = b[2] & 0xff;
        if (len < HEADER || len > b.length || len > HEADER + MAX_FID) return new Bad(Problem.INVALID, "bad length");
        int flags = b[3] & 0xff;
        if ((b[0] & 0xff) > VERSION) return new Bad(Problem.UNKNOWN, "unknown version");
        if ((flags & ~FLAG_ALL) != 0) return new Bad(Problem.UNKNOWN, "unknown flags");
        if ((flags & FLAG_ANY_ENDIAN) == 0 && (flags & FLAG_BIG_ENDIAN) != NATIVE_ENDIAN)
            return new Bad(Problem.UNKNOWN, "foreign byte order");
        return new Ok(new Fh(flags, b[4] & 0xff, Arrays.copyOfRange(b, 5, 21), Arrays.copyOfRange(b, HEADER, len)));
    }

    /** Parses the lowercase/uppercase hex name of an index entry. */
    public static Parsed parseHex(String name) {
        if (name.length() < 2 * HEADER || (name.length() & 1) != 0) return new Bad(Problem.INVALID, "bad name length");
        try {
            return parse(HexFormat.of().parseHex(name));
        } catch (IllegalArgumentException e) {
            return new Bad(Problem.INVALID, "not hex");
        }
    }

    @Override public boolean equals(Object o) {
        return o instanceof Fh f && Arrays.equals(f.bytes(), bytes());
    }

    @Override public int hashCode() { return Arrays.hashCode(bytes()); }

    @Override public String toString() { return "Fh[" + hex() + "]"; }
}
