package org.overlayj.itest;

import org.overlayj.sys.Errno;

/**
 * What one op gave: 0 or an errno, plus what it read (a read's length and hash, a listing's names) so reads are
 * compared too.
 */
public record Outcome(int errno, String data) {
    public static final Outcome OK = new Outcome(0, "");

    public static Outcome ok(String data) { return new Outcome(0, data); }

    public static Outcome error(int errno) { return new Outcome(errno, ""); }

    /** An xattr value read: as text when it is printable, else in hex (an ACL). */
    public static Outcome value(byte[] v) {
        boolean text = true;
        for (byte b : v) text &= b >= 0x20 && b < 0x7f;
        if (text) return ok("\"" + new String(v, java.nio.charset.StandardCharsets.US_ASCII) + "\"");
        StringBuilder s = new StringBuilder("0x");
        for (byte b : v) s.append(String.format("%02x", b & 0xff));
        return ok(s.toString());
    }

    public boolean isOk() { return errno == 0; }

    @Override public String toString() {
        return errno == 0 ? (data.isEmpty() ? "ok" : "ok " + data) : Errno.name(errno);
    }
}
