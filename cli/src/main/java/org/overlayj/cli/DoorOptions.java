package org.overlayj.cli;

import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.adapter.IdMapping;

import java.util.ArrayList;
import java.util.List;

/**
 * The generic (non-overlay) options of a mount, turned into how the FUSE door mounts: mount(2) flags, fsname,
 * subtype, allow_other, threads, debug, passthrough and uring (ours), and fuse-overlayfs's id mappings ({@code uidmapping=},
 * {@code gidmapping=}, {@code squash_to_root}, {@code squash_to_uid=}, {@code squash_to_gid=}: how owners show, see
 * {@link IdMapping}). Options that only tune fuse-overlayfs or libfuse (fast_ino, plugins, threaded, writeback,
 * timeout, noxattrs, static_nlink, xattr_permissions, context, …) are accepted and ignored, so that fstab lines,
 * scripts and container engines written for fuse-overlayfs keep working; they are listed in {@link #ignored}.
 */
record DoorOptions(FuseMountOptions fuse, boolean debug, boolean passthrough, IdMapping uids, IdMapping gids,
                   List<String> ignored) {
    static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16,
            MS_DIRSYNC = 128, MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_RELATIME = 1 << 21,
            MS_STRICTATIME = 1 << 24, MS_LAZYTIME = 1 << 25;

    static DoorOptions of(List<String> generic, String source, int threads, boolean root)
            throws org.overlayj.sys.ErrnoException {
        String fsname = source != null ? source : "overlayj";
        String subtype = "overlayj";
        boolean allowOther = root;
        boolean debug = false;
        boolean passthrough = true;
        boolean uring = FuseMountOptions.uringByDefault();
        long flags = 0;
        List<String> ignored = new ArrayList<>();
        List<IdMapping.Range> uidRanges = List.of(), gidRanges = List.of();
        int squashUid = -1, squashGid = -1;
        boolean squashRoot = false;
        for (String opt : generic) {
            int eq = opt.indexOf('=');
            String key = eq < 0 ? opt : opt.substring(0, eq);
            String value = eq < 0 ? "" : opt.substring(eq + 1);
            switch (key) {
                case "ro" -> flags |= MS_RDONLY;
                case "rw" -> flags &= ~MS_RDONLY;
                case "nosuid" -> flags |= MS_NOSUID;
                case "suid" -> flags &= ~MS_NOSUID;
                case "nodev" -> flags |= MS_NODEV;
                case "dev" -> flags &= ~MS_NODEV;
                case "noexec" -> flags |= MS_NOEXEC;
                case "exec" -> flags &= ~MS_NOEXEC;
                case "sync" -> flags |= MS_SYNCHRONOUS;
                case "async" -> flags &= ~MS_SYNCHRONOUS;
                case "dirsync" -> flags |= MS_DIRSYNC;
                case "noatime" -> flags |= MS_NOATIME;
                case "atime" -> flags &= ~MS_NOATIME;
                case "nodiratime" -> flags |= MS_NODIRATIME;
                case "diratime" -> flags &= ~MS_NODIRATIME;
                case "relatime" -> flags |= MS_RELATIME;
                case "norelatime" -> flags &= ~MS_RELATIME;
                case "strictatime" -> flags |= MS_STRICTATIME;
                case "lazytime" -> flags |= MS_LAZYTIME;
                case "nolazytime" -> flags &= ~MS_LAZYTIME;
                case "fsname" -> fsname = value;
                case "subtype" -> subtype = value;
                case "allow_other", "allow_root" -> allowOther = true;
                case "debug" -> debug = true;
                // ours: FUSE passthrough for files open on their upper inode (on by default, where the kernel allows)
                case "passthrough" -> passthrough = switch (value) {
                    case "", "on" -> true;
                    case "off" -> false;
                    default -> throw new org.overlayj.sys.ErrnoException(org.overlayj.sys.Errno.EINVAL,
                            "option \"passthrough\": on or off, not \"" + value + "\"");
                };
                // ours: bin/overlayj mounts this one with a server of its own, not the resident one
                case "no_shared" -> { }
                // ours: FUSE over io_uring when the kernel offers it (fuse module's enable_uring), else /dev/fuse
                case "uring" -> uring = switch (value) {
                    case "", "on" -> true;
                    case "off" -> false;
                    default -> throw new org.overlayj.sys.ErrnoException(org.overlayj.sys.Errno.EINVAL,
                            "option \"uring\": on or off, not \"" + value + "\"");
                };
                // always on: the kernel checks mode bits like for a kernel overlay
                case "default_permissions", "defaults" -> { }
                case "uidmapping" -> uidRanges = IdMapping.parse(key, value);
                case "gidmapping" -> gidRanges = IdMapping.parse(key, value);
                case "squash_to_uid" -> squashUid = IdMapping.parseId(key, value);
                case "squash_to_gid" -> squashGid = IdMapping.parseId(key, value);
                case "squash_to_root" -> squashRoot = true;
                default -> ignored.add(opt);
            }
        }
        IdMapping uids = new IdMapping(uidRanges, squashUid >= 0 ? squashUid : squashRoot ? 0 : -1);
        IdMapping gids = new IdMapping(gidRanges, squashGid >= 0 ? squashGid : squashRoot ? 0 : -1);
        return new DoorOptions(new FuseMountOptions(fsname, subtype, allowOther, true, flags, threads, uring), debug,
                passthrough, uids, gids, List.copyOf(ignored));
    }
}
