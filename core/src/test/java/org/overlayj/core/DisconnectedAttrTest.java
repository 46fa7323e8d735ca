package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.FileHandle;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.EngineSmokeTest.walk;
import static org.overlayj.core.ExportTest.nfs;
import static org.overlayj.core.IndexTest.append;

/**
 * A disconnected object (decoded from a handle under nfs_export with cold caches: no name known, reached through
 * the fd the handle opened, or through its index entry) has the attributes the kernel overlay gives the same
 * object decoded by open_by_handle_at, through every path that reads them: getattr, the permission checks (its
 * POSIX ACL included, read through that fd: a /proc/self/fd path is a magic link, whose own xattrs are none), and
 * the checks of the namespace operations (one builder makes them all: Getattr), and its xattrs (getxattr and
 * listxattr follow the link: the fd of a decoded handle is O_PATH, which fgetxattr refuses with EBADF).
 */
class DisconnectedAttrTest {
    private static final Creds R = Creds.ROOT;
    /** A stranger the lower file's ACL lets read: "other" in its mode, which grants nothing. */
    private static final Creds NOBODY = new Creds(65534, 65534, new int[0]);
    private static final List<String> NAMES = List.of("p", "h2");

    /** The attributes compared with the kernel's fstat (ctime and atime left out: the kernel's mount reads). */
    private static String shown(long ino, int nlink, int mode, int uid, int gid, long size, long blocks) {
        return "ino=" + ino + " nlink=" + nlink + " mode=" + Integer.toOctalString(mode) + " owner=" + uid + ":" + gid
                + " size=" + size + " blocks=" + blocks;
    }

    private static String shown(Attr a) {
        return shown(a.ino(), a.nlink(), a.mode(), a.uid(), a.gid(), a.size(), a.blocks());
    }

    private static String shown(Stat s) {
        return shown(s.ino(), s.nlink(), s.mode(), s.uid(), s.gid(), s.size(), s.blocks());
    }

    /** What a stranger may do to the object: read (its ACL says yes), write, chmod (only the owner: EPERM). */
    private static String strangersView(Overlay o, Node n) {
        return "read " + outcome(() -> o.access(n, Permissions.R, NOBODY))
                + ", write " + outcome(() -> o.access(n, Permissions.W, NOBODY))
                + ", chmod " + outcome(() -> o.setattr(n, SetAttr.chmod(0640), NOBODY));
    }

    private interface Call {
        void run() throws ErrnoException;
    }

    private interface Value {
        String get() throws ErrnoException;
    }

    private static String sorted(List<String> names) {
        return names.stream().sorted().toList().toString();
    }

    private static String outcomeOf(Value v) {
        try {
            return v.get();
        } catch (ErrnoException e) {
            return Errno.name(e.errno());
        }
    }

    private static String outcome(Call c) {
        try {
            c.run();
            return "ok";
        } catch (ErrnoException e) {
            return Errno.name(e.errno());
        }
    }

    /** The same as a stranger on the kernel overlay, by name: the object's attributes do not depend on the way. */
    private static String kernelStrangersView(Layers L, String name) throws Exception {
        String f = L.mnt + "/" + name;
        return "read " + asStranger("head", "-c0", f) + ", write " + asStranger("sh", "-c", ": >> " + f)
                + ", chmod " + asStranger("chmod", "640", f);
    }

    /** Runs a command as uid/gid 65534 with no groups: ok, or the errno its message names. */
    private static String asStranger(String... cmd) throws Exception {
        List<String> argv = new java.util.ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups"));
        argv.addAll(List.of(cmd));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() == 0) return "ok";
        if (out.contains("Permission denied")) return "EACCES";
        if (out.contains("not permitted")) return "EPERM";
        return out.trim();
    }

    @Test void disconnectedObjectsShowTheKernelsAttributesThroughEveryPath() throws Exception {
        try (Layers L = new Layers(1)) {
            // p: a lower file readable by a stranger through its ACL only; h1, h2, h3: a lower hard link, copied up
            // through h1 below (index entry; union count 3, 2 real links on the entry)
            Layers.sh("chmod 755 " + L.root);   // a stranger reaches the kernel's mount point
            Layers.sh("cd " + L.lowers.getFirst() + " && echo p > p && chmod 0640 p && setfacl -m u:65534:r p"
                    + " && setfattr -n user.t -v pv p && echo h > h1 && chmod 0640 h1 && setfattr -n user.t -v hv h1"
                    + " && ln h1 h2 && ln h1 h3");
            Map<String, byte[]> handles = new LinkedHashMap<>();
            try (Overlay o = Overlay.mount(nfs(L))) {
                append(o, "h1", "more\n");
                for (String name : NAMES) handles.put(name, o.encodeHandle(walk(o, name)));
            }

            Map<String, String> kernel = new LinkedHashMap<>();
            L.kernelMount("index=on,nfs_export=on");
            try {
                Layers.sh("sync; echo 2 > /proc/sys/vm/drop_caches");
                int mfd = Linux.open(L.mnt.toString(), Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
                try {
                    for (var e : handles.entrySet()) {
                        byte[] h = e.getValue();
                        int fd = Linux.openByHandle(mfd, new FileHandle(0xf8, h), Linux.O_RDONLY);
                        try {
                            kernel.put(e.getKey(), shown(Linux.fstat(fd)));
                        } finally {
                            Linux.closeQuietly(fd);
                        }
                    }
                } finally {
                    Linux.closeQuietly(mfd);
                }
                for (String name : NAMES) {
                    kernel.put(name + " stranger", kernelStrangersView(L, name));
                    kernel.put(name + " user.t", new String(Linux.lgetxattr(L.mnt + "/" + name, "user.t")));
                    kernel.put(name + " xattrs", Linux.llistxattr(L.mnt + "/" + name).stream().sorted().toList().toString());
                }
            } finally {
                L.kernelUmount();
            }

            Map<String, String> ours = new LinkedHashMap<>(), connected = new LinkedHashMap<>();
            try (Overlay o = Overlay.mount(nfs(L))) {
                Layers.sh("sync; echo 2 > /proc/sys/vm/drop_caches");
                Map<String, Node> decoded = new LinkedHashMap<>();
                for (var e : handles.entrySet()) {
                    Node n = o.decodeHandle(e.getValue());
                    assertNull(n.parent(), e.getKey() + ": disconnected (no name known to us or to the lower fs)");
                    decoded.put(e.getKey(), n);
                }
                assertTrue(Node.Residence.Kind.LOWER == decoded.get("p").residence().kind()
                        && RealPaths.isFdPath(decoded.get("p").topLower().path()), "p: reached through its fd only");
                assertSame(Node.Residence.Kind.INDEX, decoded.get("h2").residence().kind(), "h2: its index entry");
                for (var e : decoded.entrySet()) {
                    ours.put(e.getKey(), shown(o.getattr(e.getValue())));
                    ours.put(e.getKey() + " stranger", strangersView(o, e.getValue()));
                    ours.put(e.getKey() + " user.t", outcomeOf(() -> new String(o.getxattr(e.getValue(), "user.t", R))));
                    ours.put(e.getKey() + " xattrs", outcomeOf(() -> sorted(o.listxattr(e.getValue(), R))));
                }
                // connected again by a lookup of one of its names: the same node, and the same attributes
                for (String name : NAMES) {
                    Node n = walk(o, name);
                    assertSame(decoded.get(name), n, name);
                    connected.put(name, shown(o.lookupAttr(o.root(), name, R).attr()));
                    connected.put(name + " stranger", strangersView(o, n));
                    connected.put(name + " user.t", outcomeOf(() -> new String(o.getxattr(n, "user.t", R))));
                    connected.put(name + " xattrs", outcomeOf(() -> sorted(o.listxattr(n, R))));
                }
            }
            assertEquals(kernel, ours, "disconnected");
            assertEquals(kernel, connected, "connected");
        }
    }
}
