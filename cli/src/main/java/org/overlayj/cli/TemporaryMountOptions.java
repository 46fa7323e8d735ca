package org.overlayj.cli;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * TEMPORARY: a minimal overlay option parser for the CLI until {@code org.overlayj.core.config.MountOptions}
 * (written on the config branch) is on main. It has the same result shape ({@link Parsed}: overlay options,
 * generic options, warnings) so that the switch is one line in {@link MountCommand#parseOptions}. It knows only
 * lowerdir/upperdir/workdir (with the kernel's backslash escapes and ':' separators) and passes the other overlay
 * options through at their kernel defaults; it applies none of the kernel's conflict rules.
 */
final class TemporaryMountOptions {
    private TemporaryMountOptions() {}

    record Parsed(OverlayOptions overlay, List<String> generic, List<String> warnings) {}

    static Parsed parse(String optionString) throws ErrnoException {
        String cwd = Linux.fromUtf8(Path.of("").toAbsolutePath().toString());
        List<String> lowers = new ArrayList<>();
        String upper = null, work = null;
        List<String> generic = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        List<String> explicit = new ArrayList<>();
        boolean index = false, nfsExport = false, userxattr = false, volatileMode = false;
        for (String opt : split(optionString, ',')) {
            if (opt.isEmpty()) continue;
            int eq = opt.indexOf('=');
            String key = eq < 0 ? opt : opt.substring(0, eq);
            String value = eq < 0 ? null : opt.substring(eq + 1);
            switch (key) {
                case "lowerdir" -> {
                    lowers.clear();
                    for (String l : split(value == null ? "" : value, ':')) {
                        if (l.isEmpty()) throw new ErrnoException(Errno.EINVAL, "overlay: empty lowerdir");
                        lowers.add(absolute(unescape(l), cwd));
                    }
                }
                case "upperdir" -> upper = absolute(unescape(value == null ? "" : value), cwd);
                case "workdir" -> work = absolute(unescape(value == null ? "" : value), cwd);
                case "index" -> index = "on".equals(value);
                case "nfs_export" -> nfsExport = "on".equals(value);
                case "userxattr" -> userxattr = true;
                case "volatile" -> volatileMode = true;
                case "redirect_dir", "metacopy", "xino", "uuid", "verity", "override_creds" ->
                        warnings.add("option " + key + " is not handled by the temporary CLI parser");
                default -> {
                    generic.add(opt);
                    continue;
                }
            }
            explicit.add(key);
        }
        if (lowers.isEmpty()) throw new ErrnoException(Errno.EINVAL, "overlay: missing 'lowerdir'");
        if (upper != null && work == null) throw new ErrnoException(Errno.EINVAL, "overlay: missing 'workdir'");
        OverlayOptions o = new OverlayOptions(lowers, upper, upper == null ? null : work,
                OverlayOptions.RedirectDir.NOFOLLOW, index || nfsExport, nfsExport, OverlayOptions.Uuid.AUTO,
                OverlayOptions.Xino.OFF, false, userxattr, volatileMode, explicit);
        return new Parsed(o, generic, warnings);
    }

    private static String absolute(String p, String cwd) {
        if (p.startsWith("/")) return p;
        return cwd.endsWith("/") ? cwd + p : cwd + "/" + p;
    }

    /** Splits at {@code sep} not escaped by a backslash; escapes stay for {@link #unescape}. */
    static List<String> split(String s, char sep) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                cur.append(c).append(s.charAt(++i));
            } else if (c == sep) {
                out.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        out.add(cur.toString());
        return out;
    }

    static String unescape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) c = s.charAt(++i);
            b.append(c);
        }
        return b.toString();
    }
}
