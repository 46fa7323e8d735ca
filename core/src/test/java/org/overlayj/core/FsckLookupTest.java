package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.tools.Fsck;
import org.overlayj.core.tools.LayerSet;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * fsck looks names up with the engine's own lookup ({@link Inspection}), so it reports what a mount's lookup does
 * and nothing else: states where a walk of its own (the one fsck had) and the kernel's lookup part ways, each
 * served by the kernel, by the engine, and checked by fsck on the same layers.
 */
class FsckLookupTest {
    private static final String NFS = "index=on,nfs_export=on,redirect_dir=on";

    private static OverlayOptions nfs(Layers L) {
        OverlayOptions o = L.options(true, true);
        return new OverlayOptions(o.lowerDirs(), o.upperDir(), o.workDir(), o.redirectDir(), true, true, o.uuid(),
                o.xino(), false, false, false, List.of());
    }

    private static List<Fsck.Finding> fsck(OverlayOptions o) throws Exception {
        try (LayerSet ls = LayerSet.open(o)) {
            return Fsck.check(ls).findings();
        }
    }

    /** What each name shows through the kernel's mount: its listing or its errno, in this order. */
    private static String kernel(Layers L, String opts, String... names) throws Exception {
        L.kernelMount(opts);
        try {
            StringBuilder b = new StringBuilder();
            for (String n : names) {
                b.append(n).append('=').append(Layers.shOut("cd " + L.mnt + " && { if [ -d " + n + " ]; then ls " + n + "; else cat " + n
                        + "; fi; } 2>&1 | tr '\\n' ' ' | sed 's/.*Input\\/output error.*/EIO/;"
                        + " s/.*Stale file handle.*/ESTALE/; s/ *$//'").trim()).append(';');
            }
            return b.toString();
        } finally {
            L.kernelUmount();
        }
    }

    private static String engine(Overlay o, String... names) throws Exception {
        StringBuilder b = new StringBuilder();
        for (String n : names) {
            String v;
            try {
                Node node = EngineSmokeTest.walk(o, n);
                v = node.isDir() ? String.join(" ", EngineSmokeTest.names(o, node).stream().sorted().toList())
                        : IndexTest.read(o, n).replace('\n', ' ').trim();
            } catch (ErrnoException e) {
                v = Errno.name(e.errno());
            }
            b.append(n).append('=').append(v).append(';');
        }
        return b.toString();
    }

    /**
     * Two upper files carrying one origin (one copied outside the mount, xfstests overlay/059): the kernel serves
     * the one looked up first and gives ESTALE for the other (its inode is known under another upper inode). A
     * walk of its own saw two well-formed origins; the engine's lookup says ESTALE, and so does fsck.
     */
    @Test void twoUpperFilesWithOneOriginGiveEstaleForTheSecond() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && echo f > l1/f");
            L.kernelMount("index=off");
            Layers.sh("echo x >> " + L.mnt.resolve("f"));
            L.kernelUmount();
            Layers.sh("cd " + L.root + " && cp -a upper/f upper/g");
            assertEquals("f=f x;g=ESTALE;", kernel(L, "index=off", "f", "g"));
            try (Overlay o = L.mount(false, false)) {
                assertEquals("f=f x;g=ESTALE;", engine(o, "f", "g"), "the engine");
            }
            List<Fsck.Finding> f = fsck(L.options(false, false));
            assertEquals(List.of("origin: upper:/g"), f.stream().map(x -> x.code() + ": " + x.where()).toList(),
                    f.toString());
            assertTrue(f.getFirst().message().contains("ESTALE"), f.toString());
        }
    }

    /**
     * A copy of a copied-up (indexed) directory, with its origin, at another name (nfs_export): no lower directory
     * has that name, so the kernel never reads the origin nor the index entry — a plain upper directory, its own
     * inode number. The engine gave EIO ("multiply redirected") reading the index entry; fsck, on the engine's
     * lookup, must not report it either.
     */
    @Test void copyOfAnIndexedDirectoryAtAnotherNameIsAPlainUpperDirectory() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo x > l1/d/x");
            L.kernelMount(NFS);
            Layers.sh("touch " + L.mnt.resolve("d/new"));
            L.kernelUmount();
            Layers.sh("cd " + L.root + " && cp -a upper/d upper/d2");
            assertEquals("d=new x;d2=new;", kernel(L, NFS, "d", "d2"));
            L.kernelMount(NFS);
            String kino;
            try {
                kino = Layers.shOut("stat -c %i " + L.mnt.resolve("d2")).trim();
            } finally {
                L.kernelUmount();
            }
            assertEquals(Layers.shOut("stat -c %i " + L.upper.resolve("d2")).trim(), kino, "the upper's st_ino");
            try (Overlay o = Overlay.mount(nfs(L))) {
                assertEquals("d=new x;d2=new;", engine(o, "d", "d2"), "the engine");
                assertEquals(Long.parseLong(kino), o.getattr(EngineSmokeTest.walk(o, "d2")).ino(), "the engine's st_ino");
            }
            assertEquals(List.of(), fsck(nfs(L)));
        }
    }

    /**
     * The same copy redirected to the lower directory: now the lower is found and verified against the origin,
     * and its index entry names the other upper directory: EIO ("suspected multiply redirected dir"), on the
     * kernel and the engine. A walk of its own merged it with the lower directory and saw nothing wrong.
     */
    @Test void redirectedCopyOfAnIndexedDirectoryIsEio() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo x > l1/d/x");
            L.kernelMount(NFS);
            Layers.sh("touch " + L.mnt.resolve("d/new"));
            L.kernelUmount();
            Layers.sh("cd " + L.root + " && cp -a upper/d upper/d2 && setfattr -n trusted.overlay.redirect -v d upper/d2");
            assertEquals("d=new x;d2=EIO;", kernel(L, NFS, "d", "d2"));
            try (Overlay o = Overlay.mount(nfs(L))) {
                assertEquals("d=new x;d2=EIO;", engine(o, "d", "d2"), "the engine");
            }
            List<Fsck.Finding> f = fsck(nfs(L));
            assertEquals(List.of("bad-index: upper:/d2"), f.stream().map(x -> x.code() + ": " + x.where()).toList(),
                    f.toString());
        }
    }

    /**
     * A lower directory whose lookup fails (its index entry is a whiteout: EIO) is not walked into: nothing below
     * it is reachable, on the kernel as on the engine, so a defect below it is no finding; a walk of its own
     * reported one.
     */
    @Test void nothingIsReportedBelowADirectoryTheLookupFails() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo x > l1/d/x");
            L.kernelMount(NFS);
            Layers.sh("touch " + L.mnt.resolve("d/new"));
            L.kernelUmount();
            Layers.sh("cd " + L.root + " && n=$(find work/index -mindepth 1 -maxdepth 1 -type d -printf %f)"
                    + " && rm -rf upper/d work/index/$n && mknod work/index/$n c 0 0"
                    + " && setfattr -n trusted.overlay.opaque -v yes l1/d/x");
            assertEquals("d=EIO;", kernel(L, NFS, "d"));
            try (Overlay o = Overlay.mount(nfs(L))) {
                assertEquals("d=EIO;", engine(o, "d"), "the engine");
            }
            List<Fsck.Finding> f = fsck(nfs(L));
            assertEquals(List.of("bad-index: lower 1:/d"), f.stream().map(x -> x.code() + ": " + x.where()).toList(),
                    f.toString());
        }
    }
}
