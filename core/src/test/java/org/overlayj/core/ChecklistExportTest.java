package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.ChecklistTwin.Fs;
import org.overlayj.core.ChecklistTwin.Mount;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.ChecklistTwin.errno;

/** Format doc §10 items 23–25 (NFS handles, stale handles, st_ino/d_ino and xino), engine vs kernel. */
class ChecklistExportTest {

    /** The legacy 0xfb form of a 0xf8 handle: the blob without the 3 pad bytes, padded at the end to 4 bytes. */
    static byte[] legacy(byte[] h) {
        byte[] blob = Arrays.copyOfRange(h, 3, h.length);
        return Arrays.copyOf(blob, (blob.length + 3) / 4 * 4);
    }

    static String handleLine(ChecklistTwin t, Fs fs, String p) throws Exception {
        byte[] h = fs.handle(p);
        long ino = fs.stat(p).ino();
        return p + ": " + t.showHandle(h) + " decodes: " + (fs.decodeIno(h) == ino) + " as 0xfb: "
                + ChecklistIndexTest.orErrno(() -> String.valueOf(fs.decodeInoLegacy(legacy(h)) == ino));
    }

    @Test void item23_handleLayoutLowerUpperAndLegacy() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo f > l1/f && mkdir l1/d && echo g > l1/g && ln l1/g l1/g2 && echo c > l1/c")) {
            var k = t.compare("index=on,nfs_export=on", (fs, out) -> {
                fs.append("g", "1\n");
                fs.append("c", "1\n");
                fs.append("n", "new\n");
                fs.mkdir("nd", 0755);
                for (String p : List.of("", "f", "d", "g", "g2", "c", "n", "nd")) out.add(handleLine(t, fs, p));
            });
            String root = k.transcript().get(0);
            assertTrue(root.startsWith(": upper-blob[00000000fb1d04") && root.contains(" -> /] decodes: true"), root);
            for (int i = 1; i <= 5; i++) assertTrue(k.transcript().get(i).matches("\\S+: 00000000fb..00.*decodes: true as 0xfb: true"), k.transcript().get(i));
            assertTrue(k.transcript().get(6).startsWith("n: upper-blob[00000000fb1d04") && k.transcript().get(6).contains("-> n]"), k.transcript().get(6));
            assertTrue(k.transcript().get(7).startsWith("nd: upper-blob[00000000fb1d04") && k.transcript().get(7).contains("-> nd]"), k.transcript().get(7));
        }
    }

    @Test void item24_deletedObjectsAreStaleRedirectedLowerDirStillResolves() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, "echo h > l1/h && ln l1/h l1/hb && mkdir -p l1/d/e && echo x > l1/d/e/x")) {
            AtomicReference<byte[]> h = new AtomicReference<>(), n = new AtomicReference<>(), d = new AtomicReference<>();
            var k = t.compare("index=on,nfs_export=on", new Mount("index=on,nfs_export=on,redirect_dir=on", (fs, out) -> {
                fs.append("n", "new\n");
                h.set(fs.handle("h"));
                n.set(fs.handle("n"));
                d.set(fs.handle("d/e"));
                fs.unlink("h");
                fs.unlink("hb");
                fs.unlink("n");
                fs.rename("d/e", "d/e2");
                out.add("h: " + errno(() -> fs.decodeIno(h.get())) + " n: " + errno(() -> fs.decodeIno(n.get())));
                out.add("d/e -> d/e2: " + (fs.decodeIno(d.get()) == fs.stat("d/e2").ino()));
            }), new Mount("index=on,nfs_export=on,redirect_dir=on", (fs, out) -> {
                out.add("after remount h: " + errno(() -> fs.decodeIno(h.get())) + " n: " + errno(() -> fs.decodeIno(n.get())));
                out.add("d/e -> d/e2: " + (fs.decodeIno(d.get()) == fs.stat("d/e2").ino()));
            }));
            assertEquals(List.of("h: ESTALE n: ESTALE", "d/e -> d/e2: true", "after remount h: ESTALE n: ESTALE", "d/e -> d/e2: true"),
                    k.transcript());
        }
    }

    static void inoLines(Fs fs, List<String> out, String dir, long lowerFsBits) throws Exception {
        Map<String, Long> dino = fs.dino(dir);
        for (var e : dino.entrySet()) {
            String p = dir.isEmpty() ? e.getKey() : dir + "/" + e.getKey();
            Stat st = fs.stat(p);
            out.add(p + ": d_ino=st_ino " + (e.getValue() == st.ino()) + " fsid bits " + Long.toHexString(st.ino() & lowerFsBits));
        }
    }

    @Test void item25_stInoAndDinoSameFsAndXino() throws Exception {
        // one filesystem: a copied-up object keeps its lower st_ino, and readdir's d_ino agrees
        try (ChecklistTwin t = new ChecklistTwin(1, "echo f > l1/f && mkdir -p l1/d && echo g > l1/d/g && echo s > l1/s")) {
            long f = Linux.lstat(t.L.lowers.getFirst() + "/f").ino(), g = Linux.lstat(t.L.lowers.getFirst() + "/d/g").ino();
            var k = t.compare("", (fs, out) -> {
                fs.append("f", "1\n");
                fs.append("d/g", "1\n");
                fs.append("n", "1\n");
                out.add("f keeps lower ino: " + (fs.stat("f").ino() == f) + " d/g: " + (fs.stat("d/g").ino() == g));
                inoLines(fs, out, "", 0);
                inoLines(fs, out, "d", 0);
            });
            assertEquals("f keeps lower ino: true d/g: true", k.transcript().getFirst());
            assertTrue(k.transcript().stream().skip(1).allMatch(l -> l.contains("d_ino=st_ino true")), k.transcript().toString());
        }
        // xino=on, a tmpfs lower under an ext4 upper: lower numbers carry fsid 1 in the top bits, upper ones 0
        try (ChecklistTwin t = new ChecklistTwin(0, "mkdir t && mount -t tmpfs tmpfs t && echo f > t/f && mkdir t/d && echo g > t/d/g")) {
            try {
                long high = 0xffffL << 48;
                var k = t.compare("lowerdir=$R/t,upperdir=$R/upper,workdir=$R/work,xino=on", (fs, out) -> {
                    fs.append("n", "1\n");
                    fs.append("d/g", "1\n");
                    out.add("f st_ino " + Long.toHexString(fs.stat("f").ino()) + " d " + Long.toHexString(fs.stat("d").ino()));
                    inoLines(fs, out, "", high);
                    inoLines(fs, out, "d", high);
                });
                assertTrue(k.transcript().contains("f: d_ino=st_ino true fsid bits 8000000000000000"), k.transcript().toString());
                assertTrue(k.transcript().contains("n: d_ino=st_ino true fsid bits 0"), k.transcript().toString());
                assertTrue(k.transcript().contains("d/g: d_ino=st_ino true fsid bits 8000000000000000"), k.transcript().toString());
            } finally {
                Layers.sh("umount " + t.L.root + "/t");
            }
        }
        // xino=on, an ext4 lower (loop device) under the ext4 /tmp: both use 32-bit inode handles, so 32 xino bits
        // and fsid 1 at bit 33 [E10b]
        try (ChecklistTwin t = new ChecklistTwin(0, "truncate -s 16M img && mkfs.ext4 -q -F img && mkdir e && mount -o loop img e"
                + " && echo f > e/f && mkdir e/d && echo g > e/d/g")) {
            try {
                long high = 0xffffffffL << 32;
                var k = t.compare("lowerdir=$R/e,upperdir=$R/upper,workdir=$R/work,xino=on", (fs, out) -> {
                    fs.append("n", "1\n");
                    inoLines(fs, out, "", high);
                    inoLines(fs, out, "d", high);
                });
                assertTrue(k.transcript().contains("f: d_ino=st_ino true fsid bits 200000000"), k.transcript().toString());
                assertTrue(k.transcript().contains("n: d_ino=st_ino true fsid bits 0"), k.transcript().toString());
            } finally {
                Layers.sh("umount " + t.L.root + "/e"); // -o loop: the loop device goes with the umount
            }
        }
    }
}
