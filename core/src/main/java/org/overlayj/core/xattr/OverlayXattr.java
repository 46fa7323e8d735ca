package org.overlayj.core.xattr;

import java.util.ArrayList;
import java.util.List;

/**
 * The overlay's private xattr names under one prefix ({@code trusted.overlay.} or, with userxattr,
 * {@code user.overlay.}), and the escaping rules of format doc §2.3 that let a client of the overlay see and set
 * names under that prefix (they are stored one {@code overlay.} level deeper).
 */
public final class OverlayXattr {
    public static final String OPAQUE = "opaque", REDIRECT = "redirect", ORIGIN = "origin", IMPURE = "impure",
            NLINK = "nlink", UPPER = "upper", UUID = "uuid", METACOPY = "metacopy", PROTATTR = "protattr",
            WHITEOUT = "whiteout";

    private final String prefix;
    private final boolean trusted;

    public OverlayXattr(String prefix) {
        this.prefix = prefix;
        this.trusted = prefix.startsWith("trusted.");
    }

    public String prefix() { return prefix; }

    /** The real name of one of our markers, e.g. {@code trusted.overlay.origin}. */
    public String name(String marker) { return prefix + marker; }

    /** True for a real name that is ours (private) and so never shown to or copied for clients. */
    public boolean isPrivate(String realName) {
        return realName.startsWith(prefix) && !isEscaped(realName);
    }

    /**
     * A real name that carries an escaped client name ({@code NS overlay.X}). For trusted the kernel only checks the
     * prefix {@code trusted.overlay.overlay}, without the final dot; we keep that quirk.
     */
    public boolean isEscaped(String realName) {
        return trusted ? realName.startsWith(prefix + "overlay") : realName.startsWith(prefix + "overlay.");
    }

    /** The real name a client's name is stored under: {@code NS X} becomes {@code NS overlay.X}. */
    public String toReal(String clientName) {
        if (clientName.startsWith(prefix)) return prefix + "overlay." + clientName.substring(prefix.length());
        return clientName;
    }

    /** The client's view of a real name, or null when the name is private and hidden. */
    public String toClient(String realName) {
        if (!realName.startsWith(prefix)) return realName;
        if (!isEscaped(realName)) return null;
        String rest = realName.substring(prefix.length() + "overlay".length());
        return rest.startsWith(".") ? prefix + rest.substring(1) : null;
    }

    /** The names a client may list, in the order of the real list. */
    public List<String> clientList(List<String> realNames, boolean admin) {
        List<String> out = new ArrayList<>();
        for (String n : realNames) {
            if (!admin && n.startsWith("trusted.")) continue;
            String c = toClient(n);
            if (c != null) out.add(c);
        }
        return out;
    }
}
