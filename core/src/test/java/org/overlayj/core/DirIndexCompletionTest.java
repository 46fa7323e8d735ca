package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.tools.Fsck;
import org.overlayj.core.tools.LayerSet;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.FileHandle;
import org.overlayj.sys.Linux;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.overlayj.core.EngineSmokeTest.names;

/**
 * An upper directory with an origin and no index entry under nfs_export (issue 16): what a directory copy-up killed
 * between the directory's name and its entry leaves (CopyUp#copyOther), or a removal killed after its first step.
 * The kernel serves it unindexed and never writes the entry, so a handle of the lower directory from before goes
 * stale once the directory is renamed. fsck reports it and {@code --repair} writes the entry as a copy-up does; the
 * kernel, the judge, must then mount with no log line about it, keep the entry, and decode the old handles (and
 * the upper handle it gave out meanwhile) after renames, across remounts.
 */
class DirIndexCompletionTest {
    private static final String NFS = "index=on,nfs_export=on,redirect_dir=on";

    /** fsck's reading of the layers: nfs_export, redirects followed (the kernel's rename wrote one). */
    private static OverlayOptions options(Layers L) {
        OverlayOptions o = L.options(true, true);
        return new OverlayOptions(o.lowerDirs(), o.upperDir(), o.workDir(), OverlayOptions.RedirectDir.ON, true,
                true, o.uuid(), o.xino(), false, false, false, List.of());
    }

    /** open_by_handle_at through the kernel's mount: where /proc says the fd is, relative to the mount. */
    private static String decode(Layers L, FileHandle h) throws ErrnoException {
        return throughHandle(L, h, Linux.O_PATH,
                fd -> Linux.readlink("/proc/self/fd/" + fd).substring(L.mnt.toString().length()));
    }

    /** The data read through a handle on the kernel's mount, or the errno. */
    private static String read(Layers L, FileHandle h) throws ErrnoException {
        return throughHandle(L, h, Linux.O_RDONLY, fd -> {
            byte[] b = new byte[64];
            int n = Linux.pread(fd, b, 0, b.length, 0);
            return new String(b, 0, n).replace('\n', ' ').trim();
        });
    }

    private interface OnFd { String apply(int fd) throws ErrnoException; }

    /** What {@code what} makes of the object a handle opens (flags) on the kernel's mount, or the errno's name. */
    private static String throughHandle(Layers L, FileHandle h, int flags, OnFd what) throws ErrnoException {
        int m = Linux.open(L.mnt.toString(), Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            int fd = Linux.openByHandle(m, h, flags);
            try {
                return what.apply(fd);
            } finally {
                Linux.closeQuietly(fd);
            }
        } catch (ErrnoException e) {
            return Errno.name(e.errno());
        } finally {
            Linux.closeQuietly(m);
        }
    }

    /**
     * A single-link file's copy-up killed between the copy's name and its index link (CopyUp#copyUpIndexed): the
     * kernel serves the copy, but decodes a handle of the file from before to the lower file, its old data; fsck
     * --repair links it into the index and the kernel then decodes the handle to the copy, also after a rename.
     */
    @Test void repairLinksACopiedUpFileAndTheKernelDecodesItsOldHandleToTheCopy() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir l1/d && echo old > l1/d/f");
            L.kernelMount(NFS);
            FileHandle f = Linux.nameToHandle(L.mnt + "/d/f", 0);
            Layers.sh("echo new >> " + L.mnt + "/d/f");
            L.kernelUmount();
            Layers.sh("rm $(find " + L.work.resolve("index") + " -maxdepth 1 -samefile " + L.upper.resolve("d/f") + ")");
            L.kernelMount(NFS);
            assertEquals("old new", Layers.shOut("cat " + L.mnt + "/d/f").replace('\n', ' ').trim());
            assertEquals("old", read(L, f), "the kernel, no index link: the lower file's data");
            L.kernelUmount();
            try (LayerSet ls = LayerSet.open(options(L))) {
                Fsck fsck = Fsck.check(ls);
                assertEquals(List.of("index-missing: upper:/d/f"), fsck.findings().stream()
                        .map(x -> x.code() + ": " + x.where()).toList(), fsck.findings().toString());
                assertTrue(fsck.findings().getFirst().message().contains("origin lower 1:/d/f"), fsck.findings().toString());
                assertEquals(fsck.findings(), fsck.repair());
            }
            try (ChecklistTwin.KernelLog log = new ChecklistTwin.KernelLog()) {
                L.kernelMount(NFS);
                assertEquals(Linux.lstat(L.lowers.getFirst() + "/d/f").ino(), Linux.lstat(L.mnt + "/d/f").ino(),
                        "indexed: the origin's st_ino");
                assertEquals("old new", read(L, f));
                Linux.rename(L.mnt + "/d/f", L.mnt + "/g", 0);
                L.kernelUmount();
                L.kernelMount(NFS);
                assertEquals("old new", read(L, f), "after a rename and a remount");
                L.kernelUmount();
                assertEquals(List.of(), log.overlayLines().stream().filter(l -> l.contains("index")
                        || l.contains("by real")).toList(), "the kernel's log");
            }
            try (LayerSet ls = LayerSet.open(options(L))) {
                assertEquals(List.of(), Fsck.check(ls).findings());
            }
        }
    }

    @Test void repairWritesTheEntryAndTheKernelDecodesOldHandlesAfterARename() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -p l1/d/sub l1/keep && echo x > l1/d/x");
            L.kernelMount(NFS);
            FileHandle d = Linux.nameToHandle(L.mnt + "/d", 0), sub = Linux.nameToHandle(L.mnt + "/d/sub", 0);
            Layers.sh("touch " + L.mnt + "/d/new");           // copies d up: its entry is written
            L.kernelUmount();
            String entry = CrashStateTest.indexTypes(L).stream().filter(s -> s.endsWith(" dir")).findFirst()
                    .orElseThrow().split(" ")[0];
            // the copy-up killed between the directory's name and its entry
            Layers.sh("rm -rf " + L.work.resolve("index").resolve(entry));

            // the kernel serves it, unindexed: renamed, the old handle of d is stale
            L.kernelMount(NFS);
            Linux.rename(L.mnt + "/d", L.mnt + "/d2", 0);
            FileHandle upper = Linux.nameToHandle(L.mnt + "/d2", 0);
            assertEquals("ESTALE", decode(L, d), "the kernel, no entry, after a rename");
            assertEquals("/d2", decode(L, upper));
            L.kernelUmount();
            assertEquals(List.of(), CrashStateTest.indexTypes(L), "the kernel writes no entry");

            try (LayerSet ls = LayerSet.open(options(L))) {
                Fsck f = Fsck.check(ls);
                assertEquals(List.of("index-missing: upper:/d2"), f.findings().stream()
                        .map(x -> x.code() + ": " + x.where()).toList(), f.findings().toString());
                assertEquals(f.findings(), f.repair(), "repaired");
            }
            assertEquals(List.of(entry + " dir"), CrashStateTest.indexTypes(L), "the entry a copy-up writes");
            assertEquals("", Layers.shOut("find " + L.work.resolve("index") + " -name '#*'"), "no temporary left");

            try (ChecklistTwin.KernelLog log = new ChecklistTwin.KernelLog()) {
                L.kernelMount(NFS);
                assertEquals(Linux.lstat(L.lowers.getFirst() + "/d").ino(), Linux.lstat(L.mnt + "/d2").ino(),
                        "indexed again: the origin's st_ino");
                assertEquals(d, Linux.nameToHandle(L.mnt + "/d2", 0), "and its lower handle");
                assertEquals("/d2", decode(L, d));
                assertEquals("/d2/sub", decode(L, sub));
                assertEquals("/d2", decode(L, upper), "an upper handle given out before the repair");
                Linux.rename(L.mnt + "/d2", L.mnt + "/d3", 0);
                L.kernelUmount();
                L.kernelMount(NFS);                            // nothing cached: decoded through the entry
                assertEquals("/d3", decode(L, d));
                assertEquals("/d3/sub", decode(L, sub));
                assertEquals("/d3", decode(L, upper));
                L.kernelUmount();
                assertEquals(List.of(), log.overlayLines().stream().filter(l -> l.contains(entry)
                        || l.contains("by real") || l.contains("index")).toList(), "the kernel's log");
            }
            assertEquals(List.of(entry + " dir"), CrashStateTest.indexTypes(L), "kept by the kernel's mounts");
            try (LayerSet ls = LayerSet.open(options(L))) {
                assertEquals(List.of(), Fsck.check(ls).findings());
            }
            try (Overlay o = Overlay.mount(options(L))) {
                assertEquals(List.of("d3", "keep"), names(o, o.root()));
                assertEquals(List.of("new", "sub", "x"), names(o, EngineSmokeTest.walk(o, "d3")));
            }
        }
    }
}
