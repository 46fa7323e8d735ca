package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Load: 16 client connections at once, each doing 1,000 mixed operations (lookup, getattr, read, write, create,
 * remove, readdirplus, rename in its own directory, plus reads of the shared lower tree). Every reply must be
 * NFS3_OK with the data each client's own model expects; afterwards the upper layer on disk holds exactly the
 * models and the lower layer is untouched. {@code -Dnfs.load.ops=N} changes the count per client.
 */
class NfsLoadTest {
    private static final int CLIENTS = 16;
    private static final int OPS = Integer.getInteger("nfs.load.ops", 1000);
    private static final String[] KINDS = {"lookup", "getattr", "read", "write", "create", "remove", "readdirplus",
            "rename", "lower-read"};

    @Test void sixteenClientsMixedOperations() throws Exception {
        AtomicLongArray counts = new AtomicLongArray(KINDS.length);
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
             ExecutorService pool = Executors.newFixedThreadPool(CLIENTS)) {
            List<Future<Map<String, byte[]>>> results = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                int id = i;
                results.add(pool.submit(() -> client(t.port(), id, counts)));
            }
            List<Map<String, byte[]>> models = new ArrayList<>();
            for (Future<Map<String, byte[]>> f : results) models.add(f.get());

            long total = 0;
            StringBuilder line = new StringBuilder("load: ");
            for (int k = 0; k < KINDS.length; k++) {
                line.append(KINDS[k]).append('=').append(counts.get(k)).append(' ');
                total += counts.get(k);
            }
            System.out.println(line.append("total=").append(total).append(" server errors=")
                    .append(t.server.stats().errors()));
            assertEquals((long) CLIENTS * OPS, total);
            assertEquals(0, t.server.stats().errors(), "no request answered with an error");

            // The tree on disk: each client's directory holds exactly its model; the lower is untouched.
            for (int i = 0; i < CLIENTS; i++) {
                Path d = t.upper.resolve("c" + i);
                Map<String, String> onDisk = new TreeMap<>(), model = new TreeMap<>();
                try (Stream<Path> s = Files.list(d)) {
                    for (Path p : s.toList()) onDisk.put(p.getFileName().toString(), hex(Files.readAllBytes(p)));
                }
                models.get(i).forEach((k, v) -> model.put(k, hex(v)));
                assertEquals(model, onDisk, "client " + i);
            }
            try (Stream<Path> s = Files.list(t.lower.resolve("dir"))) {
                assertEquals(302, s.count());
            }
            assertEquals("x7", Files.readString(t.lower.resolve("dir/f7")));
            assertFalse(Files.exists(t.upper.resolve("dir")), "lower reads copied nothing up");
        }
    }

    private static String hex(byte[] b) { return java.util.HexFormat.of().formatHex(b); }

    /** One client's run; returns its model of its directory (name → content). */
    private static Map<String, byte[]> client(int port, int id, AtomicLongArray counts) throws Exception {
        Random rnd = new Random(1000 + id);
        Map<String, byte[]> model = new HashMap<>();
        Map<String, nfs_fh3> handles = new HashMap<>();
        int next = 0;
        try (NfsCalls n = new NfsCalls(port, 0, 0)) {
            nfs_fh3 root = n.root("/");
            nfs_fh3 dir = n.mkdir(root, "c" + id);
            nfs_fh3 lowerDir = n.lookup(root, "dir");
            for (int op = 0; op < OPS; op++) {
                List<String> names = new ArrayList<>(new TreeSet<>(model.keySet()));
                int kind = rnd.nextInt(KINDS.length);
                // with few files, create; with many, remove: the directory stays between 0 and ~24 entries
                if (names.isEmpty() && kind != 6 && kind != 8) kind = 4;
                if (names.size() > 24 && kind == 4) kind = 5;
                String name = names.isEmpty() ? null : names.get(rnd.nextInt(names.size()));
                switch (KINDS[kind]) {
                    case "lookup" -> assertEquals(n.getattr(handles.get(name)).fileid,
                            n.getattr(n.lookup(dir, name)).fileid);
                    case "getattr" -> assertEquals(model.get(name).length, n.getattr(handles.get(name)).size);
                    case "read" -> assertArrayEquals(model.get(name), n.readAll(handles.get(name)), name);
                    case "write" -> {
                        byte[] data = new byte[256 + rnd.nextInt(8192)];
                        rnd.nextBytes(data);
                        byte[] old = model.get(name);
                        long off = rnd.nextInt(old.length + 1);
                        n.write(handles.get(name), off, data, rnd.nextBoolean() ? stable_how.UNSTABLE
                                : stable_how.FILE_SYNC);
                        byte[] now = Arrays.copyOf(old, (int) Math.max(old.length, off + data.length));
                        System.arraycopy(data, 0, now, (int) off, data.length);
                        model.put(name, now);
                    }
                    case "create" -> {
                        String nn = "f" + next++;
                        handles.put(nn, n.create(dir, nn));
                        model.put(nn, new byte[0]);
                    }
                    case "remove" -> {
                        n.remove(dir, name);
                        model.remove(name);
                        handles.remove(name);
                    }
                    case "readdirplus" -> assertEquals(new TreeSet<>(model.keySet()),
                            new TreeSet<>(n.readdirplus(dir).keySet()));
                    case "rename" -> {
                        String nn = "r" + next++;
                        n.rename(dir, name, dir, nn);
                        model.put(nn, model.remove(name));
                        handles.put(nn, handles.remove(name));      // the handle follows the object
                    }
                    case "lower-read" -> {
                        int k = rnd.nextInt(300);
                        assertEquals("x" + k, new String(n.readAll(n.lookup(lowerDir, "f" + k)),
                                StandardCharsets.UTF_8));
                    }
                    default -> throw new AssertionError(kind);
                }
                counts.incrementAndGet(kind);
            }
        }
        return model;
    }
}
