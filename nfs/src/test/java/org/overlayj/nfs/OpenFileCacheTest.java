package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.core.Creds;
import org.overlayj.core.Node;
import org.overlayj.core.SetAttr;
import org.overlayj.nfs.xdr.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The open files the door keeps between READ, WRITE and COMMIT calls (OpenFileCache) must never let a call do what
 * opening the file for that call would refuse, nor reach an inode that lost its name: each case below first puts a
 * file in the cache with a call that may use it, then changes what the next call may do, behind its back.
 */
class OpenFileCacheTest {
    private static final int A = 1000, B = 1001;

    /** A world-writable directory "pub" at the export's root. */
    private static nfs_fh3 pub(NfsCalls root) throws Exception {
        nfs_fh3 pub = root.mkdir(root.root("/"), "pub");
        SETATTR3args open = new SETATTR3args();
        open.object = pub;
        open.new_attributes = NfsCalls.sattr(0777);
        open.guard = new sattrguard3();
        assertEquals(nfsstat3.NFS3_OK, root.c.nfs(Nfs3.NFSPROC3_SETATTR_3, open, new SETATTR3res()).status);
        return pub;
    }

    @Test
    void aFileOneUserOpenedServesAnotherOnlyIfTheModeLetsHim() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
             NfsCalls root = new NfsCalls(t.port(), 0, 0);
             NfsCalls a = new NfsCalls(t.port(), A, A);
             NfsCalls b = new NfsCalls(t.port(), B, B)) {
            pub(root);
            nfs_fh3 dir = a.lookup(a.root("/"), "pub");
            nfs_fh3 mine = a.create(dir, "mine", 0644);           // A's, readable by all, writable by A only
            assertEquals(nfsstat3.NFS3_OK, a.writeStatus(mine, "by A", stable_how.UNSTABLE));
            assertEquals(nfsstat3.NFS3ERR_ACCES, b.writeStatus(mine, "by B", stable_how.UNSTABLE), "B writing A's 0644 file");
            nfs_fh3 secret = a.create(dir, "secret", 0600);
            assertEquals(nfsstat3.NFS3_OK, a.writeStatus(secret, "A only", stable_how.UNSTABLE));
            assertEquals(nfsstat3.NFS3_OK, a.readStatus(secret));
            assertEquals(nfsstat3.NFS3ERR_ACCES, b.readStatus(secret), "B reading A's 0600 file");
            assertEquals("by A", Files.readString(t.upper.resolve("pub/mine")));
        }
    }

    @Test
    void aChmodMadeBehindTheDoorsBackRefusesTheNextWrite() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
             NfsCalls root = new NfsCalls(t.port(), 0, 0);
             NfsCalls b = new NfsCalls(t.port(), B, B)) {
            nfs_fh3 dir = pub(root);
            nfs_fh3 shared = root.create(dir, "shared", 0666);   // root's, writable by all
            assertEquals(nfsstat3.NFS3_OK, b.writeStatus(shared, "one", stable_how.UNSTABLE));
            assertEquals(nfsstat3.NFS3_OK, b.readStatus(shared));
            // chmod 0600 through the engine itself (another door of the same overlay): the NFS door hears nothing
            Node n = t.overlay.lookup(t.overlay.lookup(t.overlay.root(), "pub", Creds.ROOT), "shared", Creds.ROOT);
            t.overlay.setattr(n, SetAttr.chmod(0600), Creds.ROOT);
            assertEquals(nfsstat3.NFS3ERR_ACCES, b.writeStatus(shared, "two", stable_how.UNSTABLE), "write after the mode took it away");
            assertEquals(nfsstat3.NFS3ERR_ACCES, b.readStatus(shared), "read after the mode took it away");
            assertEquals("one", Files.readString(t.upper.resolve("pub/shared")));
        }
    }

    /** What this process has open below {@code dir} that is no longer linked anywhere. */
    private static java.util.List<String> deletedFilesOpenUnder(java.nio.file.Path dir) throws Exception {
        java.util.List<String> out = new java.util.ArrayList<>();
        try (var fds = Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            for (java.nio.file.Path fd : fds.toList()) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (java.io.IOException e) {
                    continue;                      // closed meanwhile (or the listing's own fd)
                }
                if (target.startsWith(dir.toString()) && target.endsWith(" (deleted)")) out.add(target);
            }
        }
        return out;
    }

    @Test
    void aFileRenamedOverOrRemovedGoesStaleForItsOldHandle() throws Exception {
        try (TestOverlay t = new TestOverlay("/ 127.0.0.1(rw,no_root_squash,insecure)\n");
             NfsCalls one = new NfsCalls(t.port(), 0, 0);
             NfsCalls two = new NfsCalls(t.port(), 0, 0)) {
            nfs_fh3 top = one.root("/");
            // born upper, and copied up from the lower layer (its handle names the lower origin)
            nfs_fh3 born = one.create(top, "born");
            nfs_fh3 other = one.create(top, "other");
            nfs_fh3 dir = one.lookup(top, "dir");
            nfs_fh3 copied = one.lookup(dir, "a");
            for (nfs_fh3 f : new nfs_fh3[]{born, copied}) {
                assertEquals(nfsstat3.NFS3_OK, one.writeStatus(f, "kept", stable_how.UNSTABLE));
                assertEquals(nfsstat3.NFS3_OK, one.readStatus(f));
            }
            one.write(other, 0, NfsCalls.b("replacement"), stable_how.FILE_SYNC);
            // another client renames "other" over "born" and removes "a": the first client's handles are stale
            two.rename(top, "other", top, "born");
            two.remove(two.lookup(top, "dir"), "a");
            // the server (this JVM) holds nothing of theirs open: a kept file would keep the inode, and its disk
            // space, alive until idle, and make the object reachable through it (the engine's unlinked objects)
            assertEquals(java.util.List.of(), deletedFilesOpenUnder(t.root), "files the server still holds open");
            assertEquals(nfsstat3.NFS3ERR_STALE, one.writeStatus(born, "lost", stable_how.UNSTABLE), "WRITE through a renamed-over handle");
            assertEquals(nfsstat3.NFS3ERR_STALE, one.readStatus(born), "READ through a renamed-over handle");
            assertEquals(nfsstat3.NFS3ERR_STALE, one.getattrStatus(born));
            assertEquals(nfsstat3.NFS3ERR_STALE, one.writeStatus(copied, "lost", stable_how.UNSTABLE), "WRITE through a removed file's handle");
            assertEquals(nfsstat3.NFS3ERR_STALE, one.getattrStatus(copied));
            assertEquals("replacement", Files.readString(t.upper.resolve("born")));
            assertEquals("replacement", new String(one.readAll(one.lookup(top, "born")), StandardCharsets.UTF_8));
        }
    }
}
