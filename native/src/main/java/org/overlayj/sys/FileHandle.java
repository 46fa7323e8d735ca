package org.overlayj.sys;

import java.util.Arrays;
import java.util.HexFormat;

/** A handle from name_to_handle_at(2): the fs-specific type and the opaque f_handle bytes. */
public record FileHandle(int type, byte[] bytes) {
    public FileHandle {
        bytes = bytes.clone();
    }

    @Override public byte[] bytes() { return bytes.clone(); }

    public int length() { return bytes.length; }

    @Override public boolean equals(Object o) {
        return o instanceof FileHandle h && h.type == type && Arrays.equals(h.bytes, bytes);
    }

    @Override public int hashCode() { return type * 31 + Arrays.hashCode(bytes); }

    @Override public String toString() { return "FileHandle[type=" + type + ", " + HexFormat.of().formatHex(bytes) + "]"; }
}
