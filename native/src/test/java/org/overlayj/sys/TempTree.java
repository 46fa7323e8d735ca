package org.overlayj.sys;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A throw-away directory under /tmp/overlayj-test-* for one test, plus the helpers the tests use to ask an
 * independent party (python3's os module, coreutils, attr tools) what is really on disk.
 */
final class TempTree implements AutoCloseable {
    final String root;

    TempTree() throws IOException {
        this.root = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-native-").toString();
    }

    /** A byte-string path under the root. */
    String path(String name) {
        return root + "/" + name;
    }

    @Override public void close() throws IOException {
        // rm copes with any byte in a name, which NIO's String paths do not promise.
        Result r = run("rm", "-rf", "--one-file-system", root);
        if (r.rc != 0) throw new IOException("rm -rf " + root + ": " + r.err);
    }

    record Result(int rc, byte[] out, String err) {
        String text() { return new String(out, StandardCharsets.UTF_8).strip(); }
    }

    /** Runs a command, failing the test when it cannot be started. Arguments are byte strings. */
    static Result run(String... cmd) throws IOException {
        List<String> args = new ArrayList<>();
        // The JVM encodes arguments with sun.jnu.encoding; byte strings pass only as Latin-1 chars when that
        // encoding maps them 1:1, so non-ASCII paths are handed to python as hex instead (see py()).
        for (String c : cmd) args.add(c);
        Process p = new ProcessBuilder(args).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        byte[] out;
        byte[] err;
        try (InputStream o = p.getInputStream(); InputStream e = p.getErrorStream()) {
            ByteArrayOutputStream eb = new ByteArrayOutputStream();
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    e.transferTo(eb);
                } catch (IOException ignored) {
                    // the process died; its exit code tells
                }
            });
            out = o.readAllBytes();
            try {
                t.join();
                int rc = p.waitFor();
                err = eb.toByteArray();
                return new Result(rc, out, new String(err, StandardCharsets.UTF_8));
            } catch (InterruptedException ie) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", ie);
            }
        }
    }

    /** Runs a command and returns its stdout, failing on a non-zero exit. */
    static String check(String... cmd) throws IOException {
        Result r = run(cmd);
        if (r.rc != 0) throw new IOException(String.join(" ", cmd) + " -> " + r.rc + ": " + r.err);
        return r.text();
    }

    /**
     * Runs a python3 snippet with {@code P} bound to the byte-string path (passed as hex so any byte survives the
     * command line) and returns what it prints.
     */
    static String py(String code, String path) throws IOException {
        String hex = java.util.HexFormat.of().formatHex(Linux.bytesOf(path));
        return check("python3", "-c", "import os, sys\nP = bytes.fromhex(sys.argv[1])\n" + code, hex);
    }
}
