package org.overlayj.sys;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** getdents64 through {@link Linux#readdir}: names, inode numbers, d_type, cookies, many buffers' worth. */
class ReaddirTest {
    private TempTree t;

    @BeforeEach void setUp() throws Exception {
        t = new TempTree();
    }

    @AfterEach void tearDown() throws Exception {
        t.close();
    }

    @Test void typesAndInodesOfEveryKind() throws Exception {
        Linux.mknod(t.path("reg"), Stat.S_IFREG | 0644, 0);
        Linux.mkdir(t.path("dir"), 0755);
        Linux.symlink("reg", t.path("lnk"));
        Linux.mknod(t.path("fifo"), Stat.S_IFIFO | 0644, 0);
        Linux.mkwhiteout(t.path("wh"));
        Linux.mknod(t.path("blk"), Stat.S_IFBLK | 0600, Linux.makedev(7, 200));
        Linux.mknod(t.path("sock"), Stat.S_IFSOCK | 0600, 0);
        Map<String, Integer> want = Map.of("reg", DirEnt.DT_REG, "dir", DirEnt.DT_DIR, "lnk", DirEnt.DT_LNK,
                "fifo", DirEnt.DT_FIFO, "wh", DirEnt.DT_CHR, "blk", DirEnt.DT_BLK, "sock", DirEnt.DT_SOCK,
                ".", DirEnt.DT_DIR, "..", DirEnt.DT_DIR);
        List<DirEnt> ents = Linux.readdir(t.root);
        Map<String, Integer> got = new TreeMap<>();
        for (DirEnt e : ents) {
            got.put(e.name(), e.type());
            if (!e.isDotOrDotDot()) {
                Stat s = Linux.lstat(t.path(e.name()));
                assertEquals(s.ino(), e.ino(), e.name());
                assertEquals(DirEnt.typeOfMode(s.mode()), e.type(), e.name());
            }
        }
        assertEquals(new TreeMap<>(want), got);
        assertEquals(Linux.lstat(t.root).ino(), ents.stream().filter(e -> e.name().equals(".")).findFirst()
                .orElseThrow().ino());
        assertTrue(ents.stream().filter(e -> e.name().equals("..")).findFirst().orElseThrow().isDotOrDotDot());
    }

    @Test void thousandsOfLongNamesAcrossManyBuffers() throws Exception {
        // ~3000 entries of ~200 bytes: several 32 KiB getdents64 buffers
        Set<String> names = new HashSet<>();
        for (int i = 0; i < 3000; i++) {
            String n = String.format("%04d-", i) + "x".repeat(180) + (char) (0x80 + i % 128);
            names.add(n);
            Linux.mknod(t.path(n), Stat.S_IFREG | 0644, 0);
        }
        List<DirEnt> ents = Linux.readdir(t.root);
        assertEquals(3002, ents.size());
        Set<String> got = new HashSet<>();
        Set<Long> offsets = new HashSet<>();
        for (DirEnt e : ents) {
            if (!e.isDotOrDotDot()) got.add(e.name());
            assertTrue(offsets.add(e.off()), "d_off is a unique cookie");
        }
        assertEquals(names, got);
        // python reads the same bytes
        String py = TempTree.py("print(len(os.listdir(P)), sum(len(n) for n in os.listdir(P)))", t.root);
        assertEquals("3000 " + names.stream().mapToInt(String::length).sum(), py);
    }

    @Test void maximalNameAndEmptyDirectory() throws Exception {
        String longest = "\u00ff".repeat(255);
        Linux.mknod(t.path(longest), Stat.S_IFREG | 0644, 0);
        Linux.mkdir(t.path("empty"), 0755);
        assertEquals(List.of(".", ".."), Linux.readdir(t.path("empty")).stream().map(DirEnt::name).sorted().toList());
        List<String> names = new ArrayList<>();
        for (DirEnt e : Linux.readdir(t.root)) if (!e.isDotOrDotDot()) names.add(e.name());
        assertEquals(List.of("empty", longest), names.stream().sorted().toList());
        String hex = TempTree.py("print([n for n in os.listdir(P) if n != b'empty'][0].hex())", t.root);
        assertEquals(HexFormat.of().formatHex(Linux.bytesOf(longest)), hex);
        assertEquals(Errno.ENAMETOOLONG, assertThrows(ErrnoException.class,
                () -> Linux.mknod(t.path(longest + "x"), Stat.S_IFREG, 0)).errno());
    }

    @Test void errors() throws Exception {
        Linux.mknod(t.path("f"), Stat.S_IFREG | 0644, 0);
        Linux.mkdir(t.path("d"), 0755);
        Linux.symlink("d", t.path("l"));
        assertEquals(Errno.ENOTDIR, assertThrows(ErrnoException.class, () -> Linux.readdir(t.path("f"))).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Linux.readdir(t.path("x"))).errno());
        // a symlink to a directory is not followed (O_NOFOLLOW with O_DIRECTORY: ENOTDIR, not ELOOP)
        assertEquals(Errno.ENOTDIR, assertThrows(ErrnoException.class, () -> Linux.readdir(t.path("l"))).errno());
    }

    @Test void parserWalksRecordsByReclen() {
        // two hand-made records: ("a", ino 5, DT_REG, off 10) and ("bc", ino 6, DT_DIR, off 20), 24 bytes each
        byte[] b = new byte[48];
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bb.putLong(0, 5).putLong(8, 10).putShort(16, (short) 24).put(18, (byte) DirEnt.DT_REG).put(19, (byte) 'a');
        bb.putLong(24, 6).putLong(32, 20).putShort(40, (short) 24).put(42, (byte) DirEnt.DT_DIR)
                .put(43, (byte) 'b').put(44, (byte) 'c');
        List<DirEnt> out = new ArrayList<>();
        Linux.parseDirents(b, out);
        assertEquals(List.of(new DirEnt("a", 5, DirEnt.DT_REG, 10), new DirEnt("bc", 6, DirEnt.DT_DIR, 20)), out);
        bb.putShort(40, (short) 200);
        assertThrows(IllegalStateException.class, () -> Linux.parseDirents(b, new ArrayList<>()));
    }
}
