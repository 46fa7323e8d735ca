package org.overlayj.core.layer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

import org.overlayj.core.config.MountOptions;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.config.OverlayOptions.RedirectDir;
import org.overlayj.core.config.OverlayOptions.Uuid;
import org.overlayj.core.config.OverlayOptions.Xino;
import org.overlayj.sys.DirEnt;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mount-time checks of the layers (the kernel's super.c concern; format doc §1.3–1.5, §5.8, §8.1, §8.2):
 * verifies the layer directories, claims the upper and work directories, prepares W/work (and W/index), probes
 * what the upper filesystem supports, settles uuid= and downgrades features exactly where the kernel does, with
 * its messages.
 *
 * <p>The steps run in the kernel's order, so a refused mount leaves the layers as the kernel would leave them: the
 * checks that refuse before anything is written come first; W/work is recreated and NS uuid written before the
 * lower-layer overlap checks, as in the kernel. Verifying the index contents (upper root origin, NS upper on
 * W/index, index entries) is the index code's job; this class only creates W/index and drops its '#' leftovers.
 */
public final class MountChecks {
    private static final Logger LOG = LoggerFactory.getLogger(MountChecks.class);

    private MountChecks() {}

    /** Verifies and prepares the layers of {@code o}; the returned stack holds the in-use locks until closed. */
    public static LayerStack prepare(OverlayOptions o) throws ErrnoException {
        return prepare(o, m -> { });
    }

    /**
     * As {@link #prepare(OverlayOptions)}, and every message the kernel would log for this mount (warnings,
     * notices and the final refusal, kernel text) is also passed to {@code messages}, in order.
     */
    public static LayerStack prepare(OverlayOptions o, java.util.function.Consumer<String> messages)
            throws ErrnoException {
        Run r = new Run(o, messages);
        try {
            return r.run();
        } catch (ErrnoException e) {
            r.locks.close();
            if (e != r.refused) messages.accept(e.detail());
            throw e;
        } catch (RuntimeException e) {
            r.locks.close();
            throw e;
        }
    }

    /** One filesystem among the layers (the kernel's ovl_sb). */
    private static final class Fs {
        final long dev;
        final byte[] uuid;
        boolean isLower, badUuid;

        Fs(long dev, byte[] uuid) {
            this.dev = dev;
            this.uuid = uuid;
        }
    }

    private static final class Run {
        final OverlayOptions o;
        final List<String> warnings = new ArrayList<>();
        final InUse.Locks locks = new InUse.Locks();
        final InUse.Snapshot inUse = new InUse.Snapshot();
        /** The effective capabilities, read once for all the checks that ask. */
        final long capEff = FsIdentity.effectiveCapabilities();
        final java.util.function.Consumer<String> messages;
        ErrnoException refused;
        RedirectDir redirect;
        boolean index, nfsExport, metacopy;
        Uuid uuid;
        Xino xino;

        String workDir, indexDir;
        boolean readOnly, tmpfile, renameWhiteout, dType, xattrs = true;
        int upperFh = FsIdentity.FILEID_INO32_GEN;
        boolean ino32All = true;

        Run(OverlayOptions o, java.util.function.Consumer<String> messages) {
            this.o = o;
            this.messages = messages;
            redirect = o.redirectDir();
            index = o.index();
            nfsExport = o.nfsExport();
            metacopy = o.metacopy();
            uuid = o.uuid();
            xino = o.xino();
        }

        void warn(String text) {
            LOG.warn("{}", text);
            warnings.add(text);
            messages.accept(text);
        }

        void info(String text) {
            LOG.info("{}", text);
            warnings.add(text);
            messages.accept(text);
        }

        ErrnoException refuse(int errno, String text) {
            LOG.error("{}", text);
            messages.accept(text);
            refused = new ErrnoException(errno, text);
            return refused;
        }

        // the layers as they are worked out, step by step
        String upper, workBase;
        LayerPaths.Id upperId, workBaseId, workId;
        long upperDev = -1;
        final List<String> lowerRoots = new ArrayList<>();
        final List<Integer> lowerFh = new ArrayList<>(), lowerFsid = new ArrayList<>();
        final List<Long> lowerDev = new ArrayList<>();
        /** The filesystems of the layers; index = fsid, 0 reserved for the upper (even without one). */
        final List<Fs> fss = new ArrayList<>();
        /** Layer roots and work dirs: a lower root may not be one of them nor lie below one (the kernel's traps). */
        final Set<LayerPaths.Id> traps = new LinkedHashSet<>();

        /** The kernel's ovl_fill_super order: each step may refuse, and what came before it stays done. */
        LayerStack run() throws ErrnoException {
            MountTrace.mark("checks.start");
            checkCapabilities();
            checkLayerDirs();
            MountTrace.mark("checks.layerDirs");
            if (o.lowerDirs().isEmpty()) throw refuse(Errno.EINVAL, "missing 'lowerdir'");
            if (o.hasUpper()) upperAndWork();
            lowerStack();
            MountTrace.mark("checks.lowerStack");
            layerFilesystems();
            MountTrace.mark("checks.layerFs");
            boolean samefs = fss.size() - (upper == null ? 1 : 0) == 1;
            int xinoBits = xinoBits(samefs);
            byte[] overlayUuid = overlayUuid();
            MountTrace.mark("checks.uuid");
            if (upper != null && !readOnly && index) indexDir();
            checkOverlaps();
            MountTrace.mark("checks.overlaps");

            if (upper == null || readOnly) {
                index = false;
                if (upper != null && nfsExport) {
                    warn("NFS export requires an index dir, falling back to nfs_export=off.");
                    nfsExport = false;
                }
                indexDir = null;
            }
            LayerStack st = stack(samefs, xinoBits, overlayUuid);
            MountTrace.mark("checks.stack");
            return st;
        }

        /** Claims upper and work, checks they fit together, prepares W/work (ovl_get_upper, ovl_get_workdir). */
        private void upperAndWork() throws ErrnoException {
            if (o.workDir() == null) throw refuse(Errno.EINVAL, "missing 'workdir'");
            upper = LayerPaths.realPath(o.upperDir());
            upperId = id(upper);
            upperDev = Linux.stat(upper).dev();
            claim(upper, "upperdir");
            MountTrace.mark("checks.claimUpper");

            workBase = LayerPaths.realPath(o.workDir());
            workBaseId = id(workBase);
            if (Linux.stat(upper).mntId() != Linux.stat(workBase).mntId()) {
                throw refuse(Errno.EINVAL, "workdir and upperdir must reside under the same mount");
            }
            if (within(workBase, upperId) || within(upper, workBaseId)) {
                throw refuse(Errno.EINVAL, "workdir and upperdir must be separate subtrees");
            }
            claim(workBase, "workdir");
            MountTrace.mark("checks.claimWork");
            makeWorkdir(workBase);
            if (workDir != null) workId = id(workDir);
            else readOnly = true;
        }

        /** Lower roots and their file handle support (ovl_get_lowerstack, ovl_lower_dir). */
        private void lowerStack() throws ErrnoException {
            if (upper == null && o.lowerDirs().size() + o.dataDirs().size() == 1) {
                throw refuse(Errno.EINVAL, "at least 2 lowerdir are needed while upperdir nonexistent");
            }
            for (int i = 0; i < o.lowerDirs().size(); i++) {
                String l = LayerPaths.realPath(o.lowerDirs().get(i));
                lowerRoots.add(l);
                int fh = FsIdentity.canDecodeFh(l, capEff);
                lowerFh.add(fh);
                String name = Linux.toUtf8(givenLower(i));
                if ((nfsExport || (index && upper != null)) && fh == 0) {
                    index = false;
                    nfsExport = false;
                    warn("fs on '" + name + "' does not support file handles, falling back to index=off,"
                            + "nfs_export=off.");
                }
                if (xino == Xino.AUTO && upper != null && fh == 0) {
                    xino = Xino.OFF;
                    warn("fs on '" + name + "' does not support file handles, falling back to xino=off.");
                }
                if (fh != FsIdentity.FILEID_INO32_GEN) ino32All = false;
            }
        }

        /**
         * Numbers the filesystems, judges their UUIDs, and refuses a lower root that is another layer or is in use
         * (ovl_get_layers, ovl_get_fsid).
         */
        private void layerFilesystems() throws ErrnoException {
            fss.add(new Fs(upperDev, upper == null ? FsIdentity.NULL_UUID : FsIdentity.fsUuid(upper)));
            if (upperId != null) traps.add(upperId);
            if (workId != null) traps.add(workId);
            if (workBaseId != null) traps.add(workBaseId);
            for (String l : lowerRoots) {
                long dev = Linux.stat(l).dev();
                int fsid = -1;
                for (int k = 0; k < fss.size(); k++) if (fss.get(k).dev == dev) fsid = k;
                if (fsid < 0) {
                    Fs fs = new Fs(dev, FsIdentity.fsUuid(l));
                    if (!lowerUuidOk(fss, fs.uuid, upper != null)) badUuid(fs, l);
                    fss.add(fs);
                    fsid = fss.size() - 1;
                }
                if (!traps.add(id(l))) throw refuse(Errno.ELOOP, "conflicting lowerdir path");
                if (inUse.inUse(l)) reportInUse("lowerdir");
                fss.get(fsid).isLower = true;
                lowerFsid.add(fsid);
                lowerDev.add(dev);
            }
        }

        /** A lower filesystem whose UUID cannot tell its handles apart: no decoding of handles from it. */
        private void badUuid(Fs fs, String lowerRoot) {
            fs.badUuid = true;
            boolean changed = false;
            if (xino == Xino.AUTO) {
                xino = Xino.OFF;
                changed = true;
            }
            if (index || nfsExport) {
                index = false;
                nfsExport = false;
                changed = true;
            }
            if (changed) {
                warn((isNull(fs.uuid) ? "null" : "conflicting") + " uuid detected in lower fs '"
                        + Linux.toUtf8(LayerPaths.pd2(lowerRoot)) + "', falling back to xino="
                        + xino.name().toLowerCase(Locale.ROOT) + ",index=off,nfs_export=off.");
            }
        }

        /** High inode bits for the fsid: 32 when every layer uses 32-bit inode handles, else just enough. */
        private int xinoBits(boolean samefs) {
            int bits;
            if (samefs) {
                if (xino == Xino.ON) info("\"xino=on\" is useless with all layers on same fs, ignore.");
                bits = 0;
            } else if (xino == Xino.OFF) {
                bits = 0;
            } else {
                bits = ino32All && upperFh == FsIdentity.FILEID_INO32_GEN ? 32 : ilog2(fss.size() - 1) + 2;
            }
            if (bits > 0) info("\"xino\" feature enabled using " + bits + " upper inode bits.");
            return bits;
        }

        /** uuid=off needs one filesystem; on/auto read or create NS uuid (also for a read-only fallback). */
        private byte[] overlayUuid() {
            if (uuid == Uuid.OFF && fss.size() > 1) {
                // null uuids in fh blobs could not tell the filesystems apart
                warn("The uuid=off requires a single fs for lower and upper, falling back to uuid=null.");
                uuid = Uuid.NULL;
            } else if (upper != null && hasFsid()) {
                return initUuid(upper);
            }
            return FsIdentity.NULL_UUID.clone();
        }

        /**
         * Creates W/index (kept across mounts) and drops its '#' leftovers; verifying its contents is the index
         * code's part (format doc §5.7). The index dir takes over from W/work as the scratch dir and trap.
         */
        private void indexDir() throws ErrnoException {
            indexDir = WorkDir.create(workBase, WorkDir.INDEX, true, o.given().workDir(), this::warn);
            if (indexDir == null) {
                warn("try deleting index dir or mounting with '-o index=off' to disable inodes index.");
                readOnly = true;
                return;
            }
            traps.remove(workId);
            if (!traps.add(id(indexDir))) throw refuse(Errno.ELOOP, "conflicting indexdir path");
            WorkDir.cleanupIndexTemps(indexDir, this::warn);
        }

        /** Layers inside one another, or inside another overlay's upper/work (ovl_check_overlapping_layers). */
        private void checkOverlaps() throws ErrnoException {
            if (upper != null) {
                for (String a : LayerPaths.ancestors(upper)) if (inUse.inUse(a)) reportInUse("upperdir");
                for (String a : LayerPaths.ancestors(workBase)) if (inUse.inUse(a)) reportInUse("workdir");
            }
            for (String l : lowerRoots) {
                for (String a : LayerPaths.ancestors(l)) {
                    if (traps.contains(id(a))) throw refuse(Errno.ELOOP, "overlapping lowerdir path");
                    if (inUse.inUse(a)) reportInUse("lowerdir");
                }
            }
        }

        private LayerStack stack(boolean samefs, int xinoBits, byte[] overlayUuid) throws ErrnoException {
            List<Layer> lowers = new ArrayList<>();
            java.util.Set<Long> idmapped = inUse.idmapped();
            for (int i = 0; i < lowerRoots.size(); i++) {
                Fs fs = fss.get(lowerFsid.get(i));
                int fh = lowerFh.get(i);
                lowers.add(new Layer(i + 1, pinned(lowerRoots.get(i), idmapped), lowerDev.get(i), blobUuid(fs), false,
                        lowerFsid.get(i), fh != 0, fh == FsIdentity.FILEID_INO32_GEN, fs.badUuid));
            }
            Layer upperLayer = null;
            if (upper != null) {
                int fh = workDir != null ? upperFh : FsIdentity.canDecodeFh(upper, capEff);
                upperLayer = new Layer(0, upper, upperDev, blobUuid(fss.getFirst()), true, 0, fh != 0,
                        fh == FsIdentity.FILEID_INO32_GEN, false);
            }
            OverlayOptions effective = o.with(redirect, index, nfsExport, uuid, xino, metacopy);
            return new LayerStack(effective, upperLayer, lowers, workBase, workDir, indexDir,
                    upper == null || readOnly, tmpfile, samefs, overlayUuid, warnings, xinoBits, renameWhiteout,
                    dType, xattrs && upper != null, locks);
        }

        /**
         * The path the engine reaches a lower root by. A root on an idmapped mount is reached through a descriptor
         * held open ({@code /proc/PID/fd/N}): containers/storage (rootful podman with --uidmap) hands the mount
         * program layers on idmapped mounts it makes for the call and detaches once the program returns; the
         * kernel's overlayfs holds them from mount(2) on, and so must we. Other roots keep their path (a walk
         * through /proc costs every call a little).
         */
        private String pinned(String root, java.util.Set<Long> idmapped) throws ErrnoException {
            if (!IdmappedMounts.onIdmappedMount(root, idmapped)) return root;
            int fd = Linux.open(root, Linux.O_PATH | Linux.O_DIRECTORY | Linux.O_CLOEXEC, 0);
            locks.pin(fd);
            // by pid, not /proc/self: a "/proc/self/fd/N" path means an unlinked object to the engine (OverlayFs);
            // and "/.", so that the root itself is no symlink to the calls that do not follow one (O_NOFOLLOW)
            return "/proc/" + ProcessHandle.current().pid() + "/fd/" + fd + "/.";
        }

        /** Without CAP_SYS_ADMIN trusted.* xattrs are out of reach; explicit features that need them fail. */
        private void checkCapabilities() throws ErrnoException {
            if (o.userxattr() || FsIdentity.capable(capEff, 21 /* CAP_SYS_ADMIN */)) return;
            if (o.isExplicit("redirect_dir") && redirect != RedirectDir.NOFOLLOW) {
                throw refuse(Errno.EPERM, "redirect_dir requires permission to access trusted xattrs");
            }
        }

        /** The checks the kernel makes while parsing each layer option, in the order the options were given. */
        private void checkLayerDirs() throws ErrnoException {
            List<String> order = new ArrayList<>();
            for (String k : o.explicit()) if (k.equals("lowerdir") || k.equals("upperdir") || k.equals("workdir")) order.add(k);
            for (String k : List.of("lowerdir", "upperdir", "workdir")) if (!order.contains(k)) order.add(k);
            for (String k : order) {
                switch (k) {
                    case "lowerdir" -> {
                        for (int i = 0; i < o.lowerDirs().size(); i++) {
                            checkDir(o.lowerDirs().get(i), givenLower(i), false);
                        }
                        List<String> dg = o.given().dataDirs();
                        for (int i = 0; i < o.dataDirs().size(); i++) {
                            checkDir(o.dataDirs().get(i), i < dg.size() ? dg.get(i) : o.dataDirs().get(i), false);
                        }
                    }
                    case "upperdir" -> {
                        if (o.upperDir() != null) checkDir(o.upperDir(), o.given().upperDir(), true);
                    }
                    default -> {
                        if (o.workDir() != null) checkDir(o.workDir(), o.given().workDir(), true);
                    }
                }
            }
        }

        private String givenLower(int i) {
            List<String> g = o.given().lowerDirs();
            return i < g.size() ? g.get(i) : o.lowerDirs().get(i);
        }

        private void checkDir(String path, String given, boolean upper) throws ErrnoException {
            Stat st;
            try {
                st = Linux.stat(path);
            } catch (ErrnoException e) {
                throw refuse(e.errno(), "failed to resolve '" + Linux.toUtf8(MountOptions.unescape(given)) + "': "
                        + LayerPaths.err(e));
            }
            if (!st.isDir()) throw refuse(Errno.EINVAL, "overlay: " + Linux.toUtf8(given) + " is not a directory");
            if (upper && Linux.statfs(path).readOnly()) {
                throw refuse(Errno.EINVAL, "overlay: filesystem on " + Linux.toUtf8(given) + " is read-only");
            }
        }

        /** Takes the in-use lock; the kernel's ovl_inuse_trylock + ovl_report_in_use. */
        private void claim(String dir, String name) throws ErrnoException {
            boolean taken = !inUse.inUse(dir) && InUse.tryLock(dir, locks);
            if (!taken) reportInUse(name);
        }

        private void reportInUse(String name) throws ErrnoException {
            if (index) {
                throw refuse(Errno.EBUSY, name + " is in-use as upperdir/workdir of another mount, mount with "
                        + "'-o index=off' to override exclusive upperdir protection.");
            }
            warn(name + " is in-use as upperdir/workdir of another mount, accessing files from both mounts will "
                    + "result in undefined behavior.");
        }

        /** {@code path} is {@code target} or lies below it (same filesystem). */
        private static boolean within(String path, LayerPaths.Id target) throws ErrnoException {
            if (id(path).equals(target)) return true;
            for (String a : LayerPaths.ancestors(path)) if (id(a).equals(target)) return true;
            return false;
        }

        private static LayerPaths.Id id(String path) throws ErrnoException {
            return LayerPaths.Id.of(Linux.stat(path));
        }

        // --- W/work and the upper filesystem's features (the kernel's ovl_make_workdir) ---

        private void makeWorkdir(String workBase) throws ErrnoException {
            workDir = WorkDir.create(workBase, WorkDir.WORK, false, o.given().workDir(), this::warn);
            MountTrace.mark("work.create");
            if (workDir == null) return;             // read-only overlay; the kernel probes nothing more

            // The probes below ask the upper filesystem, through this mount of it, what it supports; a filesystem
            // on which they all succeeded for a mount of this process that is still live is not asked again
            // (UpperFeatures says why that answer cannot have changed).
            Stat ws = Linux.stat(workDir);
            UpperFeatures.Key key = new UpperFeatures.Key(ws.dev(), ws.mntId(), o.xattrPrefix());
            Integer knownFh = UpperFeatures.known(key, locks);
            if (knownFh != null) {
                dType = tmpfile = renameWhiteout = true;
                upperFh = knownFh;
                MountTrace.mark("work.known");
            } else {
                probeUpper();
                if (dType && tmpfile && renameWhiteout && xattrs) UpperFeatures.remember(key, upperFh, locks);
            }

            // The kernel tolerated weak local uppers for compatibility but never remote ones (NFS, CIFS, FUSE...).
            if (FsIdentity.isRemote(workDir) && (!dType || !renameWhiteout || !xattrs)) {
                throw refuse(Errno.EINVAL, "upper fs missing required features.");
            }

            if (o.volatileMode()) {
                try {
                    WorkDir.createVolatileDirty(workDir);
                } catch (ErrnoException e) {
                    throw refuse(e.errno(), "Failed to create volatile/dirty file.");
                }
            }

            if (index && upperFh == 0) {
                index = false;
                warn("upper fs does not support file handles, falling back to index=off.");
            }
            if (upperFh != FsIdentity.FILEID_INO32_GEN) ino32All = false;
            if (nfsExport && !index) {
                warn("NFS export requires \"index=on\", falling back to nfs_export=off.");
                nfsExport = false;
            }
            MountTrace.mark("work.fh");
        }

        /** The kernel's probes of the upper fs in W and W/work, with its warnings and downgrades. */
        private void probeUpper() throws ErrnoException {
            dType = false;
            for (DirEnt e : Linux.readdir(workBase)) {
                if (!e.isDotOrDotDot() && e.type() != DirEnt.DT_UNKNOWN) dType = true;
            }
            if (!dType) warn("upper fs needs to support d_type.");

            try {
                Linux.close(Linux.openTmpfile(workDir, 0));
                tmpfile = true;
            } catch (ErrnoException e) {
                tmpfile = false;
                warn("upper fs does not support tmpfile.");
            }

            MountTrace.mark("work.dtypeTmpfile");
            renameWhiteout = probeRenameWhiteout(workDir);
            if (!renameWhiteout) warn("upper fs does not support RENAME_WHITEOUT.");
            MountTrace.mark("work.whiteout");

            String opaque = o.xattrPrefix() + "opaque";
            try {
                Linux.lsetxattr(workDir, opaque, new byte[] {'0'}, 0);
                try {
                    Linux.lremovexattr(workDir, opaque);
                } catch (ErrnoException ignored) {
                    // best effort, as in the kernel
                }
            } catch (ErrnoException e) {
                xattrs = false;
                warn("failed to set xattr on upper");
                if (redirect == RedirectDir.ON || redirect == RedirectDir.FOLLOW) {
                    redirect = RedirectDir.NOFOLLOW;
                    warn("...falling back to redirect_dir=nofollow.");
                }
                if (metacopy) {
                    metacopy = false;
                    warn("...falling back to metacopy=off.");
                }
                if (index) {
                    index = false;
                    warn("...falling back to index=off.");
                }
                if (hasFsid()) {
                    uuid = Uuid.NULL;
                    warn("...falling back to uuid=null.");
                }
                if (xino == Xino.AUTO) {
                    xino = Xino.OFF;
                    warn("...falling back to xino=off.");
                }
                if (e.errno() == Errno.EPERM && !o.userxattr()) info("try mounting with 'userxattr' option");
            }
            MountTrace.mark("work.xattr");
            upperFh = FsIdentity.canDecodeFh(workDir, capEff);
        }

        /**
         * 1 if RENAME_WHITEOUT leaves a whiteout behind, 0 if the filesystem refuses the flag (EINVAL); any other
         * failure fails the mount, as in the kernel.
         */
        private static boolean probeRenameWhiteout(String workDir) throws ErrnoException {
            String a = workDir + "/" + tempName(), b = workDir + "/" + tempName();
            Linux.close(Linux.open(a, Linux.O_CREAT | Linux.O_EXCL | Linux.O_WRONLY, 0));
            try {
                Linux.rename(a, b, Linux.RENAME_WHITEOUT);
            } catch (ErrnoException e) {
                quietUnlink(a);
                if (e.errno() == Errno.EINVAL) return false;
                // a process that may not make whiteout devices (a user outside any user namespace, a seccomp
                // filter): AUFS whiteouts are made then, where the kernel would refuse the mount
                if (e.errno() == Errno.EPERM) return false;
                throw e;
            }
            Stat w = Linux.lstatOrNull(a);
            boolean ok = w != null && w.isWhiteout();
            quietUnlink(a);
            quietUnlink(b);
            return ok;
        }

        private static String tempName() {
            return "#" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1);
        }

        private static void quietUnlink(String p) {
            try {
                Linux.unlink(p);
            } catch (ErrnoException ignored) {
                // probe leftovers are '#' names: the next mount's cleanup removes them anyway
            }
        }

        // --- uuids (format doc §5.8) ---

        private boolean hasFsid() {
            return uuid == Uuid.ON || uuid == Uuid.AUTO;
        }

        /** The UUID this overlay writes into fh blobs for objects on {@code fs}: zeros under uuid=off. */
        private byte[] blobUuid(Fs fs) {
            return uuid == Uuid.OFF ? FsIdentity.NULL_UUID.clone() : fs.uuid.clone();
        }

        /** The kernel's ovl_lower_uuid_ok, before the new filesystem is added to {@code fss}. */
        private boolean lowerUuidOk(List<Fs> fss, byte[] u, boolean hasUpper) {
            if (!nfsExport && !hasUpper) return true;
            boolean offline = !index && !metacopy && redirect != RedirectDir.ON && xino != Xino.ON;
            if (offline && isNull(u)) return false;
            for (Fs fs : fss) {
                if (fs.isLower && Arrays.equals(fs.uuid, u)) {
                    fs.badUuid = true;
                    return false;
                }
            }
            return true;
        }

        /**
         * Reads NS uuid from the upper root, or creates it when the kernel would: always with uuid=on, with
         * uuid=auto only for a new overlay (root not yet marked impure). Falls back to uuid=null on failure.
         */
        private byte[] initUuid(String upper) {
            String name = o.xattrPrefix() + "uuid";
            boolean set = false;
            int res;
            try {
                byte[] v = Linux.lgetxattrOrNull(upper, name);
                if (v != null && v.length == 16) return v;
                if (v != null) {
                    res = v.length;                  // a short value: the kernel reports its length
                } else {
                    if (uuid == Uuid.AUTO) {
                        byte[] impure = Linux.lgetxattrOrNull(upper, o.xattrPrefix() + "impure");
                        if (impure != null && impure.length > 0) {
                            uuid = Uuid.NULL;        // an existing overlay without uuid keeps having none
                            return FsIdentity.NULL_UUID.clone();
                        }
                        if (impure == null) uuid = Uuid.ON;
                    }
                    byte[] fresh = uuidBytes(UUID.randomUUID());
                    set = true;
                    Linux.lsetxattr(upper, name, fresh, 0);
                    return fresh;
                }
            } catch (ErrnoException e) {
                res = e.errno() == Errno.ERANGE ? -Errno.ERANGE : -e.errno();
            }
            uuid = Uuid.NULL;
            warn("failed to " + (set ? "set" : "get") + " uuid (" + Linux.toUtf8(LayerPaths.pd2(upper)) + ", err="
                    + res + "); falling back to uuid=null.");
            return FsIdentity.NULL_UUID.clone();
        }

        private static byte[] uuidBytes(UUID u) {
            byte[] b = new byte[16];
            long hi = u.getMostSignificantBits(), lo = u.getLeastSignificantBits();
            for (int i = 0; i < 8; i++) {
                b[i] = (byte) (hi >>> (56 - 8 * i));
                b[8 + i] = (byte) (lo >>> (56 - 8 * i));
            }
            return b;
        }

        private static boolean isNull(byte[] u) {
            for (byte x : u) if (x != 0) return false;
            return true;
        }

        private static int ilog2(int n) {
            return 31 - Integer.numberOfLeadingZeros(n);
        }
    }
}
