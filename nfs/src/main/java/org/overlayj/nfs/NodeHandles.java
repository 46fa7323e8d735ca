package org.overlayj.nfs;

import org.overlayj.core.Node;
import org.overlayj.core.Overlay;
import org.overlayj.sys.ErrnoException;

/**
 * Where the door gets the persistent part of its file handles. In service this is always the engine
 * ({@link #of(Overlay)}); the seam exists so protocol tests can run a server while an engine build has no
 * handle support yet.
 */
interface NodeHandles {
    byte[] encode(Node n) throws ErrnoException;

    /** ESTALE (or any errno) when the bytes name nothing of this overlay. */
    Node decode(byte[] handle) throws ErrnoException;

    static NodeHandles of(Overlay overlay) {
        return new NodeHandles() {
            @Override public byte[] encode(Node n) throws ErrnoException { return overlay.encodeHandle(n); }
            @Override public Node decode(byte[] handle) throws ErrnoException { return overlay.decodeHandle(handle); }
        };
    }
}
