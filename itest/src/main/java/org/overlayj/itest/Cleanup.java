package org.overlayj.itest;

import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Removes a test's temp tree, first detaching anything still mounted under it so rm never walks into a mount. */
public final class Cleanup {
    private Cleanup() {}

    public static void removeTree(Path root) throws IOException {
        for (String m : mountsUnder(root)) KernelMount.unmount(Linux.fromUtf8(m));
        if (!mountsUnder(root).isEmpty()) throw new IOException("still mounted under " + root + ": " + mountsUnder(root));
        LayerSet.run("rm", "-rf", "--one-file-system", root.toString());
    }

    /** Mount points at or under {@code root}, deepest first. */
    public static List<String> mountsUnder(Path root) throws IOException {
        List<String> out = new ArrayList<>();
        String prefix = root.toAbsolutePath().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String mp = line.split(" ")[4].replace("\\040", " ");
            if (mp.equals(prefix) || mp.startsWith(prefix + "/")) out.add(mp);
        }
        out.sort((x, y) -> y.length() - x.length());
        return out;
    }
}
