package org.overlayj.core;

/**
 * The names the index dir ({@code W/index}) may hold while this overlay is mounted: every name the mount-time check
 * listed ({@link Index#verifyAtMount}), and every name the engine made a path to since ({@link Index#path}, the one
 * place an entry's name is made: each entry is made at such a path, and the name is noted before the entry
 * exists). Nothing else writes the index dir of a mounted overlay (the upper and work dirs are this mount's alone,
 * as the kernel's are). A lower object whose blob is not among them has no index entry, and its lookup needs no
 * statx of {@code W/index/<hex>}: the first listing of a 20,000-entry lower directory over NFS made 20,000 of them,
 * a quarter of the server's CPU, each a negative lookup in the index dir (the kernel overlay makes the same one,
 * ovl_lookup_index, inside its own lookup).
 *
 * <p>Kept as 64-bit hashes of the blobs (open addressing, 16 bytes an entry at most): a hash that is present only
 * says "look", so a collision costs the statx it would have cost anyway, never a wrong answer. Names are never
 * taken out (an entry removed leaves its hash: a look too many). Before the listing (an offline inspection, or
 * until the mount-time check ran) every name may be there.
 */
final class IndexNames {
    /** Open-addressing table of hashes (0 = empty; a hash of 0 is stored as 1); null: not listed, anything may be. */
    private long[] table;
    private int size;

    /** Starts from the names a listing of the index dir gave (hex of the blobs; anything else is no entry's name). */
    synchronized void listed(Iterable<String> names) {
        table = new long[64];
        size = 0;
        for (String n : names) {
            byte[] blob = parseHex(n);
            if (blob != null) add(hash(blob));
        }
    }

    /** A name an entry may be made at from now on. */
    synchronized void note(byte[] blob) {
        if (table != null) add(hash(blob));
    }

    /** Whether the index dir may hold the entry of {@code blob}: false only when it surely does not. */
    synchronized boolean mayHave(byte[] blob) {
        if (table == null) return true;
        long h = hash(blob);
        int mask = table.length - 1;
        for (int i = (int) h & mask; ; i = (i + 1) & mask) {
            long v = table[i];
            if (v == 0) return false;
            if (v == h) return true;
        }
    }

    private void add(long h) {
        if ((size + 1) * 2 > table.length) grow();
        int mask = table.length - 1;
        for (int i = (int) h & mask; ; i = (i + 1) & mask) {
            long v = table[i];
            if (v == h) return;
            if (v == 0) {
                table[i] = h;
                size++;
                return;
            }
        }
    }

    private void grow() {
        long[] old = table;
        table = new long[old.length * 2];
        size = 0;
        for (long v : old) if (v != 0) add(v);
    }

    /** FNV-1a over the bytes, then a 64-bit finalizer (the low bits index the table); never 0. */
    static long hash(byte[] b) {
        long h = 0xcbf29ce484222325L;
        for (byte x : b) {
            h ^= x & 0xff;
            h *= 0x100000001b3L;
        }
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h == 0 ? 1 : h;
    }

    /**
     * The blob an entry name spells, or null for a name no entry path is made with (odd length, not hex: the
     * scratch dir's '#' temporaries). Either case of hex is taken: an upper-case name only adds a look.
     */
    static byte[] parseHex(String name) {
        int n = name.length();
        if (n == 0 || (n & 1) != 0) return null;
        byte[] b = new byte[n / 2];
        for (int i = 0; i < n; i += 2) {
            int hi = Character.digit(name.charAt(i), 16), lo = Character.digit(name.charAt(i + 1), 16);
            if (hi < 0 || lo < 0) return null;
            b[i / 2] = (byte) (hi << 4 | lo);
        }
        return b;
    }
}
