package org.overlayj.core.layer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/**
 * Layers on idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP): what /proc/self/mountinfo says of them. A layer on
 * one shows its owners shifted, as the kernel's overlayfs shows them; containers/storage makes such mounts for the
 * lower layers of a container with its own id mapping, and detaches them once the overlay is mounted.
 */
public final class IdmappedMounts {
    private IdmappedMounts() {}

    /** One mountinfo line: mount id, device, root of the mount within its filesystem, mount point, idmapped. */
    record Entry(String id, String dev, String root, String mountPoint, boolean idmapped) {
        static Entry parse(String line) {
            String[] f = line.split(" ");
            return new Entry(f[0], f[2], MountInfo.unescape(f[3]), MountInfo.unescape(f[4]),
                    Arrays.asList(f[5].split(",")).contains("idmapped"));
        }
    }

    static List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                if (line.split(" ").length > 5) out.add(Entry.parse(line));
            }
        } catch (IOException e) {
            // no mountinfo (no /proc): nothing is known to be idmapped
        }
        return out;
    }

    /** The ids of the idmapped mounts in this mount namespace (mountinfo read once: it may be long). */
    public static java.util.Set<Long> ids() {
        java.util.Set<Long> out = new java.util.HashSet<>();
        for (Entry e : entries()) if (e.idmapped) out.add(Long.parseLong(e.id));
        return out;
    }

    /** Whether the mount {@code path} is on is one of {@code idmapped} (see {@link #ids}). */
    public static boolean onIdmappedMount(String path, java.util.Set<Long> idmapped) throws ErrnoException {
        return !idmapped.isEmpty() && idmapped.contains(Linux.stat(path).mntId());
    }

    /**
     * The same directory as {@code canonical} (a canonical path on an idmapped mount) reached through a mount of
     * its filesystem that is not idmapped, or null when there is none in this mount namespace. Checked by device
     * and inode, so a path that is shadowed by another mount is not taken.
     */
    public static String unmapped(String canonical) throws ErrnoException {
        Stat want = Linux.stat(canonical);
        String id = Long.toString(want.mntId());
        Entry mapped = null;
        List<Entry> all = entries();
        for (Entry e : all) if (e.id.equals(id)) mapped = e;
        if (mapped == null || !mapped.idmapped) return null;
        String below = canonical.equals(mapped.mountPoint) ? "" : canonical.substring(mapped.mountPoint.length());
        String inFs = join(mapped.root, below);
        for (Entry e : all) {
            if (e.idmapped || !e.dev.equals(mapped.dev) || !within(inFs, e.root)) continue;
            String candidate = join(e.mountPoint, inFs.substring(e.root.equals("/") ? 0 : e.root.length()));
            Stat st = Linux.lstatOrNull(candidate);
            if (st != null && st.dev() == want.dev() && st.ino() == want.ino()
                    && Linux.stat(candidate).mntId() != want.mntId()) {
                return candidate;
            }
        }
        return null;
    }

    private static boolean within(String path, String dir) {
        return dir.equals("/") || path.equals(dir) || path.startsWith(dir + "/");
    }

    private static String join(String dir, String rest) {
        if (rest.isEmpty()) return dir;
        return dir.equals("/") ? rest : dir + rest;
    }

}
