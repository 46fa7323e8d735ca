package org.overlayj.cli;

import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.nfs.NfsServer;
import org.overlayj.nfs.exports.Exports;
import org.overlayj.nfs.exports.ExportsException;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code overlayj serve}: mounts the overlay in this process and serves it over NFSv3 (NFS and MOUNT on one TCP
 * port). Prints one readiness line once listening; SIGTERM/SIGINT stop it cleanly (requests in flight answered,
 * upper layer synced).
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve an overlay over NFSv3 (RFC 1813): NFS and MOUNT on one TCP port.")
public final class ServeCommand implements Callable<Integer> {

    @Option(names = {"-o", "--options"}, required = true, paramLabel = "OPTS",
            description = "overlay mount options: lowerdir=..,upperdir=..,workdir=..[,index=on,nfs_export=on,...]; "
                    + "index and nfs_export are turned on unless given")
    String options;

    @Option(names = "--listen", defaultValue = "127.0.0.1:2049", paramLabel = "HOST:PORT",
            description = "address to listen on (default: ${DEFAULT-VALUE}); port 0 picks a free port")
    String listen;

    @Option(names = "--exports", paramLabel = "FILE",
            description = "exports(5) file; default: the overlay root, rw, loopback clients, root_squash")
    Path exportsFile;

    @Option(names = "--portmap", description = "run a portmapper (v2) on port 111 if none runs, and register there")
    boolean portmap;

    @Option(names = "--workers", defaultValue = "8", description = "request worker threads (default: ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--stats-interval", defaultValue = "300", paramLabel = "SECONDS",
            description = "log request counters every SECONDS, 0 for never (default: ${DEFAULT-VALUE})")
    int statsInterval;

    /** For tests and the launcher until Main registers the subcommand. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ServeCommand()).execute(args));
    }

    @Override
    public Integer call() {
        PrintStream err = System.err;
        OverlayOptions opts;
        Exports exports;
        InetSocketAddress addr;
        try {
            opts = parseOptions(options);
            exports = exportsFile == null ? Exports.defaults() : Exports.load(exportsFile);
            addr = parseListen(listen);
        } catch (IllegalArgumentException | ExportsException | IOException e) {
            err.println("overlayj serve: " + e.getMessage());
            return 2;
        }
        if (!opts.nfsExport()) {
            err.println("overlayj serve: refusing to serve with nfs_export=off: NFS clients keep file handles across "
                    + "copy-up and server restarts, which only nfs_export=on (with index=on) guarantees");
            return 2;
        }
        Overlay overlay;
        try {
            overlay = Overlay.mount(opts);
        } catch (ErrnoException e) {
            err.println("overlayj serve: mount failed: " + e.getMessage());
            return 1;
        }
        NfsServer server;
        try {
            server = NfsServer.start(overlay, exports, new NfsServer.Config(addr, portmap, workers, statsInterval));
        } catch (IOException e) {
            overlay.close();
            err.println("overlayj serve: " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            try {
                server.close();
            } catch (IOException e) {
                err.println("overlayj serve: stop: " + e.getMessage());
            } finally {
                overlay.close();
                stopped.countDown();
            }
        }, "overlayj-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        InetSocketAddress bound = server.address();
        System.out.println("overlayj: serving NFSv3 on " + bound.getAddress().getHostAddress() + ":" + bound.getPort()
                + " (exports: " + String.join(" ", exports.exports().stream().map(e -> e.path()).toList()) + ")");
        System.out.flush();
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    static InetSocketAddress parseListen(String s) {
        int colon = s.lastIndexOf(':');
        if (colon < 0) throw new IllegalArgumentException("--listen wants HOST:PORT, got " + s);
        String host = s.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port;
        try {
            port = Integer.parseInt(s.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad port in --listen " + s);
        }
        if (port < 0 || port > 65535) throw new IllegalArgumentException("bad port in --listen " + s);
        try {
            // Literal addresses only: no name lookups at start (and "localhost" is the one name we know).
            InetAddress a = host.equals("localhost") ? InetAddress.getLoopbackAddress() : InetAddress.ofLiteral(host);
            return new InetSocketAddress(a, port);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--listen wants an IP address, got " + host);
        }
    }

    /**
     * The overlay options {@code serve} understands, with its defaults: index=on and nfs_export=on unless given.
     * A small subset of the kernel syntax, kept here until the config parser (core's MountOptions) is on main;
     * then this becomes that call plus the two defaults.
     */
    static OverlayOptions parseOptions(String s) {
        List<String> lowers = new ArrayList<>();
        String upper = null, work = null;
        Boolean index = null, nfsExport = null, metacopy = null;
        OverlayOptions.RedirectDir redirect = null;
        OverlayOptions.Xino xino = OverlayOptions.Xino.AUTO;
        OverlayOptions.Uuid uuid = OverlayOptions.Uuid.AUTO;
        boolean userxattr = false, volatileMode = false;
        List<String> explicit = new ArrayList<>();
        for (String opt : splitUnescaped(s, ',')) {
            if (opt.isEmpty()) continue;
            int eq = opt.indexOf('=');
            String key = eq < 0 ? opt : opt.substring(0, eq), val = eq < 0 ? null : opt.substring(eq + 1);
            switch (key) {
                case "lowerdir" -> {
                    for (String l : splitUnescaped(need(key, val), ':')) lowers.add(path(unescape(l)));
                }
                case "upperdir" -> upper = path(unescape(need(key, val)));
                case "workdir" -> work = path(unescape(need(key, val)));
                case "index" -> index = onOff(key, val);
                case "nfs_export" -> nfsExport = onOff(key, val);
                case "metacopy" -> metacopy = onOff(key, val);
                case "userxattr" -> userxattr = true;
                case "volatile" -> volatileMode = true;
                case "redirect_dir" -> redirect = switch (need(key, val)) {
                    case "on" -> OverlayOptions.RedirectDir.ON;
                    case "follow" -> OverlayOptions.RedirectDir.FOLLOW;
                    case "nofollow" -> OverlayOptions.RedirectDir.NOFOLLOW;
                    case "off" -> OverlayOptions.RedirectDir.OFF;
                    default -> throw new IllegalArgumentException("bad redirect_dir=" + val);
                };
                case "xino" -> xino = OverlayOptions.Xino.valueOf(upperCase(key, val));
                case "uuid" -> uuid = OverlayOptions.Uuid.valueOf(upperCase(key, val));
                case "ro", "rw", "noatime", "relatime", "nodev", "nosuid", "noexec", "defaults" -> {
                    continue;
                }
                default -> throw new IllegalArgumentException("unknown option " + opt);
            }
            explicit.add(key);
        }
        if (lowers.isEmpty()) throw new IllegalArgumentException("lowerdir= is required");
        if ((upper == null) != (work == null))
            throw new IllegalArgumentException("upperdir= and workdir= go together");
        // serve's default: handles that survive copy-up and restart. index=on is what nfs_export needs.
        if (nfsExport == null) nfsExport = !Boolean.FALSE.equals(index) && !Boolean.TRUE.equals(metacopy);
        if (index == null) index = nfsExport;
        // The kernel's default without redirect_dir in the module config; also what a lower-only nfs_export needs.
        if (redirect == null) redirect = OverlayOptions.RedirectDir.NOFOLLOW;
        return new OverlayOptions(lowers, upper, work, redirect, index, nfsExport, uuid, xino,
                Boolean.TRUE.equals(metacopy), userxattr, volatileMode, explicit);
    }

    private static String need(String key, String val) {
        if (val == null || val.isEmpty()) throw new IllegalArgumentException(key + "= needs a value");
        return val;
    }

    private static boolean onOff(String key, String val) {
        return switch (need(key, val)) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new IllegalArgumentException(key + "=" + val + ": on or off");
        };
    }

    private static String upperCase(String key, String val) {
        String v = need(key, val);
        if (!v.matches("on|off|auto|null")) throw new IllegalArgumentException("bad " + key + "=" + val);
        return v.toUpperCase(java.util.Locale.ROOT);
    }

    /** Absolute byte-string path: layers are named by bytes, the command line is UTF-8 text. */
    private static String path(String p) {
        return Linux.fromUtf8(Path.of(p).toAbsolutePath().normalize().toString());
    }

    private static List<String> splitUnescaped(String s, char sep) {
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

    private static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) c = s.charAt(++i);
            b.append(c);
        }
        return b.toString();
    }
}
