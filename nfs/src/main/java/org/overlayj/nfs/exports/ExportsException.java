package org.overlayj.nfs.exports;

/** An exports file the server refuses to start with; names the line. */
public final class ExportsException extends Exception {
    public ExportsException(int line, String message) {
        super(line > 0 ? "exports line " + line + ": " + message : "exports: " + message);
    }
}
