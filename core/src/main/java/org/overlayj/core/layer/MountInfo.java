package org.overlayj.core.layer;

/** Fields of /proc/self/mountinfo, read by the engine (idmapped lowers) and the tools (what is mounted where). */
public final class MountInfo {
    private MountInfo() {}

    /** A path field as the kernel wrote it: space, tab, newline and backslash escaped as \ooo. */
    public static String unescape(String field) {
        if (field.indexOf('\\') < 0) return field;
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
