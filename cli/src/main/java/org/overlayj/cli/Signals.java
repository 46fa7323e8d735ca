package org.overlayj.cli;

import sun.misc.Signal;

/**
 * SIGTERM and SIGINT unmount the filesystem; the request loop then ends on ENODEV and the server exits 0
 * (a shutdown hook could not: the JVM would exit 143 before the loop drained).
 */
final class Signals {
    private Signals() {}

    static void onTermination(Runnable unmount) {
        for (String name : new String[]{"TERM", "INT"}) {
            Signal.handle(new Signal(name), s -> unmount.run());
        }
    }
}
