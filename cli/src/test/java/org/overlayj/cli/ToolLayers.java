package org.overlayj.cli;

import org.overlayj.sys.Linux;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Layers for the tool tests under /tmp/overlayj-test-tools-*, written by the kernel's overlayfs (the oracle), and
 * an in-process runner of the overlayj command line. Cleans up its mount and directory on close.
 */
final class ToolLayers implements AutoCloseable {
    /** Features the kernel-written set uses: every copy-up indexed, directories renamed with a redirect. */
    static final String FEATURES = "index=on,nfs_export=on,redirect_dir=on";

    final Path root, l1, l2, upper, work, mnt;
    private boolean kernelMounted;

    ToolLayers() throws IOException {
        if (Linux.geteuid() != 0) fail("the tool tests need root (kernel overlay mounts, trusted.* xattrs)");
        root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-tools-");
        l1 = Files.createDirectory(root.resolve("l1"));
        l2 = Files.createDirectory(root.resolve("l2"));
        upper = Files.createDirectory(root.resolve("u"));
        work = Files.createDirectory(root.resolve("w"));
        mnt = Files.createDirectory(root.resolve("m"));
    }

    String layerOptions() {
        return "lowerdir=" + l1 + ":" + l2 + ",upperdir=" + upper + ",workdir=" + work;
    }

    /** -o value for the tools and the kernel: layers plus {@link #FEATURES}. */
    String opts() {
        return layerOptions() + "," + FEATURES;
    }

    /**
     * The kernel writes a small overlay: hard links copied up (one alias removed, one added), a single-link file
     * copied up, a lower file deleted (whiteout index), a merged dir with a new pure-upper subdir, a renamed lower
     * dir (redirect), a deep copy-up.
     */
    void kernelScenario() throws Exception {
        sh("cd " + root + " && echo a > l2/a && ln l2/a l2/a2 && ln l2/a l2/a3 && mkdir -p l2/d/e l1/d"
                + " && echo f > l1/d/f && echo g > l2/d/e/g && echo s > l2/single && echo t > l1/t"
                + " && mkdir l2/rd && echo x > l2/rd/x && echo keep > l1/keep");
        kernelMount(FEATURES);
        sh("cd " + mnt + " && echo x >> a && ln a a4 && rm a2 && rm t && echo y >> single && touch d/e/new"
                + " && mv rd rd2 && mkdir d/pure && touch d/pure/p && rm d/f");
        kernelUmount();
    }

    void kernelMount(String features) throws IOException {
        Linux.mount("overlay", mnt.toString(), "overlay", 0, layerOptions() + (features.isEmpty() ? "" : "," + features));
        kernelMounted = true;
    }

    void kernelUmount() throws IOException {
        if (kernelMounted) Linux.umount(mnt.toString(), 0);
        kernelMounted = false;
    }

    /** name_to_handle_at on the kernel mount, as hex. */
    String kernelHandle(String path) throws IOException {
        return HexFormat.of().formatHex(Linux.nameToHandle(mnt + (path.isEmpty() ? "" : "/" + path), 0).bytes());
    }

    /** Result of one in-process run of the command line. */
    record Run(int code, String out, String err) {
        @Override public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    static Run overlayj(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** A mark in the kernel log: its last line now (the ring buffer rotates, so line counts do not work). */
    static String dmesgMark() throws IOException {
        List<String> all = dmesg();
        return all.isEmpty() ? "" : all.getLast();
    }

    /** The kernel log lines after {@code mark} that mention one of {@code keys}. */
    static List<String> dmesgSince(String mark, List<String> keys) throws IOException {
        List<String> all = dmesg();
        int from = all.lastIndexOf(mark) + 1;
        List<String> out = new ArrayList<>();
        for (String l : all.subList(from, all.size())) {
            for (String k : keys) if (l.contains(k)) {
                out.add(l);
                break;
            }
        }
        return out;
    }

    static List<String> dmesg() throws IOException {
        Process p = new ProcessBuilder("dmesg").redirectErrorStream(true).start();
        String s = new String(p.getInputStream().readAllBytes());
        try {
            p.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return s.lines().toList();
    }

    static String sh(String cmd) throws IOException {
        Process p = new ProcessBuilder("bash", "-c", cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        try {
            if (p.waitFor() != 0) throw new IOException("failed: " + cmd + "\n" + out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return out;
    }

    @Override public void close() throws IOException {
        try {
            for (int i = 0; i < 3 && kernelMounted; i++) {
                try {
                    kernelUmount();
                } catch (IOException e) {
                    Linux.umount(mnt.toString(), Linux.MNT_DETACH);
                    kernelMounted = false;
                }
            }
        } finally {
            sh("rm -rf " + root);
        }
    }
}
