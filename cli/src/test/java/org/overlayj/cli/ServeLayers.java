package org.overlayj.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The scratch tree of a serve test: lower layer {@code l} with {@code d/f}, upper {@code u}, work {@code w}, under the
 * run's test root; and the processes the test starts. {@link #close} stops them, last started first (servers and
 * daemons before the namespace holders they run in), and removes the tree, whatever the test left read-only.
 */
final class ServeLayers implements AutoCloseable {
    final Path dir;
    final List<Process> started = new ArrayList<>();

    ServeLayers(String name) throws IOException {
        dir = Files.createTempDirectory(Path.of(System.getProperty("overlayj.testRoot", "/tmp")), "overlayj-test-" + name + "-");
        for (String d : new String[]{"l/d", "u", "w"}) Files.createDirectories(dir.resolve(d));
        Files.writeString(dir.resolve("l/d/f"), "lower file\n");
    }

    String layerOpts() {
        return "lowerdir=" + dir.resolve("l") + ",upperdir=" + dir.resolve("u") + ",workdir=" + dir.resolve("w");
    }

    /** Where serve keeps the lock state of these layers by default (root's place; tests run as root). */
    Path stateDir() throws IOException {
        return Path.of("/var/lib/overlayj/nlm", ServeCommand.stateKey(dir.resolve("u").toRealPath().toString()));
    }

    @Override public void close() throws IOException {
        Path state = stateDir();
        try {
            for (Process p : started.reversed()) {
                if (p.isAlive()) {
                    p.destroyForcibly();
                    p.onExit().orTimeout(30, TimeUnit.SECONDS).exceptionally(t -> null).join();
                }
            }
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> {
                    p.toFile().setWritable(true);
                    p.toFile().delete();
                });
            }
            if (Files.isDirectory(state)) {
                try (Stream<Path> s = Files.walk(state)) {
                    s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }
}
