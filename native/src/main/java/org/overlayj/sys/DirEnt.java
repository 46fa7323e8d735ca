package org.overlayj.sys;

/** One getdents64 record. {@code name} is a byte string (one char per byte). {@code type} is a DT_* value. */
public record DirEnt(String name, long ino, int type, long off) {
    public static final int DT_UNKNOWN = 0, DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8,
            DT_LNK = 10, DT_SOCK = 12, DT_WHT = 14;

    public boolean isDotOrDotDot() { return name.equals(".") || name.equals(".."); }

    /** DT_* value of a st_mode. */
    public static int typeOfMode(int mode) { return (mode >>> 12) & 017; }
}
