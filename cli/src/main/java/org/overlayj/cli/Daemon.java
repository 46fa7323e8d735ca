package org.overlayj.cli;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Backgrounding without fork: the command re-launches itself in the foreground mode as a detached child (its own
 * session through setsid(1), stdin from /dev/null, stderr to a log file), then waits for the child's readiness
 * line on a pipe (its stdout). "READY" means the mount is live: the parent exits 0. "ERROR message", or the pipe
 * closing first, means the mount failed: the parent prints why and exits non-zero once the pipe closes (the child
 * has exited). The child outlives the parent.
 *
 * <p>The child is not the parent's own child but setsid's ({@code setsid --fork}, whose process exits at once):
 * a JVM whose thread still waits in waitpid(2) for a live child spends 0.3 s at exit waiting for that thread to
 * stop (measured: READY at 0.45 s, process gone at 0.75 s), and a background mount returns only at that exit.
 */
final class Daemon {
    static final String READY = "READY", ERROR = "ERROR ";
    /** The hidden option that marks the re-launched child. */
    static final String CHILD_FLAG = "--daemon-child";

    private Daemon() {}

    /** Where the child logs: $OVERLAYJ_LOG_DIR, else /run/overlayj (root), else $TMPDIR or /tmp. */
    static Path logFile(String mountpoint) throws IOException {
        String env = System.getenv("OVERLAYJ_LOG_DIR");
        Path dir;
        if (env != null && !env.isEmpty()) {
            dir = Path.of(env);
        } else if (Files.isDirectory(Path.of("/run")) && Files.isWritable(Path.of("/run"))) {
            dir = Path.of("/run/overlayj");
        } else {
            String tmp = System.getenv("TMPDIR");
            dir = Path.of(tmp != null && !tmp.isEmpty() ? tmp : "/tmp");
        }
        Files.createDirectories(dir);
        String name = Path.of(mountpoint).toAbsolutePath().normalize().toString().replaceAll("[^A-Za-z0-9._-]", "_");
        return dir.resolve("overlayj" + name + ".log");
    }

    /** Runs the child and relays its outcome; returns the exit code for the parent. */
    static int launch(List<String> args, String mountpoint) {
        Path log;
        try {
            log = logFile(mountpoint);
        } catch (IOException e) {
            System.err.println("overlayj: cannot create the log file: " + e.getMessage());
            return 1;
        }
        List<String> cmd = new ArrayList<>();
        boolean setsid = new File("/usr/bin/setsid").canExecute();
        if (setsid) {
            cmd.add("/usr/bin/setsid");
            cmd.add("--fork");
        }
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(serverJvmOptions());
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.add(CHILD_FLAG);
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        if (!setsid) return relay(pb, log, false);
        // Process streams end when their process does (setsid's, at once): the readiness line comes through a FIFO
        Path dir = null;
        try {
            dir = readinessDir();
            Path fifo = dir.resolve("ready");
            // mkfifo(1), not mknod through the native layer: loading that and linking one call took 20 ms here
            Process mk = new ProcessBuilder("mkfifo", "-m", "600", fifo.toString()).inheritIO().start();
            if (mk.waitFor() != 0) throw new IOException("mkfifo " + fifo + " failed");
            return relay(pb.redirectOutput(fifo.toFile()), log, true);
        } catch (IOException e) {
            System.err.println("overlayj: cannot set up the readiness channel: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        } finally {
            if (dir != null) {
                try {
                    Files.deleteIfExists(dir.resolve("ready"));
                    Files.deleteIfExists(dir);
                } catch (IOException ignored) {
                    // a temporary directory left behind is harmless
                }
            }
        }
    }

    /**
     * A new directory only we may enter (0700), for the FIFO. Named from the pid and the clock rather than by
     * Files.createTempDirectory, whose SecureRandom took 10 ms to seed; an existing name is skipped, never reused.
     */
    private static Path readinessDir() throws IOException {
        String tmp = System.getProperty("java.io.tmpdir", "/tmp");
        var mode = java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        for (int i = 0; ; i++) {
            String name = "overlayj-ready." + ProcessHandle.current().pid() + "." + System.nanoTime() + "." + i;
            Path d = Path.of(tmp, name);
            try {
                return Files.createDirectory(d, mode);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (i >= 100) throw e;
            }
        }
    }

    /** Starts the child and reads its readiness line: from its stdout pipe, or from the FIFO its stdout opens. */
    private static int relay(ProcessBuilder pb, Path log, boolean fifo) {
        CompletableFuture<InputStream> reader = new CompletableFuture<>();
        if (fifo) {
            // opening a FIFO blocks until the other end opens: the child's end is opened by start() below
            File f = pb.redirectOutput().file();
            Thread.ofPlatform().daemon(true).start(() -> {
                try {
                    reader.complete(new FileInputStream(f));
                } catch (IOException e) {
                    reader.completeExceptionally(e);
                }
            });
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            System.err.println("overlayj: cannot start the server: " + e.getMessage());
            if (fifo) unblock(pb.redirectOutput().file());
            return 1;
        }
        if (!fifo) reader.complete(p.getInputStream());
        try (BufferedReader r = new BufferedReader(new InputStreamReader(reader.join(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.equals(READY)) return 0;
                if (line.startsWith(ERROR)) {
                    System.err.println("overlayj: " + line.substring(ERROR.length()));
                    // the layers are as the child leaves them only once it has exited and closed its end
                    while (r.readLine() != null) {
                        // nothing else is expected
                    }
                    return exitCode(p, fifo);
                }
            }
        } catch (IOException | CompletionException e) {
            System.err.println("overlayj: lost the server: " + e.getMessage());
        }
        System.err.println("overlayj: the server exited before the mount was ready; see " + log);
        return exitCode(p, fifo);
    }

    /** Releases a reader blocked opening the FIFO when no child will open it. */
    private static void unblock(File fifo) {
        try (FileOutputStream ignored = new FileOutputStream(fifo)) {
            // opened and closed: the reader sees end of file
        } catch (IOException ignored) {
            // nothing waits
        }
    }

    /** Non-zero: the child's own code when it is our child, else 1 (setsid's code says nothing of the server). */
    private static int exitCode(Process p, boolean viaSetsid) {
        waitQuietly(p);
        return viaSetsid || p.isAlive() ? 1 : Math.max(1, p.exitValue());
    }

    /**
     * JVM options only the serving child needs (bin/overlayj names them in $OVERLAYJ_SERVER_JVM_OPTS: a heap
     * touched at start, which the launcher itself does not want to pay for). They go before the launcher's own
     * options, so that what a user gave in $OVERLAYJ_JAVA_OPTS still wins.
     */
    static List<String> serverJvmOptions() {
        String v = System.getenv("OVERLAYJ_SERVER_JVM_OPTS");
        return v == null || v.isBlank() ? List.of() : List.of(v.trim().split("\\s+"));
    }

    private static void waitQuietly(Process p) {
        try {
            p.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
