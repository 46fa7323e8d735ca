package org.overlayj.nfs.nlm;

/**
 * A byte range of a lock, as POSIX fcntl locks have it: {@code first} to {@code last} inclusive, both unsigned
 * 64-bit (NLM v4 offsets are uint64). A length of 0 means "to the end of the file, however far it grows", kept as
 * {@code last == -1} (2^64-1); so is a range whose end would pass 2^64.
 */
record ByteRange(long first, long last) {
    static final long END = -1L;

    ByteRange {
        if (Long.compareUnsigned(first, last) > 0) throw new IllegalArgumentException("empty range");
    }

    /** The range of an NLM lock's l_offset and l_len. */
    static ByteRange of(long offset, long length) {
        if (length == 0) return new ByteRange(offset, END);
        long last = offset + length - 1;
        // offset + length - 1 wrapped past 2^64: the lock reaches the end of every file
        if (Long.compareUnsigned(last, offset) < 0) return new ByteRange(offset, END);
        return new ByteRange(offset, last);
    }

    long offset() { return first; }

    /** NLM's l_len: 0 for "to the end". */
    long length() { return last == END ? 0 : last - first + 1; }

    boolean overlaps(ByteRange o) {
        return Long.compareUnsigned(first, o.last) <= 0 && Long.compareUnsigned(o.first, last) <= 0;
    }

    /** Overlapping or touching end to end: two such locks of one owner and type are one lock. */
    boolean touches(ByteRange o) {
        if (overlaps(o)) return true;
        return (last != END && last + 1 == o.first) || (o.last != END && o.last + 1 == first);
    }

    ByteRange union(ByteRange o) {
        long f = Long.compareUnsigned(first, o.first) <= 0 ? first : o.first;
        long l = Long.compareUnsigned(last, o.last) >= 0 ? last : o.last;
        return new ByteRange(f, l);
    }

    @Override public String toString() {
        return Long.toUnsignedString(first) + "-" + (last == END ? "EOF" : Long.toUnsignedString(last));
    }
}
