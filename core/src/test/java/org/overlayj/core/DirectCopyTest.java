package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Large copy-ups where no reflink is possible move their data with O_DIRECT (DirectCopy), unless the lower file is
 * mostly cached or small: the copies are byte for byte whatever the size's alignment, keep holes, stop at a
 * shorter size, and leave both files' flags as they were.
 */
class DirectCopyTest {
    private static final long MIB = 1 << 20;

    /**
     * Runs {@code make}, then drops the page cache of {@code f} (POSIX_FADV_DONTNEED through dd), as if it had not
     * been read lately; fails where the test root's filesystem keeps it (tmpfs: its pages are the file).
     */
    private static void makeCold(String make, String f) throws Exception {
        Layers.sh(make + " && sync " + f + " && dd if=" + f + " iflag=nocache count=0 status=none");
        int fd = Linux.open(f, Linux.O_RDONLY, 0);
        try {
            assertEquals(0, Linux.cachedPages(fd, 0, 0), f + " stays cached: the test root must be on a disk fs");
        } finally {
            Linux.close(fd);
        }
    }

    /** copyData of the first {@code size} bytes of src into a new dst; returns whether it went direct. */
    private static boolean copy(String src, String dst, long size) throws Exception {
        int in = Linux.open(src, Linux.O_RDONLY, 0);
        int out = Linux.open(dst, Linux.O_CREAT | Linux.O_EXCL | Linux.O_RDWR, 0600);
        try {
            int inFlags = Linux.fileFlags(in), outFlags = Linux.fileFlags(out);
            long before = DirectCopy.started.sum();
            CopyUp.copyData(in, out, size);
            assertEquals(inFlags, Linux.fileFlags(in), "the lower fd's flags are back");
            assertEquals(outFlags, Linux.fileFlags(out), "the copy's flags are back");
            assertEquals(size, Linux.fstat(out).size());
            return DirectCopy.started.sum() > before;
        } finally {
            Linux.close(in);
            Linux.close(out);
        }
    }

    @Test void coldLargeFilesAreCopiedDirectByteForByte() throws Exception {
        try (Layers L = new Layers(1)) {
            for (long size : new long[]{8 * MIB, 8 * MIB + 123, 13 * MIB + 4095, 17 * MIB + 4097}) {
                String src = L.root + "/src" + size, dst = L.root + "/dst" + size;
                makeCold("head -c " + size + " /dev/urandom > " + src, src);
                assertTrue(copy(src, dst, size), "direct at " + size);
                Layers.sh("cmp " + src + " " + dst);
            }
        }
    }

    @Test void copiesOfMoreThanAChunkMoveSeveralAtATime() throws Exception {
        try (Layers L = new Layers(1)) {
            String src = L.root + "/src", dst = L.root + "/dst";
            long size = 3 * DirectCopy.CHUNK + 4097;
            makeCold("head -c " + size + " /dev/urandom > " + src, src);
            long before = DirectCopy.parallel.sum();
            // an interrupt pending on the copying thread neither ends the copy early nor is lost
            Thread.currentThread().interrupt();
            try {
                assertTrue(copy(src, dst, size));
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is kept");
            } finally {
                Thread.interrupted();
            }
            assertTrue(DirectCopy.parallel.sum() > before, "helpers ran");
            Layers.sh("cmp " + src + " " + dst);
        }
    }

    /**
     * The chunks are transparent huge pages, so that each is one disk request (DirectCopy.Buffer): advised, and
     * backed by huge pages once a copy has read into them, unless THP is off ("[never]"). The test JVM's heap does
     * not ask for huge pages (no -XX:+UseTransparentHugePages), so the AnonHugePages of this process are the chunks'.
     */
    @Test void theChunksAreHugePages() throws Exception {
        try (Layers L = new Layers(1)) {
            String src = L.root + "/src", dst = L.root + "/dst";
            long size = 3 * DirectCopy.CHUNK;
            makeCold("head -c " + size + " /dev/urandom > " + src, src);
            assertTrue(copy(src, dst, size));
            Layers.sh("cmp " + src + " " + dst);
            assertTrue(DirectCopy.hugeChunks.sum() > 0, "the chunks (made here or by an earlier copy) were advised");
            String thp = java.nio.file.Files.readString(java.nio.file.Path.of(
                    "/sys/kernel/mm/transparent_hugepage/enabled"));
            if (!thp.contains("[never]")) {
                assertTrue(anonHugeBytes() >= DirectCopy.CHUNK, "THP is " + thp.trim() + ": a chunk in huge pages");
            }
        }
    }

    /** AnonHugePages of this process (smaps_rollup), in bytes. */
    private static long anonHugeBytes() throws Exception {
        for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/smaps_rollup"))) {
            if (l.startsWith("AnonHugePages:")) return Long.parseLong(l.split("\\s+")[1]) * 1024;
        }
        throw new AssertionError("no AnonHugePages in /proc/self/smaps_rollup");
    }

    /** The workers stop at the input's end and at a refused write: what was copied is counted, no more. */
    @Test void aParallelCopyCountsWhatItCopied() throws Exception {
        try (Layers L = new Layers(1)) {
            String src = L.root + "/src", dst = L.root + "/dst";
            long size = 2 * DirectCopy.CHUNK + 5;
            makeCold("head -c " + size + " /dev/urandom > " + src, src);
            int in = Linux.open(src, Linux.O_RDONLY, 0);
            int out = Linux.open(dst, Linux.O_CREAT | Linux.O_EXCL | Linux.O_RDWR, 0600);
            int ro = Linux.open(dst, Linux.O_RDONLY, 0);
            try {
                try (DirectCopy d = DirectCopy.open(in, out)) {
                    assertNotNull(d);
                    assertEquals(size, d.copy(0, 5L * DirectCopy.CHUNK), "to the input's end");
                }
                Linux.ftruncate(out, size);
                Layers.sh("cmp " + src + " " + dst);
                try (DirectCopy d = DirectCopy.open(in, ro)) {
                    assertNotNull(d);
                    assertEquals(0, d.copy(0, size), "every write refused (EBADF)");
                }
            } finally {
                Linux.close(in);
                Linux.close(out);
                Linux.close(ro);
            }
        }
    }

    @Test void aShorterCopyStopsAtItsSize() throws Exception {
        try (Layers L = new Layers(1)) {
            String src = L.root + "/src", dst = L.root + "/dst";
            long size = 9 * MIB + 7;
            makeCold("head -c " + 20 * MIB + " /dev/urandom > " + src, src);
            assertTrue(copy(src, dst, size));
            Layers.sh("head -c " + size + " " + src + " | cmp - " + dst);
        }
    }

    @Test void holesStayHoles() throws Exception {
        try (Layers L = new Layers(1)) {
            String src = L.root + "/src", dst = L.root + "/dst";
            makeCold("dd if=/dev/urandom of=" + src + " bs=1M count=1 status=none"
                    + " && dd if=/dev/urandom of=" + src + " bs=1 count=100 seek=" + (20 * MIB + 5)
                    + " conv=notrunc status=none && truncate -s " + 32 * MIB + " " + src, src);
            assertTrue(copy(src, dst, 32 * MIB));
            Layers.sh("cmp " + src + " " + dst);
            assertTrue(Linux.lstat(dst).blocks() * 512 < 4 * MIB, "sparse: " + Linux.lstat(dst).blocks());
        }
    }

    @Test void cachedOrSmallLowerFilesAreCopiedThroughTheCache() throws Exception {
        try (Layers L = new Layers(1)) {
            String cached = L.root + "/cached", small = L.root + "/small";
            makeCold("head -c " + (DirectCopy.MIN - 1) + " /dev/urandom > " + small, small);
            Layers.sh("head -c " + 9 * MIB + " /dev/urandom > " + cached + " && cat " + cached + " > /dev/null");
            assertFalse(copy(cached, cached + ".copy", 9 * MIB), "mostly cached: through the cache");
            assertFalse(copy(small, small + ".copy", DirectCopy.MIN - 1), "small: through the cache");
            Layers.sh("cmp " + cached + " " + cached + ".copy && cmp " + small + " " + small + ".copy");
        }
    }

    @Test void aFileWithoutDirectIoIsLeftAsItWas() throws Exception {
        try (Layers L = new Layers(1)) {
            int proc = Linux.open("/proc/self/status", Linux.O_RDONLY, 0);
            int out = Linux.open(L.root + "/out", Linux.O_CREAT | Linux.O_RDWR, 0600);
            try {
                int outFlags = Linux.fileFlags(out);
                assertNull(DirectCopy.open(proc, out), "procfs refuses O_DIRECT");
                assertEquals(outFlags, Linux.fileFlags(out));
                assertNull(DirectCopy.open(out, proc), "either side");
                assertEquals(outFlags, Linux.fileFlags(out), "the side that took O_DIRECT has it cleared again");
            } finally {
                Linux.close(proc);
                Linux.close(out);
            }
        }
    }

    @Test void aColdLargeLowerFileIsCopiedUpDirect() throws Exception {
        try (Layers L = new Layers(1)) {
            makeCold("cd " + L.root + " && mkdir -m 755 l1/d && head -c " + (9 * MIB + 5) + " /dev/urandom > l1/d/big"
                    + " && touch -d @1500000000.123456789 l1/d/big", L.root + "/l1/d/big");
            try (Overlay o = L.mount(true, false)) {
                long before = DirectCopy.started.sum();
                Node big = o.lookup(EngineSmokeTest.walk(o, "d"), "big", Creds.ROOT);
                o.release(o.open(big, Linux.O_WRONLY | Linux.O_APPEND, Creds.ROOT));
                assertTrue(DirectCopy.started.sum() > before, "went direct");
            }
            Layers.sh("cd " + L.root + " && cmp l1/d/big upper/d/big"
                    + " && test \"$(stat -c %Y.%y l1/d/big)\" = \"$(stat -c %Y.%y upper/d/big)\"");
        }
    }

    /**
     * Across filesystems copy_file_range gives EXDEV and the data goes through a buffer no larger than what is left
     * (a small lower file no longer costs a zeroed 1 MiB array): small, odd, multi-chunk and holed files, from tmpfs
     * (/dev/shm) to the test root's disk filesystem, byte for byte.
     */
    @Test void copiesAcrossFilesystemsAreByteForByte() throws Exception {
        String shm = java.nio.file.Files.createTempDirectory(java.nio.file.Path.of("/dev/shm"), "overlayj-test-").toString();
        try (Layers L = new Layers(1)) {
            assertNotEquals(Linux.stat(shm).dev(), Linux.stat(L.root.toString()).dev(), "/dev/shm is a filesystem of its own");
            long[] sizes = {1, 4095, 5000, MIB - 1, MIB + 1, 2 * MIB + 3};
            for (long size : sizes) {
                String src = shm + "/src" + size, dst = L.root + "/dst" + size;
                Layers.sh("head -c " + size + " /dev/urandom > " + src);
                assertFalse(copy(src, dst, size), "not direct at " + size);
                Layers.sh("cmp " + src + " " + dst);
            }
            // a hole in the middle stays a hole, the data on both sides of it is copied
            String src = shm + "/holed", dst = L.root + "/holed";
            Layers.sh("head -c 5000 /dev/urandom > " + src + " && truncate -s " + (3 * MIB) + " " + src
                    + " && head -c 7000 /dev/urandom >> " + src);
            long size = 3 * MIB + 7000;
            copy(src, dst, size);
            Layers.sh("cmp " + src + " " + dst);
            assertTrue(Linux.stat(dst).blocks() * 512 < MIB, "the hole was not written");
        } finally {
            Layers.sh("rm -rf " + shm);
        }
    }
}
