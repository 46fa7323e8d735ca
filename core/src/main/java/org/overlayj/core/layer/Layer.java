package org.overlayj.core.layer;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * One layer of the overlay, as verified at mount.
 *
 * @param index       0 = upper, 1.. = lowers top-down
 * @param root        absolute byte-string path of the layer root
 * @param dev         st_dev of the layer root
 * @param uuid        16 bytes: the filesystem UUID that goes into fh blobs (the kernel's s_uuid; all zeros under
 *                    uuid=off and on filesystems without one)
 * @param upper       this is the upper layer
 * @param fsid        the overlay's number for the layer's filesystem: 0 for the upper filesystem (also when a
 *                    lower shares it), then 1.. for each further filesystem in lower order (xino high bits)
 * @param fileHandles the filesystem can encode and decode file handles (and the mounter may decode them)
 * @param ino32       file handles of the filesystem use the default 32-bit inode encoding (FILEID_INO32_GEN)
 * @param badUuid     the filesystem UUID cannot tie fh blobs to this layer (null or shared with another lower
 *                    filesystem): origins on it are not decoded
 */
public record Layer(int index, String root, long dev, byte[] uuid, boolean upper, int fsid, boolean fileHandles,
                    boolean ino32, boolean badUuid) {

    public Layer {
        uuid = uuid.clone();
        if (uuid.length != 16) throw new IllegalArgumentException("uuid must be 16 bytes");
    }

    /** The brief's five-component form; the rest at neutral values. */
    public Layer(int index, String root, long dev, byte[] uuid, boolean upper) {
        this(index, root, dev, uuid, upper, upper ? 0 : index, true, false, false);
    }

    @Override public byte[] uuid() { return uuid.clone(); }

    @Override public boolean equals(Object o) {
        return o instanceof Layer l && l.index == index && l.root.equals(root) && l.dev == dev
                && Arrays.equals(l.uuid, uuid) && l.upper == upper && l.fsid == fsid
                && l.fileHandles == fileHandles && l.ino32 == ino32 && l.badUuid == badUuid;
    }

    @Override public int hashCode() { return root.hashCode() * 31 + index; }

    @Override public String toString() {
        return "Layer[" + index + (upper ? " upper " : " lower ") + root + " dev=" + dev + " fsid=" + fsid
                + " uuid=" + HexFormat.of().formatHex(uuid) + (fileHandles ? " fh" : " nofh")
                + (badUuid ? " bad-uuid" : "") + "]";
    }
}
