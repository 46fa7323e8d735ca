package org.overlayj.nfs;

import org.junit.jupiter.api.Test;
import org.overlayj.nfs.xdr.Nfs3;

import static org.junit.jupiter.api.Assertions.*;

/** Which calls the I/O thread answers itself and which go to the workers (Nfs3Program#mayBlock). */
class DispatchTest {

    @Test void dataSyncCopyUpAndDirectoryWalksGoToTheWorkers() {
        int[] workers = {Nfs3.NFSPROC3_READ_3, Nfs3.NFSPROC3_WRITE_3, Nfs3.NFSPROC3_COMMIT_3,
                Nfs3.NFSPROC3_READDIR_3, Nfs3.NFSPROC3_READDIRPLUS_3, Nfs3.NFSPROC3_SETATTR_3,
                Nfs3.NFSPROC3_CREATE_3, Nfs3.NFSPROC3_MKDIR_3, Nfs3.NFSPROC3_SYMLINK_3, Nfs3.NFSPROC3_MKNOD_3,
                Nfs3.NFSPROC3_REMOVE_3, Nfs3.NFSPROC3_RMDIR_3, Nfs3.NFSPROC3_RENAME_3, Nfs3.NFSPROC3_LINK_3};
        for (int p : workers) assertTrue(Nfs3Program.mayBlock(p), NfsStats.NFS_PROCS[p]);
    }

    @Test void cachedMetadataReadsStayOnTheIoThread() {
        int[] inline = {Nfs3.NFSPROC3_NULL_3, Nfs3.NFSPROC3_GETATTR_3, Nfs3.NFSPROC3_LOOKUP_3,
                Nfs3.NFSPROC3_ACCESS_3, Nfs3.NFSPROC3_READLINK_3, Nfs3.NFSPROC3_FSSTAT_3, Nfs3.NFSPROC3_FSINFO_3,
                Nfs3.NFSPROC3_PATHCONF_3};
        for (int p : inline) assertFalse(Nfs3Program.mayBlock(p), NfsStats.NFS_PROCS[p]);
        assertEquals(22, NfsStats.NFS_PROCS.length, "every procedure is in one list or the other");
    }

    /**
     * With no call waiting behind it, a WRITE is served on the connection's thread that read its record (the
     * worker's pwrite on another CPU pulled the 1 MiB buffer across: bench/README "nfswrite"); READ and COMMIT
     * still go to the workers.
     */
    @Test void writeIsServedOnTheConnectionsThreadReadAndCommitAreNot() {
        assertTrue(Nfs3Program.mayServeHere(Nfs3.NFSPROC3_WRITE_3));
        assertTrue(Nfs3Program.mayServeHere(Nfs3.NFSPROC3_CREATE_3));
        assertFalse(Nfs3Program.mayServeHere(Nfs3.NFSPROC3_COMMIT_3));
        assertFalse(Nfs3Program.mayServeHere(Nfs3.NFSPROC3_READ_3));
    }
}
