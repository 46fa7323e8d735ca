package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class EngineSmokeTest {
    static final Creds R = Creds.ROOT;

    static Node walk(Overlay o, String path) throws ErrnoException {
        Node n = o.root();
        for (String p : path.split("/")) if (!p.isEmpty()) n = o.lookup(n, p, R);
        return n;
    }

    static List<String> names(Overlay o, Node dir) throws ErrnoException {
        return o.readdir(dir, 0, 10000, R).stream().map(DirEntry::name).filter(n -> !n.equals(".") && !n.equals("..")).sorted().toList();
    }

    @Test void mergeWhiteoutOpaqueAndCopyUp() throws Exception {
        try (Layers L = new Layers(2)) {
            Layers.sh("cd " + L.root + " && echo l2 > l2/a && echo l2 > l2/c && mkdir -p l2/d l1/d l2/op && echo x > l2/d/deep && echo y > l1/d/top"
                    + " && echo z > l2/op/hidden && mkdir l1/op && setfattr -n trusted.overlay.opaque -v y l1/op && echo w > l1/op/shown"
                    + " && mknod l1/c c 0 0 && echo l1 > l1/a && echo b > l1/b");
            try (Overlay o = L.mount(false, false)) {
                assertEquals(List.of("a", "b", "d", "op"), names(o, o.root()));
                assertEquals(List.of("deep", "top"), names(o, walk(o, "d")));
                assertEquals(List.of("shown"), names(o, walk(o, "op")));
                assertThrows(ErrnoException.class, () -> walk(o, "c"));
                Node a = walk(o, "a");
                long ino = o.getattr(a).ino();
                OpenFile f = o.open(a, Linux.O_WRONLY | Linux.O_APPEND, R);
                byte[] more = "more\n".getBytes(StandardCharsets.UTF_8);
                o.write(f, o.getattr(a).size(), more, 0, more.length);
                o.release(f);
                assertEquals("l1\nmore\n", Files.readString(L.upper.resolve("a")));
                assertEquals(ino, o.getattr(walk(o, "a")).ino(), "st_ino kept across copy-up");
                assertNotNull(Linux.lgetxattrOrNull(L.upper.resolve("a").toString(), "trusted.overlay.origin"));
                o.unlink(o.root(), "b", R);
                Stat wh = Linux.lstat(L.upper.resolve("b").toString());
                assertTrue(wh.isWhiteout());
                Node d = walk(o, "d");
                o.unlink(d, "deep", R);
                o.unlink(d, "top", R);
                o.rmdir(o.root(), "d", R);
                assertTrue(Linux.lstat(L.upper.resolve("d").toString()).isWhiteout());
                o.mkdir(o.root(), "d", 0755, R);
                assertEquals('y', Linux.lgetxattr(L.upper.resolve("d").toString(), "trusted.overlay.opaque")[0]);
                assertEquals(List.of(), names(o, walk(o, "d")));
                ErrnoException e = assertThrows(ErrnoException.class, () -> o.rename(o.root(), "op", o.root(), "op2", 0, R));
                assertEquals(Errno.EXDEV, e.errno());
            }
            // The kernel sees the same tree.
            L.kernelMount("");
            Layers.sh("cd " + L.mnt + " && test \"$(ls | tr '\\n' ' ')\" = 'a d op ' && test \"$(cat a)\" = $'l1\\nmore' && test -z \"$(ls d)\"");
        }
    }

    @Test void renameDirWithRedirect() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/d1/sub l1/d2 && echo f > l1/d1/sub/f");
            try (Overlay o = L.mount(false, true)) {
                o.rename(o.root(), "d1", o.root(), "d1renamed", 0, R);
                assertEquals("d1", new String(Linux.lgetxattr(L.upper.resolve("d1renamed").toString(), "trusted.overlay.redirect")));
                o.rename(walk(o, "d1renamed"), "sub", walk(o, "d2"), "moved", 0, R);
                assertEquals("/d1/sub", new String(Linux.lgetxattr(L.upper.resolve("d2/moved").toString(), "trusted.overlay.redirect")));
                assertEquals(List.of("f"), names(o, walk(o, "d2/moved")));
                assertEquals(List.of("d1renamed", "d2"), names(o, o.root()));
            }
            try (Overlay o = L.mount(false, true)) {
                assertEquals(List.of("f"), names(o, walk(o, "d2/moved")));
            }
            L.kernelMount("redirect_dir=on");
            Layers.sh("cd " + L.mnt + " && test -f d2/moved/f && test ! -e d1 && test -d d1renamed");
        }
    }
}
