package org.overlayj.itest;

import java.util.HexFormat;

/**
 * Reads the overlay fh blob (format doc §5.2: version, magic 0xfb, len, flags, type, 16-byte uuid, fid) and
 * prints it with the fid replaced by the object it names in the layer copy, so that blobs written over two copies
 * of the same layers compare equal when they name the same object. Only the ext4 fid (type 1: ino32 LE + gen LE)
 * is decoded; the generation is dropped because it differs between copies by construction.
 */
public final class FhBlob {
    private FhBlob() {}

    public static String normalize(byte[] b, InodeNames names) {
        if (b.length == 0) return "fh{empty}";
        if (b.length < 21) return "fh{short " + HexFormat.of().formatHex(b) + "}";
        int version = b[0] & 0xff, magic = b[1] & 0xff, len = b[2] & 0xff, flags = b[3] & 0xff, type = b[4] & 0xff;
        String uuid = HexFormat.of().formatHex(b, 5, 21);
        if (uuid.chars().allMatch(c -> c == '0')) uuid = "null";
        StringBuilder s = new StringBuilder("fh{v").append(version);
        if (magic != 0xfb) s.append(" magic=").append(Integer.toHexString(magic));
        s.append(" len=").append(len).append(len == b.length ? "" : "/" + b.length)
                .append(" flags=").append(Integer.toHexString(flags)).append(" type=").append(type)
                .append(" uuid=").append(uuid);
        int fidLen = Math.min(len, b.length) - 21;
        if (type == 1 && fidLen == 8) {
            long ino = (b[21] & 0xffL) | (b[22] & 0xffL) << 8 | (b[23] & 0xffL) << 16 | (b[24] & 0xffL) << 24;
            s.append(" obj=").append((flags & 0x04) != 0 ? names.upperName(ino) : names.lowerName(ino));
        } else {
            s.append(" fid=").append(HexFormat.of().formatHex(b, 21, 21 + Math.max(0, fidLen)));
        }
        return s.append('}').toString();
    }

    /** An index entry name: the hex of a blob, or a temp/odd name left as it is. */
    public static String normalizeName(String name, InodeNames names) {
        if (name.startsWith("#")) return "#tmp";
        try {
            return normalize(HexFormat.of().parseHex(name), names);
        } catch (IllegalArgumentException e) {
            return "bad-name:" + name;
        }
    }
}
