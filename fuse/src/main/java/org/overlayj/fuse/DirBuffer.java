package org.overlayj.fuse;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The body of a READDIR or READDIRPLUS reply: packed, 8-byte aligned fuse_dirent (or fuse_direntplus) records,
 * never more than the size the kernel asked for. {@code off} of a record is the offset to resume after it.
 */
public final class DirBuffer {
    private static final int DIRENT_HEADER = 24;              // ino, off, namelen, type
    private final ByteBuffer buf;
    private final boolean plus;
    private int count;

    public DirBuffer(int maxSize, boolean plus) {
        this(ByteBuffer.allocate(maxSize), plus);
    }

    /**
     * Records written into {@code into} from its position up to its limit (the dispatcher hands it the part of the
     * thread's reply array after the reply header: no array per listing, no copy into the reply). Every byte of a
     * record is written, padding included, so nothing of an earlier reply in that array goes out.
     */
    DirBuffer(ByteBuffer into, boolean plus) {
        this.buf = into.slice().order(ByteOrder.LITTLE_ENDIAN);
        this.plus = plus;
    }

    /** READDIRPLUS: each record carries an entry_out, and each non-zero nodeid in it counts as a lookup. */
    public boolean plus() { return plus; }

    public int count() { return count; }

    /** Bytes still free. */
    public int remaining() { return buf.remaining(); }

    /** The size one record for {@code name} takes (byte-string name). */
    public int recordSize(String name) {
        int raw = (plus ? FuseCodec.ENTRY_OUT_SIZE : 0) + DIRENT_HEADER + name.length();
        return (raw + 7) & ~7;
    }

    /** True when a record for {@code name} still fits: check before taking a lookup reference for it. */
    public boolean fits(String name) {
        return buf.remaining() >= recordSize(name);
    }

    /** Adds a READDIR record; false (and nothing written) when it does not fit. */
    public boolean add(String name, long ino, int type, long nextOffset) {
        if (plus) throw new IllegalStateException("READDIRPLUS needs addPlus");
        return put(name, ino, type, nextOffset, null);
    }

    /**
     * Adds a READDIRPLUS record; {@code entry} null sends nodeid 0 (the kernel then just lists the name, as for
     * "." and ".."). False (and nothing written) when it does not fit.
     */
    public boolean addPlus(String name, long ino, int type, long nextOffset, FuseEntry entry) {
        if (!plus) throw new IllegalStateException("READDIR takes add");
        return put(name, ino, type, nextOffset, entry);
    }

    private boolean put(String name, long ino, int type, long nextOffset, FuseEntry entry) {
        int size = recordSize(name);
        if (buf.remaining() < size) return false;
        int start = buf.position();
        if (plus) FuseCodec.putEntry(buf, entry);
        buf.putLong(ino).putLong(nextOffset).putInt(name.length()).putInt(type);
        for (int i = 0; i < name.length(); i++) buf.put((byte) name.charAt(i));
        while (buf.position() < start + size) buf.put((byte) 0);
        count++;
        return true;
    }

    ByteBuffer flip() {
        return buf.flip();
    }

    /** Bytes written so far. */
    int length() {
        return buf.position();
    }
}
