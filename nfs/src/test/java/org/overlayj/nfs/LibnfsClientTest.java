package org.overlayj.nfs;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real NFSv3 client, libnfs's nfs-ls / nfs-cat / nfs-cp (package libnfs-utils), against the server: list, read,
 * write and copy, compared with the layers on disk. Fails (never skips) when the tools are missing.
 */
class LibnfsClientTest {

    private record Result(int exit, String out) {}

    private static Result run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(120, TimeUnit.SECONDS)) throw new AssertionError("timed out: " + String.join(" ", cmd));
            return new Result(p.exitValue(), new String(out, StandardCharsets.ISO_8859_1));
        } finally {
            p.destroyForcibly();
        }
    }

    private static Result ok(String... cmd) throws Exception {
        Result r = run(cmd);
        assertEquals(0, r.exit(), String.join(" ", cmd) + "\n" + r.out());
        return r;
    }

    private static String url(TestOverlay t, String path) {
        return "nfs://127.0.0.1" + path + "?version=3&nfsport=" + t.port() + "&mountport=" + t.port();
    }

    @Test
    void listReadWriteCopyThroughLibnfs() throws Exception {
        for (String tool : new String[]{"nfs-ls", "nfs-cat", "nfs-cp"})
            assertTrue(Files.isExecutable(Path.of("/usr/bin", tool)), tool + " missing: install libnfs-utils");
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n")) {
            // list: the merged root shows the lower's entries
            String ls = ok("nfs-ls", url(t, "/")).out();
            assertTrue(ls.contains("hello.txt"), ls);
            assertTrue(ls.contains("dir"), ls);
            String lsDir = ok("nfs-ls", url(t, "/dir")).out();
            List<String> names = new ArrayList<>();
            for (String line : lsDir.split("\n")) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 0 && !f[f.length - 1].isEmpty()) names.add(f[f.length - 1]);
            }
            assertTrue(names.contains("f0") && names.contains("f299") && names.contains("sub"), lsDir);

            // read. libnfs splits a URL at its last '/' into export and file: "/hello.txt" would mount "" (which
            // libnfs then cannot match to the export list "/"), so files at the top of the "/" export are "//name".
            assertEquals(Files.readString(t.lower.resolve("hello.txt")), ok("nfs-cat", url(t, "//hello.txt")).out());
            assertEquals("a", ok("nfs-cat", url(t, "/dir/a")).out());

            // write: copy a local file in (larger than one WRITE), compare with the upper layer
            Path local = t.root.resolve("local.bin");
            byte[] data = new byte[3 * Nfs3Program.MAX_IO + 12345];
            new Random(42).nextBytes(data);
            Files.write(local, data);
            ok("nfs-cp", local.toString(), url(t, "//copied.bin"));
            assertArrayEquals(data, Files.readAllBytes(t.upper.resolve("copied.bin")));
            assertFalse(Files.exists(t.lower.resolve("copied.bin")));

            // copy out: a lower file back to local disk, byte for byte
            Path back = t.root.resolve("back.txt");
            ok("nfs-cp", url(t, "/dir/f7"), back.toString());
            assertEquals("x7", Files.readString(back));

            // write into a lower directory: the directory is copied up, the lower stays untouched. (nfs-cp creates
            // its target with a GUARDED CREATE, so it cannot overwrite an existing file with any server.)
            Path repl = t.root.resolve("repl.txt");
            Files.writeString(repl, "new in a lower dir\n");
            ok("nfs-cp", repl.toString(), url(t, "/dir/new.txt"));
            assertEquals("new in a lower dir\n", Files.readString(t.upper.resolve("dir/new.txt")));
            assertFalse(Files.exists(t.lower.resolve("dir/new.txt")));
            assertEquals("new in a lower dir\n", ok("nfs-cat", url(t, "/dir/new.txt")).out());
            Result again = run("nfs-cp", repl.toString(), url(t, "/dir/a"));
            assertNotEquals(0, again.exit(), again.out());
            assertEquals("a", Files.readString(t.lower.resolve("dir/a")));
            assertTrue(ok("nfs-ls", url(t, "/dir")).out().contains("new.txt"));
        }
    }
}
