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

    public boolean isOk() { return errno == 0; }

    @Override public String toString() {
        return errno == 0 ? (data.isEmpty() ? "ok" : "ok " + data) : Errno.name(errno);
    }
}
