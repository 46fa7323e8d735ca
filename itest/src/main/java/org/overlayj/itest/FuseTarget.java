package org.overlayj.itest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An overlayj FUSE mount: {@code org.overlayj.cli.Main -f -o lowerdir=..,upperdir=..,workdir=.. MNT} in a child
 * JVM with this JVM's classpath, used through the mount point like the kernel's overlay.
 */
public final class FuseTarget {
    private FuseTarget() {}

    public static final DifferentialRunner.TargetFactory FACTORY = FuseTarget::mount;

    public static MountedTarget mount(String name, LayerSet layers, MountConfig cfg, Path mountPoint) throws IOException {
        return new MountedTarget(name, layers, mountPoint, start(layers, cfg, mountPoint), was -> {
            was.run();
            return start(layers, cfg, mountPoint);
        });
    }

    /** Starts the server and waits for its mount; returns how to stop it. */
    private static Runnable start(LayerSet layers, MountConfig cfg, Path mountPoint) throws IOException {
        Files.createDirectories(mountPoint);
        Path logFile = mountPoint.resolveSibling(mountPoint.getFileName() + ".fuse.log");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = List.of(java.toString(), "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "org.overlayj.cli.Main",
                "-f", "-o", cfg.kernelOptions(layers), mountPoint.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile())).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!isFuseMount(mountPoint)) {
                if (!p.isAlive()) throw new IOException("overlayj FUSE exited with " + p.exitValue() + " before mounting: " + tail(logFile));
                if (System.nanoTime() > deadline) throw new IOException("overlayj FUSE did not mount within 30 s: " + tail(logFile));
                Thread.sleep(20);
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            stop(mountPoint, p);
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw e instanceof IOException io ? io : new IOException(e);
        }
        return () -> stop(mountPoint, p);
    }

    private static void stop(Path mountPoint, Process p) {
        try {
            if (isFuseMount(mountPoint)) KernelMount.unmount(org.overlayj.sys.Linux.fromUtf8(mountPoint.toString()));
        } catch (IOException ignored) {
            // mountinfo unreadable: fall through to killing the server
        }
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroy();
                if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    static boolean isFuseMount(Path mountPoint) throws IOException {
        String mp = mountPoint.toAbsolutePath().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            int dash = line.indexOf(" - ");
            if (f[4].replace("\\040", " ").equals(mp) && dash > 0 && line.substring(dash + 3).startsWith("fuse")) return true;
        }
        return false;
    }

    private static String tail(Path log) {
        try {
            List<String> l = Files.readAllLines(log);
            return String.join("\n", l.subList(Math.max(0, l.size() - 20), l.size()));
        } catch (IOException e) {
            return "(no log)";
        }
    }
}
