package org.overlayj.cli;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Backgrounding without fork: the command re-launches itself in the foreground mode as a detached child (its own
 * session through setsid(1), stdin from /dev/null, stderr to a log file), then waits for the child's readiness
 * line on a pipe (its stdout). "READY" means the mount is live: the parent exits 0. "ERROR message", or the pipe
 * closing first, means the mount failed: the parent prints why and exits non-zero. The child outlives the parent.
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
        if (new File("/usr/bin/setsid").canExecute()) cmd.add("/usr/bin/setsid");
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
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectOutput(ProcessBuilder.Redirect.PIPE);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            System.err.println("overlayj: cannot start the server: " + e.getMessage());
            return 1;
        }
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.equals(READY)) return 0;
                if (line.startsWith(ERROR)) {
                    System.err.println("overlayj: " + line.substring(ERROR.length()));
                    waitQuietly(p);
                    return p.isAlive() ? 1 : Math.max(1, p.exitValue());
                }
            }
        } catch (IOException e) {
            System.err.println("overlayj: lost the server: " + e.getMessage());
        }
        waitQuietly(p);
        System.err.println("overlayj: the server exited before the mount was ready; see " + log);
        return p.isAlive() ? 1 : Math.max(1, p.exitValue());
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
