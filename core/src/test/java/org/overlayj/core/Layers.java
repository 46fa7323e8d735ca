package org.overlayj.core;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Test layers under /tmp/overlayj-test-*: lower dirs, upper, work, and a mount point for the kernel oracle. */
final class Layers implements AutoCloseable {
    final Path root;
    final List<Path> lowers = new ArrayList<>();
    final Path upper, work, mnt;
    private boolean kernelMounted;

    Layers(int nLowers) throws IOException {
        root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-");
        for (int i = 1; i <= nLowers; i++) lowers.add(Files.createDirectories(root.resolve("l" + i)));
        upper = Files.createDirectories(root.resolve("upper"));
        work = Files.createDirectories(root.resolve("work"));
        mnt = Files.createDirectories(root.resolve("mnt"));
    }

    String lowerdir() {
        return String.join(":", lowers.stream().map(Path::toString).toList());
    }

    OverlayOptions options(boolean index, boolean redirectOn) {
        return new OverlayOptions(lowers.stream().map(Path::toString).toList(), upper.toString(), work.toString(),
                redirectOn ? OverlayOptions.RedirectDir.ON : OverlayOptions.RedirectDir.FOLLOW, index, false,
                OverlayOptions.Uuid.AUTO, OverlayOptions.Xino.OFF, false, false, false, List.of());
    }

    Overlay mount(boolean index, boolean redirectOn) throws IOException {
        return Overlay.mount(options(index, redirectOn), new EngineSeam.Recorder());
    }

    void kernelMount(String extra) throws Exception {
        String opts = "lowerdir=" + lowerdir() + ",upperdir=" + upper + ",workdir=" + work + (extra.isEmpty() ? "" : "," + extra);
        Linux.mount("overlay", mnt.toString(), "overlay", 0, opts);
        kernelMounted = true;
    }

    void kernelUmount() throws IOException {
        if (kernelMounted) Linux.umount(mnt.toString(), 0);
        kernelMounted = false;
    }

    static void sh(String cmd) throws IOException {
        shOut(cmd);
    }

    /** Runs {@code cmd} with bash and returns what it printed (stdout and stderr); IOException if it fails. */
    static String shOut(String cmd) throws IOException {
        Process p = new ProcessBuilder("bash", "-c", cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        try {
            if (p.waitFor() != 0) throw new IOException("failed: " + cmd + "\n" + out);
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    @Override public void close() throws IOException {
        try {
            kernelUmount();
        } finally {
            sh("rm -rf " + root);
        }
    }
}
