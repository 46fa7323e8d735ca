package org.overlayj.core.layer;

/** One layer of the stack: 0 is the upper, 1.. the lowers top-down. {@code root} is an absolute byte-string path. */
public record Layer(int index, String root, long dev, byte[] uuid, boolean upper) {
    public Layer {
        uuid = uuid.clone();
    }

    @Override public byte[] uuid() { return uuid.clone(); }
}
