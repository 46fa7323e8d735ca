package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.EngineSmokeTest.walk;

/** One copy-up per object: threads writing different aliases of one lower hard link end on one index entry. */
class IndexConcurrencyTest {
    static final int ALIASES = 6;

    @Test void concurrentAliasesEndOnOneIndexEntry() throws Exception {
        int rounds = Integer.getInteger("overlayj.concurrencyRounds", 100);
        try (Layers L = new Layers(1)) {
            StringBuilder setup = new StringBuilder("cd " + L.root + " && mkdir -p l1/d1 l1/d2 && echo base > l1/a0");
            for (int i = 1; i < ALIASES; i++) setup.append(" && ln l1/a0 l1/d").append(1 + i % 2).append("/a").append(i);
            Layers.sh(setup.toString());
            ExecutorService pool = Executors.newFixedThreadPool(ALIASES);
            try {
                for (int round = 0; round < rounds; round++) {
                    Layers.sh("cd " + L.root + " && rm -rf upper work && mkdir upper work");
                    try (Overlay o = L.mount(true, false)) {
                        List<String> paths = new ArrayList<>();
                        paths.add("a0");
                        for (int i = 1; i < ALIASES; i++) paths.add("d" + (1 + i % 2) + "/a" + i);
                        CountDownLatch go = new CountDownLatch(1);
                        List<Future<?>> fs = new ArrayList<>();
                        for (String p : paths) {
                            fs.add(pool.submit(() -> {
                                go.await();
                                Node n = walk(o, p);
                                OpenFile f = o.open(n, Linux.O_WRONLY | Linux.O_APPEND, Creds.ROOT);
                                byte[] b = (p + "\n").getBytes();
                                o.write(f, 0, b, 0, b.length);
                                o.release(f);
                                return null;
                            }));
                        }
                        go.countDown();
                        for (Future<?> f : fs) f.get(60, TimeUnit.SECONDS); // a hang fails here, not forever
                        List<String> idx;
                        try (var s = Files.list(L.work.resolve("index"))) {
                            idx = s.map(x -> x.getFileName().toString()).toList();
                        }
                        assertEquals(1, idx.size(), "round " + round + ": " + idx);
                        // Aliases share one overlay inode, so which names got linked up depends on lookup order
                        // (an open names an inode, not an alias — in FUSE too); every one that did is the index inode.
                        Stat ist = Linux.lstat(L.work.resolve("index").resolve(idx.getFirst()).toString());
                        int upperAliases = 0;
                        for (String p : paths) {
                            Stat st = Linux.lstatOrNull(L.upper.resolve(p).toString());
                            if (st == null) continue;
                            assertEquals(ist.ino(), st.ino(), "round " + round + " " + p);
                            upperAliases++;
                        }
                        assertTrue(upperAliases >= 1);
                        assertEquals(upperAliases + 1, ist.nlink());
                        String content = Files.readString(L.work.resolve("index").resolve(idx.getFirst()));
                        for (String p : paths) assertTrue(content.contains(p + "\n"), "round " + round + ": " + content);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
