package org.overlayj.core.layer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.FileHandle;
import org.overlayj.sys.Linux;

/**
 * What identifies a filesystem to the overlay: its UUID (the kernel's {@code s_uuid}, which it copies into every
 * fh blob) and whether it can encode and decode file handles.
 *
 * <p>The UUID comes from FS_IOC_GETFSUUID, which returns exactly the superblock's {@code s_uuid} for every
 * filesystem that publishes one (ext4: the superblock UUID; tmpfs: a random per-mount UUID). A filesystem that
 * does not publish one (ENOTTY) has a null UUID for the overlay as well. This avoids parsing on-disk superblocks
 * or asking blkid, which would need the block device and give wrong answers for tmpfs and friends.
 */
public final class FsIdentity {
    private FsIdentity() {}

    public static final byte[] NULL_UUID = new byte[16];

    /** FILEID_INO32_GEN: the default handle encoding, 32-bit inode + generation. */
    static final int FILEID_INO32_GEN = 1;
    /** XFS_SB_MAGIC: XFS has its own encoder that also emits type 1 for small inodes, yet the kernel treats it as 64-bit. */
    private static final long XFS_SUPER_MAGIC = 0x58465342L;

    /** The filesystem UUID of the filesystem holding {@code dir}; zeros when it has none. */
    public static byte[] fsUuid(String dir) throws ErrnoException {
        int fd = Linux.open(dir, Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        try {
            byte[] u = Linux.getFsUuid(fd);
            return u == null ? NULL_UUID.clone() : u;
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    /**
     * The kernel's ovl_can_decode_fh: 0 when the filesystem cannot decode handles (or the mounter lacks
     * CAP_DAC_READ_SEARCH), FILEID_INO32_GEN for the default encoding, -1 for a filesystem-specific one.
     * name_to_handle_at without AT_HANDLE_FID succeeds exactly when the filesystem can decode.
     */
    static int canDecodeFh(String dir) {
        return canDecodeFh(dir, effectiveCapabilities());
    }

    /** {@link #canDecodeFh(String)} with the effective set read before ({@link #effectiveCapabilities}). */
    static int canDecodeFh(String dir, long capEff) {
        if (!capable(capEff, 2 /* CAP_DAC_READ_SEARCH */)) return 0;
        FileHandle h;
        try {
            h = Linux.nameToHandle(dir, 0);
        } catch (ErrnoException e) {
            return 0;
        }
        try {
            // the generic encoder writes inode + generation: type 1, 8 bytes. tmpfs has its own encoder that also
            // says type 1 but with 12 bytes; XFS has its own that matches exactly, so it is told apart by magic.
            if (h.type() == FILEID_INO32_GEN && h.length() == 8 && Linux.statfs(dir).type() != XFS_SUPER_MAGIC) {
                return FILEID_INO32_GEN;
            }
        } catch (ErrnoException e) {
            return -1;
        }
        return -1;
    }

    /** statfs magics of filesystems whose dentries revalidate (the kernel's ovl_dentry_remote). */
    private static final java.util.Set<Long> REMOTE = java.util.Set.of(
            0x6969L /* NFS */, 0xFF534D42L /* CIFS */, 0xFE534D42L /* SMB2 */, 0x65735546L /* FUSE */,
            0x01021997L /* 9P */, 0x00C36400L /* Ceph */, 0x6B414653L /* AFS */, 0x47504653L /* GPFS */,
            0x0BD00BD0L /* Lustre */, 0x73757245L /* Coda */);

    /** The filesystem of {@code dir} is a network/FUSE filesystem whose names can change behind our back. */
    static boolean isRemote(String dir) {
        try {
            return REMOTE.contains(Linux.statfs(dir).type() & 0xffffffffL);
        } catch (ErrnoException e) {
            return false;
        }
    }

    /** The calling process has capability {@code cap} in its effective set. */
    public static boolean capable(int cap) {
        return capable(effectiveCapabilities(), cap);
    }

    /**
     * The process's effective capability set (CapEff of /proc/self/status), or -1 when it cannot be read. A mount's
     * checks ask several times (once per layer); they read it once: a resident server makes many mounts.
     */
    static long effectiveCapabilities() {
        long c = capEff;
        if (c == UNREAD) capEff = c = readEffectiveCapabilities();
        return c;
    }

    /**
     * CapEff as first read: /proc/self/status shows the process's main thread, whose set overlayj never changes
     * (no capset, no setuid; the request threads' setfsuid changes only their own), so one read serves every mount
     * a resident server makes.
     */
    private static volatile long capEff = Long.MIN_VALUE;
    private static final long UNREAD = Long.MIN_VALUE;

    private static long readEffectiveCapabilities() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) return Long.parseUnsignedLong(line.substring(7).trim(), 16);
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Whether {@code capEff} ({@link #effectiveCapabilities}) holds {@code cap}; unknown (-1): whether we are root. */
    static boolean capable(long capEff, int cap) {
        return capEff == -1 ? Linux.geteuid() == 0 : (capEff & (1L << cap)) != 0;
    }
}
