package org.overlayj.core.config;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import org.overlayj.core.config.OverlayOptions.Fsync;
import org.overlayj.core.config.OverlayOptions.GivenNames;
import org.overlayj.core.config.OverlayOptions.RedirectDir;
import org.overlayj.core.config.OverlayOptions.Uuid;
import org.overlayj.core.config.OverlayOptions.Xino;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The overlay mount option string, parsed with the kernel's syntax and rules (its params.c concern; format doc
 * §1.1–1.2, §6.1, §7, §8.1, §8.2).
 *
 * <p>The string is split at unescaped commas; {@code lowerdir=} at unescaped colons. One level of backslash
 * escapes is removed from every layer path; relative paths are resolved against the current directory. After
 * parsing, the kernel's defaults (its module parameters) and conflict rules are applied, with its messages: an
 * explicit conflict fails with EINVAL, a conflict with a defaulted option silently (or with the kernel's notice)
 * switches the defaulted one.
 *
 * <p>Messages the kernel logs with its {@code overlayfs: } prefix are given without it; messages its option parser
 * logs through the mount context (prefix {@code overlay: }) keep that prefix, so each reads as in dmesg.
 *
 * <p>Options overlayj does not implement yet are refused by name, never ignored. Generic mount and FUSE options
 * (ro, allow_other, fsname=, ...) are returned apart for the door that mounts the overlay.
 */
public final class MountOptions {
    private static final Logger LOG = LoggerFactory.getLogger(MountOptions.class);

    /** The kernel's OVL_MAX_STACK. */
    public static final int MAX_STACK = 500;

    /**
     * The parse result.
     *
     * @param overlay  the overlay options, defaults and conflict rules applied
     * @param generic  the generic mount / FUSE options, in the order given, as written (e.g. "allow_other",
     *                 "fsname=x"); default_permissions is both an overlay and a FUSE option and appears in both
     * @param warnings the kernel's notices for switched or ignored options
     */
    public record Parsed(OverlayOptions overlay, List<String> generic, List<String> warnings) {
        public Parsed {
            generic = List.copyOf(generic);
            warnings = List.copyOf(warnings);
        }

        public boolean readOnlyRequested() {
            return generic.contains("ro") && generic.lastIndexOf("ro") > generic.lastIndexOf("rw");
        }
    }

    /** Generic options that take no value. */
    private static final Set<String> GENERIC_FLAGS = Set.of(
            "ro", "rw", "sync", "async", "dirsync", "lazytime", "nolazytime", "mand", "nomand",
            "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime",
            "dev", "nodev", "suid", "nosuid", "exec", "noexec", "iversion", "noiversion",
            "allow_other", "allow_root", "auto_unmount", "default_permissions", "nonempty", "debug",
            "squash_to_root", "static_nlink", "noacl", "auto", "noauto", "user", "nouser", "users", "_netdev",
            "nofail", "defaults", "silent", "loud", "seclabel", "passthrough", "no_shared", "uring");

    /** Generic options that take a value. */
    private static final Set<String> GENERIC_VALUED = Set.of(
            "fsname", "subtype", "max_read", "blksize", "squash_to_uid", "squash_to_gid", "plugins", "threaded",
            "fast_ino", "writeback", "context", "fscontext", "defcontext", "rootcontext", "uidmapping",
            "gidmapping", "xattr_permissions", "timeout", "noxattrs", "volatile_fsync", "user_id", "group_id", "rootmode",
            "fd", "uid", "gid", "umask", "x-systemd.requires", "x-gvfs-show", "helper", "passthrough", "uring");

    private MountOptions() {}

    /** Parses with the current directory and the running kernel's module defaults. */
    public static Parsed parse(String optionString) throws ErrnoException {
        return parse(optionString, Linux.fromUtf8(System.getProperty("user.dir")), ModuleDefaults.current());
    }

    /**
     * Parses {@code optionString} (a byte string: convert user text with {@link Linux#fromUtf8}).
     *
     * @param cwd       byte-string directory relative layer paths are resolved against
     * @param defaults  the module parameters that give the defaults
     */
    public static Parsed parse(String optionString, String cwd, ModuleDefaults defaults) throws ErrnoException {
        Builder b = new Builder(defaults);
        for (String opt : splitOptions(optionString)) {
            if (opt.isEmpty()) continue;                  // ",," is skipped, as by the VFS
            int eq = opt.indexOf('=');
            if (eq == 0) continue;                        // "=x": no key, skipped by the VFS
            String key = eq < 0 ? opt : opt.substring(0, eq);
            String value = eq < 0 ? null : opt.substring(eq + 1);
            b.option(opt, key, value, cwd);
        }
        return b.finish();
    }

    // --- syntax -------------------------------------------------------------------------------------------------

    /**
     * Splits at commas not preceded by a backslash; the backslashes stay (the kernel's ovl_next_opt). A comma inside
     * double quotes of an SELinux context option ({@code context="system_u:object_r:container_file_t:s0:c1,c2"},
     * as containers/storage writes it) does not split either: the kernel's LSM reads those options that way
     * before the filesystem sees the rest.
     */
    static List<String> splitOptions(String s) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' && (quoted || isContextOption(cur))) {
                quoted = !quoted;
                cur.append(c);
            } else if (c == '\\') {
                cur.append(c);
                if (++i < s.length()) cur.append(s.charAt(i));
            } else if (c == ',' && !quoted) {
                out.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        out.add(cur.toString());
        return out;
    }

    private static boolean isContextOption(CharSequence opt) {
        String o = opt.toString();
        return o.equals("context=") || o.equals("fscontext=") || o.equals("defcontext=") || o.equals("rootcontext=")
                || o.startsWith("context=\"") || o.startsWith("fscontext=\"") || o.startsWith("defcontext=\"")
                || o.startsWith("rootcontext=\"");
    }

    /** Removes one level of backslash escapes. */
    public static String unescape(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') {
                if (++i >= s.length()) break;
                c = s.charAt(i);
            }
            out.append(c);
        }
        return out.toString();
    }

    /**
     * A lowerdir= value split into layers (escapes kept, as the kernel keeps them for its messages) and data-only
     * layers; the kernel's colon rules and messages.
     */
    record LowerSplit(List<String> layers, List<String> dataLayers) {}

    static LowerSplit splitLowerdirs(String value) throws ErrnoException {
        if (value.startsWith(":")) throw inval("cannot append lower layer");
        List<List<String>> groups = new ArrayList<>();   // groups separated by "::"
        List<String> group = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        int i = 0, n = value.length();
        while (i < n) {
            char c = value.charAt(i);
            if (c == '\\') {
                cur.append(c);
                if (i + 1 < n) cur.append(value.charAt(i + 1));
                i += 2;
                continue;
            }
            if (c != ':') {
                cur.append(c);
                i++;
                continue;
            }
            int colons = 0;
            while (i < n && value.charAt(i) == ':') {
                colons++;
                i++;
            }
            if (colons > 2) {
                throw inval("only single ':' or double '::' sequences of unescaped colons in lowerdir mount "
                        + "option allowed.");
            }
            if (i >= n) throw inval("unescaped trailing colons in lowerdir mount option.");
            group.add(cur.toString());
            cur.setLength(0);
            if (colons == 2) {
                groups.add(group);
                group = new ArrayList<>();
            }
        }
        group.add(cur.toString());
        groups.add(group);
        int total = groups.stream().mapToInt(List::size).sum();
        if (total > MAX_STACK) throw inval("too many lower directories, limit is " + MAX_STACK);
        // After the first "::" every layer is a data layer; a single ':' there means a regular layer after a
        // data layer, which the kernel refuses.
        List<String> layers = groups.getFirst();
        List<String> data = new ArrayList<>();
        for (int g = 1; g < groups.size(); g++) {
            if (groups.get(g).size() > 1) throw inval("regular lower layers cannot follow data lower layers");
            data.addAll(groups.get(g));
        }
        for (String l : layers) if (l.isEmpty()) throw inval("empty lowerdir");
        for (String l : data) if (l.isEmpty()) throw inval("empty lowerdir");
        return new LowerSplit(layers, data);
    }

    static String resolve(String path, String cwd) {
        if (path.startsWith("/")) return path;
        return cwd.endsWith("/") ? cwd + path : cwd + "/" + path;
    }

    static ErrnoException inval(String message) {
        return new ErrnoException(Errno.EINVAL, message);
    }

    // --- option state -------------------------------------------------------------------------------------------

    private static final class Builder {
        final ModuleDefaults defaults;
        final List<String> generic = new ArrayList<>();
        final List<String> warnings = new ArrayList<>();
        final LinkedHashSet<String> explicit = new LinkedHashSet<>();
        List<String> lowerDirs = List.of(), lowerGiven = List.of(), dataDirs = List.of(), dataGiven = List.of();
        String upperDir, upperGiven, workDir, workGiven;
        RedirectDir redirect;
        boolean index, nfsExport, metacopy, userxattr, defaultPermissions, overrideCreds = true;
        Uuid uuid = Uuid.AUTO;
        Xino xino;
        Fsync fsync = Fsync.AUTO;
        String verity = "off";

        Builder(ModuleDefaults d) {
            defaults = d;
            redirect = d.redirectDefault();
            index = d.index();
            nfsExport = d.nfsExport();
            metacopy = d.metacopy();
            xino = d.xinoDefault();
        }

        void option(String raw, String key, String value, String cwd) throws ErrnoException {
            switch (key) {
                case "lowerdir" -> {
                    String v = string(key, value, true);
                    explicit.add(key);
                    if (v.isEmpty()) {                   // "lowerdir=" drops the layers given so far
                        lowerDirs = List.of();
                        lowerGiven = List.of();
                        dataDirs = List.of();
                        dataGiven = List.of();
                        return;
                    }
                    LowerSplit split = splitLowerdirs(v);
                    lowerGiven = split.layers();
                    lowerDirs = split.layers().stream().map(l -> resolve(unescape(l), cwd)).toList();
                    dataGiven = split.dataLayers();
                    dataDirs = split.dataLayers().stream().map(l -> resolve(unescape(l), cwd)).toList();
                }
                case "lowerdir+", "datadir+" -> {
                    string(key, value, false);
                    throw inval(key + " is not supported by overlayj yet");
                }
                case "upperdir" -> {
                    upperGiven = string(key, value, false);
                    upperDir = resolve(unescape(upperGiven), cwd);
                    explicit.add(key);
                }
                case "workdir" -> {
                    workGiven = string(key, value, false);
                    workDir = resolve(unescape(workGiven), cwd);
                    explicit.add(key);
                }
                case "default_permissions" -> {
                    flag(key, value);
                    defaultPermissions = true;
                    generic.add(raw);                    // the FUSE door wants it too
                }
                case "redirect_dir" -> {
                    redirect = switch (choice(key, value, "on", "follow", "nofollow", "off")) {
                        case "on" -> RedirectDir.ON;
                        case "follow" -> RedirectDir.FOLLOW;
                        case "nofollow" -> RedirectDir.NOFOLLOW;
                        default -> defaults.redirectOff();
                    };
                    explicit.add(key);
                }
                case "index" -> {
                    index = choice(key, value, "on", "off").equals("on");
                    explicit.add(key);
                }
                case "nfs_export" -> {
                    nfsExport = choice(key, value, "on", "off").equals("on");
                    explicit.add(key);
                }
                case "metacopy" -> {
                    metacopy = choice(key, value, "on", "off").equals("on");
                    explicit.add(key);
                }
                case "uuid" -> {
                    uuid = Uuid.valueOf(choice(key, value, "on", "auto", "null", "off").toUpperCase());
                    explicit.add(key);
                }
                case "xino" -> {
                    xino = Xino.valueOf(choice(key, value, "on", "auto", "off").toUpperCase());
                    explicit.add(key);
                }
                case "verity" -> {
                    verity = choice(key, value, "off", "on", "require");
                    explicit.add(key);
                }
                case "fsync" -> {
                    if ("0".equals(value) || "1".equals(value)) {
                        // fuse-overlayfs's fsync=0|1: no syncs is what volatile means here
                        fsync = value.equals("0") ? Fsync.VOLATILE : Fsync.AUTO;
                    } else {
                        fsync = Fsync.valueOf(choice(key, value, "volatile", "auto", "strict").toUpperCase());
                    }
                    explicit.add(key);
                }
                case "volatile" -> {
                    flag(key, value);
                    fsync = Fsync.VOLATILE;
                    explicit.add(key);
                }
                case "userxattr" -> {
                    flag(key, value);
                    userxattr = true;
                    explicit.add(key);
                }
                case "override_creds", "nooverride_creds" -> {
                    flag(key, value);
                    overrideCreds = key.equals("override_creds");
                    explicit.add("override_creds");
                }
                default -> {
                    if (value == null ? GENERIC_FLAGS.contains(key) : GENERIC_VALUED.contains(key)) {
                        generic.add(raw);
                    } else {
                        throw inval("overlay: Unknown parameter '" + key + "'");
                    }
                }
            }
        }

        private static String string(String key, String value, boolean canBeEmpty) throws ErrnoException {
            if (value == null || (value.isEmpty() && !canBeEmpty)) throw badValue(key);
            return value;
        }

        private static void flag(String key, String value) throws ErrnoException {
            if (value != null) throw inval("overlay: Unexpected value for '" + key + "'");
        }

        private static String choice(String key, String value, String... allowed) throws ErrnoException {
            if (value != null) for (String a : allowed) if (a.equals(value)) return a;
            throw badValue(key);
        }

        private static ErrnoException badValue(String key) {
            return inval("overlay: Bad value for '" + key + "'");
        }

        private void notice(String text) {
            LOG.info("{}", text);
            warnings.add(text);
        }

        private boolean set(String key) {
            return explicit.contains(key);
        }

        /** The kernel's ovl_fs_params_verify, then our refusals of what overlayj does not implement. */
        Parsed finish() throws ErrnoException {
            boolean setIndex = set("index"), setRedirect = set("redirect_dir"), setMetacopy = set("metacopy"),
                    setNfsExport = set("nfs_export");
            if (upperDir == null) {
                if (workDir != null) {
                    notice("option \"workdir=" + Linux.toUtf8(workGiven) + "\" is useless in a non-upper mount, "
                            + "ignore");
                    workDir = null;
                    workGiven = null;
                }
                if (index && setIndex) {
                    notice("option \"index=on\" is useless in a non-upper mount, ignore");
                    setIndex = false;
                }
                index = false;
                if (fsync == Fsync.VOLATILE) {
                    notice("option \"volatile\" is meaningless in a non-upper mount, ignoring it.");
                    fsync = Fsync.AUTO;
                }
                if (uuid == Uuid.ON) {
                    notice("option \"uuid=on\" requires an upper fs, falling back to uuid=null.");
                    uuid = Uuid.NULL;
                }
                // redirect_dir=on only matters with an upper; the kernel folds follow into it to simplify
                if (redirect == RedirectDir.FOLLOW) redirect = RedirectDir.ON;
            }

            if (metacopy && redirect != RedirectDir.ON) {
                if (setMetacopy && setRedirect) {
                    throw inval("conflicting options: metacopy=on,redirect_dir=" + name(redirect));
                }
                if (setRedirect) {
                    notice("disabling metacopy due to redirect_dir=" + name(redirect));
                    metacopy = false;
                } else {
                    redirect = RedirectDir.ON;
                }
            }

            if (nfsExport && !index) {
                if (upperDir == null && redirect != RedirectDir.NOFOLLOW) {
                    notice("NFS export requires \"redirect_dir=nofollow\" on non-upper mount, falling back to "
                            + "nfs_export=off.");
                    nfsExport = false;
                } else if (setNfsExport && setIndex) {
                    throw inval("conflicting options: nfs_export=on,index=off");
                } else if (setIndex) {
                    notice("disabling nfs_export due to index=off");
                    nfsExport = false;
                } else {
                    index = true;
                }
            }

            if (nfsExport && metacopy) {
                if (setNfsExport && setMetacopy) throw inval("conflicting options: nfs_export=on,metacopy=on");
                if (setMetacopy) {
                    notice("disabling nfs_export due to metacopy=on");
                    nfsExport = false;
                } else if (!verity.equals("off")) {
                    notice("disabling nfs_export due to verity=" + verity);
                    nfsExport = false;
                } else {
                    notice("disabling metacopy due to nfs_export=on");
                    metacopy = false;
                }
            }

            if (userxattr) {
                if (setRedirect && redirect != RedirectDir.NOFOLLOW) {
                    throw inval("conflicting options: userxattr,redirect_dir=" + name(redirect));
                }
                if (metacopy && setMetacopy) throw inval("conflicting options: userxattr,metacopy=on");
                // the kernel silently drops the defaults of both with userxattr
                redirect = RedirectDir.NOFOLLOW;
                metacopy = false;
            }
            // The kernel's EPERM checks for trusted xattrs without CAP_SYS_ADMIN are the mount checks' concern:
            // they depend on the mounter, not on the string.

            // What overlayj does not do yet is refused here, by name, after the kernel's own rules had their say
            // (so a string the kernel refuses is refused with the kernel's message).
            if (!verity.equals("off")) throw inval("verity=" + verity + " is not supported by overlayj yet");

            OverlayOptions o = new OverlayOptions(lowerDirs, upperDir, workDir, redirect, index, nfsExport, uuid,
                    xino, metacopy, userxattr, fsync == Fsync.VOLATILE, List.copyOf(explicit), fsync,
                    defaultPermissions, overrideCreds, new GivenNames(lowerGiven, upperGiven, workGiven, dataGiven),
                    dataDirs);
            return new Parsed(o, generic, warnings);
        }

        private static String name(Enum<?> e) {
            return e.name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
