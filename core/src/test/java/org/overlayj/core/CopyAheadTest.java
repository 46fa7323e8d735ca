package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A write open of a large lower file copies its data before the namespace write lock (CopyUp.CopiedData): other
 * namespace operations run meanwhile, and the copy-up that follows is the same on disk as one done under the
 * lock. The timeouts below only turn a deadlock (the lock held during the copy) into a failure.
 */
class CopyAheadTest {
    private static final int MIB = 1 << 20;

    private static Layers layers() throws Exception {
        Layers L = new Layers(1);
        // 0755 spelled out: an earlier mount in this JVM set the process umask to 0
        Layers.sh("cd " + L.root + " && mkdir -m 755 l1/d && head -c " + (3 * MIB + 123) + " /dev/urandom > l1/d/big"
                + " && chmod 640 l1/d/big && touch -d @1500000000.123456789 l1/d/big"
                + " && setfattr -n user.k -v v l1/d/big"
                + " && cp -a l1/d/big l1/d/big.orig && echo small > l1/d/small");
        return L;
    }

    interface Work {
        void run() throws Exception;
    }

    /** Runs {@code work} on another thread and waits for it; a deadlock (60 s) fails with {@code failure}. */
    private static void onAnotherThread(String failure, Work work) {
        CompletableFuture<Void> other = CompletableFuture.runAsync(() -> {
            try {
                work.run();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        try {
            other.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(failure, e);
        }
    }

    /** Everything a copy-up sets on the upper file but the data: mode, owner, mtime, xattr names. */
    private static String meta(Layers L, String rel) throws Exception {
        return Layers.shOut("cd " + L.root + " && stat -c '%a %u %g %Y %y' " + rel
                + " && getfattr -d -m - --absolute-names " + rel + " | grep -v '^#' | cut -d= -f1 | sort");
    }

    @Test void otherNamespaceOperationsRunDuringTheCopy() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            Node d = EngineSmokeTest.walk(o, "d");
            Node big = o.lookup(d, "big", Creds.ROOT);
            AtomicInteger calls = new AtomicInteger();
            EngineSeam.probe(o).afterCopyAhead = () -> {
                calls.incrementAndGet();
                // the opener holds no lock now: a create, a mkdir and a rename elsewhere complete
                onAnotherThread("a namespace operation waited for the copy", () -> {
                    o.create(d, "new", 0644, Creds.ROOT);
                    o.mkdir(o.root(), "dir", 0755, Creds.ROOT);
                    o.rename(d, "new", o.root(), "moved", 0, Creds.ROOT);
                });
            };
            o.release(o.open(big, Linux.O_WRONLY | Linux.O_APPEND, Creds.ROOT));
            EngineSeam.probe(o).afterCopyAhead = () -> { };
            assertEquals(1, calls.get(), "the data was copied ahead once");
            Layers.sh("cd " + L.root + " && test -e upper/moved && test -d upper/dir && cmp upper/d/big l1/d/big"
                    + " && test -z \"$(ls -A work/work)\"");
            // the metadata of a copy-up under the lock (small) and ahead (big) come out alike
            o.release(o.open(o.lookup(d, "small", Creds.ROOT), Linux.O_WRONLY, Creds.ROOT));
            String bigMeta = meta(L, "upper/d/big"), lowerMeta = meta(L, "l1/d/big.orig");
            assertEquals(lowerMeta.lines().skip(1).filter(s -> !s.contains("overlay")).toList(),
                    bigMeta.lines().skip(1).filter(s -> !s.contains("overlay")).toList(), "user xattrs");
            assertEquals(lowerMeta.lines().findFirst(), bigMeta.lines().findFirst(), "mode, owner, mtime");
            assertTrue(bigMeta.contains("trusted.overlay.origin"), bigMeta);
            assertEquals(meta(L, "upper/d/small").lines().filter(s -> s.contains("overlay")).toList(),
                    bigMeta.lines().filter(s -> s.contains("overlay")).toList(), "overlay xattrs");
            // and the file is the upper one from now on
            OpenFile f = o.open(big, Linux.O_WRONLY | Linux.O_APPEND, Creds.ROOT);
            o.write(f, 3 * MIB + 123, new byte[] {'x'}, 0, 1);
            o.release(f);
            Layers.sh("cd " + L.root + " && head -c " + (3 * MIB + 123) + " upper/d/big | cmp - l1/d/big"
                    + " && test \"$(tail -c 1 upper/d/big)\" = x");
            assertEquals(1, calls.get(), "an upper file is not copied again");
        }
    }

    /**
     * One fsync per copied file, after its data, as the kernel's copy-up (ovl_copy_up_file syncs the data, the
     * metadata follows unsynced): data copied ahead was synced there and used to be synced a second time under the
     * lock after its metadata (2 fsyncs per large copy-up in strace of a 512 MiB append through the FUSE door).
     */
    @Test void aCopyUpSyncsTheCopyOnce() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            AtomicInteger calls = new AtomicInteger();
            EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
            o.release(o.open(EngineSmokeTest.walk(o, "d/big"), Linux.O_WRONLY | Linux.O_APPEND, Creds.ROOT));
            assertEquals(1, calls.get(), "the large file was copied ahead");
            assertEquals(1, EngineSeam.probe(o).copySyncs.sum(), "fsyncs of the copied-ahead file");
            o.release(o.open(EngineSmokeTest.walk(o, "d/small"), Linux.O_WRONLY, Creds.ROOT));
            assertEquals(1, calls.get(), "the small file was copied under the lock");
            assertEquals(2, EngineSeam.probe(o).copySyncs.sum(), "fsyncs after the small file's copy too");
            Layers.sh("cd " + L.root + " && cmp upper/d/big l1/d/big.orig && cmp upper/d/small l1/d/small"
                    + " && test $(stat -c %a upper/d/big) = 640 && getfattr -n user.k upper/d/big >/dev/null"
                    + " && test -z \"$(ls -A work/work)\"");
        }
    }

    @Test void aCopyUpDoneMeanwhileDropsTheDataCopiedAhead() throws Exception {
        try (Layers L = layers()) {
            Layers.sh("ln " + L.root + "/l1/d/big " + L.root + "/l1/d/alias");  // indexed: a lower hard link
            try (Overlay o = L.mount(true, false)) {
                Node big = EngineSmokeTest.walk(o, "d/big");
                AtomicInteger calls = new AtomicInteger();
                EngineSeam.probe(o).afterCopyAhead = () -> {
                    if (calls.incrementAndGet() != 1) return;
                    onAnotherThread("the second opener waited for the first", () -> {
                        OpenFile g = o.open(big, Linux.O_RDWR, Creds.ROOT);
                        o.write(g, 0, new byte[] {'A'}, 0, 1);
                        o.release(g);
                    });
                };
                OpenFile f = o.open(big, Linux.O_WRONLY, Creds.ROOT);
                o.write(f, 1, new byte[] {'B'}, 0, 1);
                o.release(f);
                assertEquals(2, calls.get(), "both openers copied ahead");
            }
            // one copy-up, with both writes in it: the first opener's copy was dropped, not linked over
            Layers.sh("cd " + L.root + " && test \"$(head -c 2 upper/d/big)\" = AB"
                    + " && cmp <(tail -c +3 upper/d/big) <(tail -c +3 l1/d/big)"
                    + " && test $(ls work/index | wc -l) = 1 && test upper/d/big -ef work/index/$(ls work/index)"
                    + " && test -z \"$(ls -A work/work)\"");
        }
    }

    @Test void aLowerChangedMeanwhileIsCopiedAgainUnderTheLock() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            Node big = EngineSmokeTest.walk(o, "d/big");
            EngineSeam.probe(o).afterCopyAhead = () -> {
                try {
                    Layers.sh("cd " + L.root + " && echo changed >> l1/d/big");
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            };
            o.release(o.open(big, Linux.O_WRONLY, Creds.ROOT));
            Layers.sh("cd " + L.root + " && cmp upper/d/big l1/d/big && tail -c 8 upper/d/big | grep -q changed");
        }
    }

    @Test void smallFilesAndReadOpensCopyNothingAhead() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            AtomicInteger calls = new AtomicInteger();
            EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
            o.release(o.open(EngineSmokeTest.walk(o, "d/big"), Linux.O_RDONLY, Creds.ROOT));
            o.release(o.open(EngineSmokeTest.walk(o, "d/small"), Linux.O_RDWR, Creds.ROOT));
            assertEquals(0, calls.get());
            Layers.sh("cd " + L.root + " && test ! -e upper/d/big && cmp upper/d/small l1/d/small");
        }
    }

    @Test void aSetattrCopiesAheadForACallerAllowedToDoIt() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            Node big = EngineSmokeTest.walk(o, "d/big");
            AtomicInteger calls = new AtomicInteger();
            EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
            Creds stranger = new Creds(4242, 4242, null);
            assertThrows(ErrnoException.class, () -> o.setattr(big, SetAttr.chmod(0600), stranger));
            assertEquals(0, calls.get(), "nothing copied for a caller who may not chmod");
            Layers.sh("cd " + L.root + " && test ! -e upper/d/big");
            o.setattr(big, SetAttr.chmod(0600), Creds.ROOT);
            assertEquals(1, calls.get());
            Layers.sh("cd " + L.root + " && cmp upper/d/big l1/d/big && test $(stat -c %a upper/d/big) = 600"
                    + " && test -z \"$(ls -A work/work)\"");
        }
    }

    @Test void anOTruncOpenCopiesNoData() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            Node big = EngineSmokeTest.walk(o, "d/big");
            AtomicInteger calls = new AtomicInteger();
            EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
            OpenFile f = o.open(big, Linux.O_WRONLY | Linux.O_TRUNC, Creds.ROOT);
            o.write(f, 0, new byte[] {'n', 'e', 'w'}, 0, 3);
            o.release(f);
            assertEquals(0, calls.get(), "nothing copied ahead");
            assertEquals(0, EngineSeam.probe(o).dataCopies.sum(), "no data copied up");
            assertEquals(3, o.getattr(big).size());
            Layers.sh("cd " + L.root + " && test \"$(cat upper/d/big)\" = new && test $(stat -c %a upper/d/big) = 640"
                    + " && getfattr -n trusted.overlay.origin upper/d/big >/dev/null && getfattr -n user.k upper/d/big"
                    + " && test -z \"$(ls -A work/work)\"");
            // an open without O_TRUNC still copies the data
            o.release(o.open(EngineSmokeTest.walk(o, "d/small"), Linux.O_WRONLY, Creds.ROOT));
            assertEquals(1, EngineSeam.probe(o).dataCopies.sum());
        }
    }

    @Test void aTruncateCopiesOnlyWhatItKeeps() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            Layers.sh("cd " + L.root + " && head -c " + (5 * MIB) + " /dev/urandom > l1/d/huge"
                    + " && truncate -s +3M l1/d/huge"
                    + " && cp -a l1/d/huge l1/d/huge2");
            AtomicInteger calls = new AtomicInteger();
            EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
            // to nothing: no data at all; to 2 MiB: two of the five MiB, copied ahead; past the end: all of it
            o.setattr(EngineSmokeTest.walk(o, "d/big"), SetAttr.truncate(0), Creds.ROOT);
            assertEquals(0, EngineSeam.probe(o).dataCopies.sum());
            o.setattr(EngineSmokeTest.walk(o, "d/huge"), SetAttr.truncate(2 * MIB), Creds.ROOT);
            assertEquals(1, calls.get());
            o.setattr(EngineSmokeTest.walk(o, "d/huge2"), SetAttr.truncate(9 * MIB), Creds.ROOT);
            assertEquals(2, calls.get());
            Layers.sh("cd " + L.root + " && test $(stat -c %s upper/d/big) = 0"
                    + " && test $(stat -c %s upper/d/huge) = " + 2 * MIB
                    + " && cmp upper/d/huge <(head -c " + 2 * MIB + " l1/d/huge)"
                    + " && test $(stat -c %s upper/d/huge2) = " + 9 * MIB
                    + " && cmp <(head -c " + 8 * MIB + " upper/d/huge2) l1/d/huge2"
                    + " && test \"$(tail -c +" + (8 * MIB + 1) + " upper/d/huge2 | tr -d '\\0')\" = ''"
                    + " && test -z \"$(ls -A work/work)\"");
        }
    }

    @Test void renameAndLinkOfALargeLowerFileCopyAhead() throws Exception {
        try (Layers L = layers()) {
            Layers.sh("cd " + L.root + " && cp -a l1/d/big l1/d/big2");
            try (Overlay o = L.mount(false, false)) {
                Node d = EngineSmokeTest.walk(o, "d");
                AtomicInteger calls = new AtomicInteger();
                EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
                o.rename(d, "big", o.root(), "moved", 0, Creds.ROOT);
                assertEquals(1, calls.get());
                o.link(EngineSmokeTest.walk(o, "d/big2"), o.root(), "linked", Creds.ROOT);
                assertEquals(2, calls.get());
                assertEquals(2, EngineSeam.probe(o).dataCopies.sum(), "each copied once, ahead");
                Layers.sh("cd " + L.root + " && cmp upper/moved l1/d/big && test -c upper/d/big"
                        + " && cmp upper/linked l1/d/big2 && test upper/linked -ef upper/d/big2"
                        + " && test -z \"$(ls -A work/work)\"");
                Layers.sh("cd " + L.root + " && cp -a l1/d/small l1/d/big3 && head -c 2M /dev/zero >> l1/d/big3");
            }
            try (Overlay o = L.mount(false, false)) {      // a caller who may not write the directories: no copy
                AtomicInteger calls = new AtomicInteger();
                EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
                Node d = EngineSmokeTest.walk(o, "d");
                assertThrows(ErrnoException.class,
                        () -> o.rename(d, "big3", o.root(), "x", 0, new Creds(4242, 4242, null)));
                assertEquals(0, calls.get());
            }
        }
    }

    @Test void xattrChangesOfALargeLowerFileCopyAhead() throws Exception {
        try (Layers L = layers(); Overlay o = L.mount(false, false)) {
            Layers.sh("cd " + L.root + " && cp -a l1/d/big l1/d/big2");
            AtomicInteger calls = new AtomicInteger();
            EngineSeam.probe(o).afterCopyAhead = calls::incrementAndGet;
            Node big = EngineSmokeTest.walk(o, "d/big"), big2 = EngineSmokeTest.walk(o, "d/big2");
            assertThrows(ErrnoException.class, () -> o.removexattr(big2, "user.absent", Creds.ROOT));
            assertEquals(0, calls.get(), "no copy for an xattr that is not there");
            o.setxattr(big, "user.new", new byte[] {'v'}, 0, Creds.ROOT);
            o.removexattr(big2, "user.k", Creds.ROOT);
            assertEquals(2, calls.get());
            Layers.sh("cd " + L.root + " && cmp upper/d/big l1/d/big && cmp upper/d/big2 l1/d/big2"
                    + " && getfattr -n user.new upper/d/big && ! getfattr -n user.k upper/d/big2"
                    + " && test -z \"$(ls -A work/work)\"");
        }
    }
}
