package org.overlayj.core;

/**
 * The engine's test seam: what the core tests may watch of its inner steps, given to the overlay when it is made
 * ({@code Overlay.mount(options, probe)}, package-private). Mounts made by the doors and tools get {@link #NONE},
 * whose calls do nothing, so the production classes keep no state for tests; the tests' recording probe lives in
 * the test sources.
 */
interface Probe {
    /** A copy-up's data was copied ahead (CopyUp#copyAhead), before the namespace lock is taken. */
    default void copiedAhead() {}

    /** A copy-up copied a file's data. */
    default void dataCopied() {}

    /** A copy-up fsynced a copied file. */
    default void copySynced() {}

    /** The directory readahead read a real directory (DirReadahead). */
    default void dirReadAhead() {}

    /** A lookup took the markers of an upper object this overlay made from its node (Lookup#knownMarkers). */
    default void knownMarkers() {}

    /** A lookup looked for an index entry with a statx of its path (Index#entryStat). */
    default void indexLooked() {}

    Probe NONE = new Probe() {};
}
