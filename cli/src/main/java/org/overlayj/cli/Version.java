package org.overlayj.cli;

import org.overlayj.fuse.FuseInit;
import picocli.CommandLine;

/** --version: the overlayj version and the FUSE protocol it speaks. */
final class Version implements CommandLine.IVersionProvider {
    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v != null ? v : "0.1.0-SNAPSHOT";
    }

    @Override public String[] getVersion() {
        return new String[]{"overlayj: version " + version(),
                "FUSE kernel protocol " + FuseInit.KERNEL_MAJOR + "." + FuseInit.KERNEL_MINOR + " (pure Java, no libfuse)"};
    }
}
