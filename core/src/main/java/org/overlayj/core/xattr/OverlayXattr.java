package org.overlayj.core.xattr;

import java.util.ArrayList;
import java.util.List;

/**
 * The overlay's private xattr names under one prefix ({@code trusted.overlay.} or, with userxattr,
 * {@code user.overlay.}), and the escaping rules of format doc §2.3 that let a client of the overlay see and set
 * names under that prefix (they are stored one {@code overlay.} level deeper).
 */
public final class OverlayXattr {
    public static final String OPAQUE = "opaque", REDIRECT = "redirect", ORIGIN = "origin", IMPURE = "impure",
            NLINK = "nlink", UPPER = "upper", UUID = "uuid", METACOPY = "metacopy", PROTATTR = "protattr",
            WHITEOUT = "whiteout";

    private final String prefix;
    private final boolean trusted;

    public OverlayXattr(String prefix) {
        this.prefix = prefix;
        this.trusted = prefix.startsWith("trusted.");
    }

    public String prefix() { return prefix; }

    /** The real name of one of our markers, e.g. {@code trusted.overlay.origin}. */
    public String name(String marker) { return prefix + marker; }

    /** True for a real name that is ours (private) and so never shown to or copied for clients. */
    public boolean isPrivate(String realName) {
        return realName.startsWith(prefix) && !isEscaped(realName);
    }

    /**
     * A real name that carries an escaped client name ({@code NS overlay.X}). For trusted the kernel only checks the
     * prefix {@code trusted.overlay.overlay}, without the final dot; we keep that quirk.
     */
    public boolean isEscaped(String realName) {
        return trusted ? realName.startsWith(prefix + "overlay") : realName.startsWith(prefix + "overlay.");
    }

    /** The real name a client's name is stored under: {@code NS X} becomes {@code NS overlay.X}. */
    public String toReal(String clientName) {
        if (clientName.startsWith(prefix)) return prefix + "overlay." + clientName.substring(prefix.length());
        return clientName;
    }

    /** The client's view of a real name, or null when the name is private and hidden. */
    public String toClient(String realName) {
        if (!realName.startsWith(prefix)) return realName;
        if (!isEscaped(realName)) return null;
        String rest = realName.substring(prefix.length() + "overlay".length());
        return rest.startsWith(".") ? prefix + rest.substring(1) : null;
    }

    // --- NS opaque, NS metacopy, NS whiteout, NS impure, NS protattr: the values as the kernel reads them --------
    // (one reading for the engine's lookup and the tools, so fsck cannot call normal what lookup refuses)

    /** {@code NS opaque} makes a directory opaque: exactly the one byte 'y' (format doc §2.2). */
    public static boolean opaqueValue(byte[] v) {
        return v != null && v.length == 1 && v[0] == 'y';
    }

    /** {@code NS opaque} = 'x': a lower directory holding xwhiteouts (ignored in the upper layer). */
    public static boolean xwhiteoutsValue(byte[] v) {
        return v != null && v.length == 1 && v[0] == 'x';
    }

    /** What a {@code NS metacopy} value (null when absent) makes of a regular file. */
    public enum Metacopy {
        /** absent: a full copy */
        NONE,
        /** empty, or the verity structure of 4 bytes or more: a metadata-only copy */
        METACOPY,
        /** 1 to 3 bytes: the kernel's lookup fails with EIO ("metacopy file with bad xattr") */
        BAD
    }

    public static Metacopy metacopyValue(byte[] v) {
        if (v == null) return Metacopy.NONE;
        return v.length > 0 && v.length < 4 ? Metacopy.BAD : Metacopy.METACOPY;
    }

    /**
     * An xwhiteout (format doc §2.2): an empty regular file carrying {@code NS whiteout} ({@code whiteoutValue},
     * null when absent); the xattr on anything else is ignored.
     */
    public static boolean isXwhiteout(boolean regular, long size, byte[] whiteoutValue) {
        return regular && size == 0 && whiteoutValue != null;
    }

    /** {@code NS impure} marks a directory impure only as the one byte 'y'. */
    public static boolean impureValue(byte[] v) {
        return v != null && v.length == 1 && v[0] == 'y';
    }

    /** A {@code NS protattr} value the kernel reads: 1 to 32 of the letters 'a' (append-only), 'i' (immutable). */
    public static boolean validProtattr(byte[] v) {
        if (v == null || v.length == 0 || v.length > 32) return false;
        for (byte b : v) if (b != 'a' && b != 'i') return false;
        return true;
    }

    // --- NS redirect (format doc §7) -------------------------------------------------------------------------------

    /**
     * Whether a {@code NS redirect} value is one the kernel follows (ovl_get_redirect_xattr): an absolute path with
     * no empty component ("/", "//", a trailing "/" are not), or a relative one that is a single name. Anything else
     * makes the lookup fail with EINVAL. The engine's lookup and the tools both ask this.
     */
    public static boolean validRedirect(String r) {
        if (r.isEmpty()) return false;
        if (r.startsWith("/")) return !r.contains("//") && !r.endsWith("/") && r.length() > 1;
        return !r.contains("/");
    }

    // --- NS nlink (format doc §5.5): one reading, shared by the engine, its mount-time check and the tools ---------

    /**
     * A well-formed {@code NS nlink} value: the union link count is {@code diff} plus the link count of the upper
     * inode ({@code lowerRelative} false, "U") or of the lower inode ("L").
     */
    public record Nlink(boolean lowerRelative, int diff) {
        /** The value as the kernel writes it, e.g. {@code U-1}, {@code L+0}. */
        public byte[] bytes() {
            String v = (lowerRelative ? "L" : "U") + (diff < 0 ? "-" : "+") + Math.abs((long) diff);
            return v.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        }

        /** The value that says union {@code union} for an inode whose upper (U) or lower (L) count is {@code base}. */
        public static Nlink of(boolean lowerRelative, int union, int base) {
            return new Nlink(lowerRelative, union - base);
        }
    }

    /**
     * Parses {@code NS nlink} as the kernel does (ovl_get_nlink): at most 12 bytes (a longer value does not fit
     * its buffer), read up to the first NUL; 'U' or 'L', then a signed decimal int with kstrtoint's rules ('+' or
     * '-', at least one digit, no overflow, one trailing newline allowed). Null when absent or malformed.
     */
    public static Nlink parseNlink(byte[] v) {
        if (v == null || v.length > 12) return null;
        int end = 0;
        while (end < v.length && v[end] != 0) end++;
        if (end < 3 || v[0] != 'U' && v[0] != 'L' || v[1] != '+' && v[1] != '-') return null;
        if (v[end - 1] == '\n') end--;
        long n = 0;
        if (end <= 2) return null;
        for (int i = 2; i < end; i++) {
            if (v[i] < '0' || v[i] > '9') return null;
            n = n * 10 + (v[i] - '0');
            if (n > (long) Integer.MAX_VALUE + 1) return null;
        }
        if (v[1] == '-') n = -n;
        if (n > Integer.MAX_VALUE || n < Integer.MIN_VALUE) return null;
        return new Nlink(v[0] == 'L', (int) n);
    }

    /**
     * The union link count the kernel derives for an indexed non-directory (ovl_get_nlink): {@code fallback}
     * unless the lower inode has more than one link and {@code value} is well formed and gives a count above 0.
     * Its mount-time index check calls it with fallback 0 for an entry that is the inode's only link: 0 there
     * makes the entry an orphan — so with a single-link lower inode such an entry is always an orphan.
     */
    public static int unionNlink(byte[] value, int upperNlink, int lowerNlink, int fallback) {
        if (lowerNlink == 1) return fallback;
        Nlink n = parseNlink(value);
        if (n == null) return fallback;
        long union = (long) (n.lowerRelative() ? lowerNlink : upperNlink) + n.diff();
        return union <= 0 || union > Integer.MAX_VALUE ? fallback : (int) union;
    }

    /** The names a client may list, in the order of the real list. */
    public List<String> clientList(List<String> realNames, boolean admin) {
        List<String> out = new ArrayList<>();
        for (String n : realNames) {
            if (!admin && n.startsWith("trusted.")) continue;
            String c = toClient(n);
            if (c != null) out.add(c);
        }
        return out;
    }
}
