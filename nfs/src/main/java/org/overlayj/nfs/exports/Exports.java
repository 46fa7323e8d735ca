package org.overlayj.nfs.exports;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The export table, from a file in exports(5) syntax or the default. Each export gets a small id (its position),
 * which prefixes its file handles so a handle names the export it was issued under.
 *
 * <p>Syntax accepted: one export per line, {@code \}-newline continues a line, {@code #} starts a comment; the path
 * first (double quotes and {@code \ooo} octal escapes allowed), an optional {@code -options} default list, then
 * {@code client(options)} items. A line with no client exports to everyone with the defaults, as exportfs does.
 */
public final class Exports {
    /** Handles carry the id in one byte. */
    public static final int MAX_EXPORTS = 255;

    private final List<Export> exports;

    private Exports(List<Export> exports) {
        this.exports = List.copyOf(exports);
    }

    public static Exports of(List<Export> exports) {
        if (exports.isEmpty()) throw new IllegalArgumentException("no exports");
        if (exports.size() > MAX_EXPORTS) throw new IllegalArgumentException("more than " + MAX_EXPORTS + " exports");
        return new Exports(exports);
    }

    /**
     * With no exports file: the overlay root, read-write, loopback clients only, root_squash. Insecure (any source
     * port) because loopback already limits clients to this host, and an unprivileged user's client should work.
     */
    public static Exports defaults() {
        ExportOptions o = new ExportOptions(false, Squash.ROOT, ExportOptions.NOBODY, ExportOptions.NOBODY, false);
        return new Exports(List.of(new Export("/", List.of(
                new ClientRule(new ClientSpec.Network(new byte[]{127, 0, 0, 0}, 8), o),
                new ClientRule(new ClientSpec.Network(InetAddress.getLoopbackAddress().getAddress().length == 16
                        ? InetAddress.getLoopbackAddress().getAddress() : ipv6Loopback(), 128), o)))));
    }

    /** These exports with every client rule read-only: what {@code serve -o ro} asks for. */
    public Exports readOnly() {
        List<Export> out = new java.util.ArrayList<>();
        for (Export e : exports) {
            List<ClientRule> rules = new java.util.ArrayList<>();
            for (ClientRule r : e.clients()) {
                ExportOptions o = r.options();
                rules.add(new ClientRule(r.client(), new ExportOptions(true, o.squash(), o.anonUid(), o.anonGid(),
                        o.secure())));
            }
            out.add(new Export(e.path(), rules));
        }
        return new Exports(out);
    }

    private static byte[] ipv6Loopback() {
        byte[] b = new byte[16];
        b[15] = 1;
        return b;
    }

    public static Exports load(Path file) throws IOException, ExportsException {
        return parse(Files.readString(file, StandardCharsets.UTF_8));
    }

    public List<Export> exports() { return exports; }

    public Optional<Export> byId(int id) {
        return id >= 0 && id < exports.size() ? Optional.of(exports.get(id)) : Optional.empty();
    }

    public int idOf(Export e) { return exports.indexOf(e); }

    /** The export whose path is {@code path} (normalized); MOUNT only mounts export roots. */
    public Optional<Export> byPath(String path) {
        String p;
        try {
            p = normalize(path);
        } catch (ExportsException e) {
            return Optional.empty();
        }
        for (Export e : exports) if (e.path().equals(p)) return Optional.of(e);
        return Optional.empty();
    }

    /** An export and the path below its root that a MOUNT asked for ("" for the root itself). */
    public record Within(Export export, String rest) {}

    /**
     * The export a MOUNT path falls in: the one with the longest path that is {@code path} or a directory above it
     * (mountd lets clients mount a subdirectory of an export).
     */
    public Optional<Within> containing(String path) {
        String p;
        try {
            p = normalize(path);
        } catch (ExportsException e) {
            return Optional.empty();
        }
        Within best = null;
        for (Export e : exports) {
            String ep = e.path();
            String rest;
            if (p.equals(ep)) rest = "";
            else if (ep.equals("/")) rest = p.substring(1);
            else if (p.startsWith(ep + "/")) rest = p.substring(ep.length() + 1);
            else continue;
            if (best == null || ep.length() > best.export().path().length()) best = new Within(e, rest);
        }
        return Optional.ofNullable(best);
    }

    public static Exports parse(String text) throws ExportsException {
        Map<String, Export> byPath = new LinkedHashMap<>();
        String[] lines = text.replace("\\\n", " ").split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            List<String> tokens = tokenize(lines[i], i + 1);
            if (tokens.isEmpty()) continue;
            String path = normalize(tokens.get(0), i + 1);
            ExportOptions defaults = ExportOptions.DEFAULTS;
            List<ClientRule> rules = new ArrayList<>();
            for (int t = 1; t < tokens.size(); t++) {
                String tok = tokens.get(t);
                if (tok.startsWith("-") && t == 1) {
                    defaults = options(tok.substring(1), defaults, i + 1);
                    continue;
                }
                int open = tok.indexOf('(');
                String spec = open < 0 ? tok : tok.substring(0, open);
                ExportOptions o = defaults;
                if (open >= 0) {
                    if (!tok.endsWith(")")) throw new ExportsException(i + 1, "missing ')' in \"" + tok + "\"");
                    o = options(tok.substring(open + 1, tok.length() - 1), defaults, i + 1);
                }
                rules.add(new ClientRule(client(spec, i + 1), o));
            }
            if (rules.isEmpty()) rules.add(new ClientRule(new ClientSpec.Anyone(), defaults));
            if (byPath.containsKey(path)) throw new ExportsException(i + 1, "duplicate export " + path);
            byPath.put(path, new Export(path, rules));
        }
        if (byPath.isEmpty()) throw new ExportsException(0, "no exports");
        if (byPath.size() > MAX_EXPORTS) throw new ExportsException(0, "more than " + MAX_EXPORTS + " exports");
        return new Exports(new ArrayList<>(byPath.values()));
    }

    private static List<String> tokenize(String line, int lineNo) throws ExportsException {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false, inToken = false;
        int depth = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '"') quoted = false;
                else cur.append(c);
                continue;
            }
            if (c == '#' && depth == 0) break;
            if (c == '"') { quoted = true; inToken = true; continue; }
            if (c == '(') depth++;
            if (c == ')') depth--;
            if (Character.isWhitespace(c) && depth == 0) {
                if (inToken) { out.add(cur.toString()); cur.setLength(0); inToken = false; }
                continue;
            }
            if (!Character.isWhitespace(c)) { cur.append(c); inToken = true; }
        }
        if (quoted) throw new ExportsException(lineNo, "unterminated quote");
        if (depth != 0) throw new ExportsException(lineNo, "unbalanced parentheses");
        if (inToken) out.add(cur.toString());
        return out;
    }

    /** An absolute path with "//", "." and a trailing "/" removed; ".." refused. */
    public static String normalize(String raw) throws ExportsException { return normalize(raw, 0); }

    private static String normalize(String raw, int lineNo) throws ExportsException {
        String s = unescape(raw, lineNo);
        if (!s.startsWith("/")) throw new ExportsException(lineNo, "export path must be absolute: " + raw);
        StringBuilder b = new StringBuilder();
        for (String part : s.split("/")) {
            if (part.isEmpty() || part.equals(".")) continue;
            if (part.equals("..")) throw new ExportsException(lineNo, "'..' in export path: " + raw);
            b.append('/').append(part);
        }
        return b.isEmpty() ? "/" : b.toString();
    }

    private static String unescape(String s, int lineNo) throws ExportsException {
        if (s.indexOf('\\') < 0) return s;
        // \ooo escapes are bytes (exports(5) encodes spaces as \040); collect them and decode as UTF-8.
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1)) {
                out.write(Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else if (c == '\\') {
                throw new ExportsException(lineNo, "bad escape in " + s);
            } else {
                byte[] b = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                out.write(b, 0, b.length);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) return false;
        for (int i = from; i < from + 3; i++) if (s.charAt(i) < '0' || s.charAt(i) > '7') return false;
        return true;
    }

    private static ClientSpec client(String spec, int lineNo) throws ExportsException {
        if (spec.isEmpty() || spec.equals("*")) return new ClientSpec.Anyone();
        if (spec.startsWith("@")) throw new ExportsException(lineNo, "netgroups are not supported: " + spec);
        if (spec.startsWith("gss/")) throw new ExportsException(lineNo, "only AUTH_SYS is supported: " + spec);
        int slash = spec.indexOf('/');
        String host = slash < 0 ? spec : spec.substring(0, slash);
        byte[] addr = literal(host);
        if (addr == null) {
            if (slash >= 0) throw new ExportsException(lineNo, "not an address: " + spec);
            if (!spec.matches("[A-Za-z0-9.*?_-]+")) throw new ExportsException(lineNo, "bad client: " + spec);
            return new ClientSpec.HostName(spec);
        }
        int prefix = addr.length * 8;
        if (slash >= 0) {
            String m = spec.substring(slash + 1);
            byte[] mask = m.matches("\\d+") ? null : literal(m);
            if (mask != null) {
                if (mask.length != addr.length) throw new ExportsException(lineNo, "mask family differs: " + spec);
                prefix = maskBits(mask, lineNo, spec);
            } else {
                try {
                    prefix = Integer.parseInt(m);
                } catch (NumberFormatException e) {
                    throw new ExportsException(lineNo, "bad prefix length: " + spec);
                }
                if (prefix < 0 || prefix > addr.length * 8) throw new ExportsException(lineNo, "bad prefix length: " + spec);
            }
        }
        return new ClientSpec.Network(addr, prefix);
    }

    private static int maskBits(byte[] mask, int lineNo, String spec) throws ExportsException {
        int bits = 0;
        boolean ended = false;
        for (byte b : mask) {
            for (int i = 7; i >= 0; i--) {
                boolean one = ((b >> i) & 1) != 0;
                if (one && ended) throw new ExportsException(lineNo, "non-contiguous netmask: " + spec);
                if (one) bits++; else ended = true;
            }
        }
        return bits;
    }

    /** An IPv4 dotted quad or an IPv6 literal, never a DNS lookup; null when it is a host name. */
    private static byte[] literal(String s) {
        if (s.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
            String[] p = s.split("\\.");
            byte[] b = new byte[4];
            for (int i = 0; i < 4; i++) {
                int v = Integer.parseInt(p[i]);
                if (v > 255) return null;
                b[i] = (byte) v;
            }
            return b;
        }
        if (s.indexOf(':') >= 0 && s.matches("[0-9A-Fa-f:.]+")) {
            try {
                return InetAddress.ofLiteral(s).getAddress();
            } catch (IllegalArgumentException e) {
                return null;
            }
        }
        return null;
    }

    private static ExportOptions options(String list, ExportOptions base, int lineNo) throws ExportsException {
        boolean ro = base.readOnly(), secure = base.secure();
        Squash squash = base.squash();
        int anonUid = base.anonUid(), anonGid = base.anonGid();
        for (String raw : list.split(",")) {
            String o = raw.trim();
            if (o.isEmpty()) continue;
            String key = o, val = null;
            int eq = o.indexOf('=');
            if (eq >= 0) { key = o.substring(0, eq); val = o.substring(eq + 1); }
            switch (key) {
                case "ro" -> ro = true;
                case "rw" -> ro = false;
                case "root_squash" -> { if (squash != Squash.ALL) squash = Squash.ROOT; }
                case "no_root_squash" -> { if (squash != Squash.ALL) squash = Squash.NONE; }
                case "all_squash" -> squash = Squash.ALL;
                case "no_all_squash" -> { if (squash == Squash.ALL) squash = Squash.ROOT; }
                case "anonuid" -> anonUid = id(key, val, lineNo);
                case "anongid" -> anonGid = id(key, val, lineNo);
                case "secure" -> secure = true;
                case "insecure" -> secure = false;
                // Meaningful to knfsd, not to this server (every reply is answered after the engine call
                // returns, handles carry no parent, there is one filesystem per export): accepted, ignored.
                case "sync", "async", "wdelay", "no_wdelay", "subtree_check", "no_subtree_check", "hide",
                     "nohide", "crossmnt", "nocrossmnt", "secure_locks", "insecure_locks", "auth_nlm",
                     "no_auth_nlm", "no_acl", "acl", "mountpoint", "mp", "fsid", "sec", "pnfs", "no_pnfs",
                     "security_label", "no_security_label", "refer", "replicas", "nordirplus" -> {
                    if (key.equals("sec") && val != null && !val.equals("sys"))
                        throw new ExportsException(lineNo, "only sec=sys is supported: " + o);
                }
                default -> throw new ExportsException(lineNo, "unknown export option: " + o);
            }
        }
        return new ExportOptions(ro, squash, anonUid, anonGid, secure);
    }

    private static int id(String key, String val, int lineNo) throws ExportsException {
        if (val == null) throw new ExportsException(lineNo, key + " needs a value");
        try {
            long v = Long.parseLong(val);
            if (v < 0 || v > 0xffffffffL) throw new NumberFormatException();
            return (int) v;
        } catch (NumberFormatException e) {
            throw new ExportsException(lineNo, "bad " + key + ": " + val);
        }
    }

    @Override public String toString() { return exports.toString(); }
}
