package org.overlayj.nfs.exports;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.regex.Pattern;

/** Who an exports(5) line talks about: everyone, an address or network, or host names. */
public sealed interface ClientSpec {

    boolean matches(InetAddress client);

    /** {@code *} (or an empty spec, as in {@code /path (rw)}). */
    record Anyone() implements ClientSpec {
        @Override public boolean matches(InetAddress client) { return true; }
        @Override public String toString() { return "*"; }
    }

    /** {@code a.b.c.d}, {@code a.b.c.d/nn}, {@code a.b.c.d/m.m.m.m}, or the IPv6 forms. */
    record Network(byte[] address, int prefix) implements ClientSpec {
        public Network {
            address = address.clone();
            if (prefix < 0 || prefix > address.length * 8) throw new IllegalArgumentException("bad prefix " + prefix);
        }

        @Override public byte[] address() { return address.clone(); }

        @Override public boolean matches(InetAddress client) {
            byte[] c = client.getAddress();
            // An IPv4 client reached over an IPv6 socket arrives as ::ffff:a.b.c.d.
            if (c.length == 16 && address.length == 4 && isMapped(c)) c = java.util.Arrays.copyOfRange(c, 12, 16);
            if (c.length != address.length) return false;
            int full = prefix / 8, rest = prefix % 8;
            for (int i = 0; i < full; i++) if (c[i] != address[i]) return false;
            if (rest == 0) return true;
            int mask = (0xff << (8 - rest)) & 0xff;
            return (c[full] & mask) == (address[full] & mask);
        }

        private static boolean isMapped(byte[] a) {
            for (int i = 0; i < 10; i++) if (a[i] != 0) return false;
            return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
        }

        @Override public String toString() {
            try {
                return InetAddress.getByAddress(address).getHostAddress() + "/" + prefix;
            } catch (UnknownHostException e) {
                return "?/" + prefix;
            }
        }
    }

    /**
     * A host name, possibly with {@code *} and {@code ?} wildcards. A plain name matches any address it resolves
     * to; a wildcard matches the client's reverse-resolved name.
     */
    record HostName(String pattern) implements ClientSpec {
        @Override public boolean matches(InetAddress client) {
            if (pattern.indexOf('*') < 0 && pattern.indexOf('?') < 0) {
                try {
                    for (InetAddress a : InetAddress.getAllByName(pattern)) {
                        if (a.equals(client)) return true;
                        if (a instanceof Inet4Address && new Network(a.getAddress(), 32).matches(client)) return true;
                    }
                } catch (UnknownHostException e) {
                    return false;
                }
                return false;
            }
            String name = client.getCanonicalHostName().toLowerCase(Locale.ROOT);
            return glob(pattern.toLowerCase(Locale.ROOT)).matcher(name).matches();
        }

        private static Pattern glob(String g) {
            StringBuilder re = new StringBuilder();
            for (char ch : g.toCharArray()) {
                switch (ch) {
                    case '*' -> re.append(".*");
                    case '?' -> re.append('.');
                    default -> re.append(Pattern.quote(String.valueOf(ch)));
                }
            }
            return Pattern.compile(re.toString());
        }

        @Override public String toString() { return pattern; }
    }
}
