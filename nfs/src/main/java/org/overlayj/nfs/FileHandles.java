package org.overlayj.nfs;

import org.overlayj.nfs.xdr.Nfs3;

import java.util.Arrays;

/**
 * The NFS file handle: a magic byte, the export id, then the engine's handle bytes ({@code Overlay.encodeHandle}),
 * unchanged. The export id lets a handle say which export (and so which client rules) it was issued under; the
 * engine bytes are what makes it survive copy-up and restart. At most {@link Nfs3#NFS3_FHSIZE} bytes.
 */
public final class FileHandles {
    /** 'o' for overlayj; bumped if the layout ever changes so old handles read as malformed, not as wrong. */
    static final byte MAGIC = 0x6f;
    static final int HEADER = 2;
    public static final int MAX_ENGINE_HANDLE = Nfs3.NFS3_FHSIZE - HEADER;

    private FileHandles() {}

    /** A decoded NFS handle: which export, and the bytes for {@code Overlay.decodeHandle}. */
    public record Decoded(int exportId, byte[] engineHandle) {
        public Decoded {
            engineHandle = engineHandle.clone();
        }

        @Override public byte[] engineHandle() { return engineHandle.clone(); }
    }

    public static byte[] encode(int exportId, byte[] engineHandle) {
        if (exportId < 0 || exportId > 0xff) throw new IllegalArgumentException("export id " + exportId);
        if (engineHandle.length == 0 || engineHandle.length > MAX_ENGINE_HANDLE)
            throw new IllegalArgumentException("engine handle of " + engineHandle.length + " bytes does not fit");
        byte[] fh = new byte[HEADER + engineHandle.length];
        fh[0] = MAGIC;
        fh[1] = (byte) exportId;
        System.arraycopy(engineHandle, 0, fh, HEADER, engineHandle.length);
        return fh;
    }

    /** Null when the bytes cannot be one of our handles at all: the caller answers NFS3ERR_BADHANDLE. */
    public static Decoded decode(byte[] fh) {
        if (fh == null || fh.length <= HEADER || fh.length > Nfs3.NFS3_FHSIZE || fh[0] != MAGIC) return null;
        return new Decoded(fh[1] & 0xff, Arrays.copyOfRange(fh, HEADER, fh.length));
    }
}
