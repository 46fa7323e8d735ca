package org.overlayj.cli;

import org.overlayj.core.layer.MountTrace;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The resident server: one overlayj process per user, mount namespace, user namespace and build of the jar that
 * serves many FUSE mounts, so that a mount after the first costs a request on a unix socket instead of two JVM
 * starts and a heap. The first background mount starts it (bin/overlayj's standalone path, unchanged); it then
 * listens on {@code RUNDIR/ctl-KEY.sock} (RUNDIR: {@code $OVERLAYJ_RESIDENT}, a 0700 directory of the user's; KEY:
 * a hash of the namespaces' inode numbers and the jar's inode and mtime, as {@code overlayj-client} computes it) and makes
 * the mounts later launchers ask for, each one a {@link MountSession} of its own. It stays while it holds a mount;
 * {@code $OVERLAYJ_LINGER} seconds (default 10) after the last one is gone it stops listening and exits. SIGTERM
 * unmounts every mount, and it exits once they are gone.
 *
 * <p>Who may ask: only a peer whose credentials (SO_PEERCRED) are this server's user; another user is refused. A
 * peer of another group, or whose launcher environment would start the server with other JVM options, or whose
 * command line is not a plain background mount ({@code -f}, {@code -d}, {@code debug}: logging is per process),
 * is declined: its launcher then makes the mount the standalone way.
 *
 * <p>One server per socket: a lock file ({@code ctl-KEY.lock}, held while listening) says whose it is. A server
 * that finds it held (two first mounts at once) serves its own mount alone, as before. The lock of a killed server
 * is released by the kernel, and its socket is replaced by the next one.
 */
final class ResidentServer {
    private static final Logger LOG = LoggerFactory.getLogger(ResidentServer.class);
    static final String MAGIC = "overlayj-ctl-1";
    /** Launcher settings that make the server another one: a request whose values differ is declined. */
    static final List<String> ENVIRONMENT = List.of("OVERLAYJ_JAVA_OPTS", "OVERLAYJ_SERVER_JVM_OPTS", "OVERLAYJ_LOG_DIR");
    private static final int MAX_REQUEST = 1 << 20;

    private final Path dir, socket, lockFile;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final ServerSocketChannel listener;
    private final Duration linger;
    private final Instant started = Instant.now();
    /** The threads requests and the FUSE loops of new mounts run on: one for each, waiting already. */
    final SpareThreads threads = new SpareThreads(2);

    // guarded by this: the mounts, mount requests being worked on, and whether the server is going
    private final List<MountSession> mounts = new ArrayList<>();
    private int pending;
    private boolean terminating, closed;
    private Instant idleSince = Instant.now();

    private ResidentServer(Path dir, Path socket, Path lockFile, FileChannel lockChannel, FileLock lock,
                           ServerSocketChannel listener, Duration linger) {
        this.dir = dir;
        this.socket = socket;
        this.lockFile = lockFile;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.listener = listener;
        this.linger = linger;
    }

    /** The directory bin/overlayj asks this server to stay resident in, or null (a standalone mount). */
    static Path requestedDir() {
        String v = System.getenv("OVERLAYJ_RESIDENT");
        return v == null || v.isEmpty() ? null : Path.of(v);
    }

    /** How long the server stays once its last mount is gone: {@code $OVERLAYJ_LINGER} seconds, default 10. */
    static Duration linger() {
        String v = System.getenv("OVERLAYJ_LINGER");
        try {
            if (v != null && !v.isBlank()) return Duration.ofMillis(Math.max(0, (long) (Double.parseDouble(v) * 1000)));
        } catch (NumberFormatException e) {
            LOG.warn("OVERLAYJ_LINGER={}: not a number of seconds; 10 s", v);
        }
        return Duration.ofSeconds(10);
    }

    /** The socket's name in RUNDIR, as overlayj-client builds it. */
    static String key() throws IOException {
        Path jar;
        try {
            jar = Path.of(MountCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IOException(e);
        }
        Stat st = Linux.stat(jar.toString());   // the native call, linked already: no attribute-view classes to load
        return hashed(nsInode("mnt") + "-" + nsInode("user") + "-" + Long.toHexString(st.ino()) + "-" + st.mtimeSec());
    }

    /**
     * FNV-1a (64 bits) of the key, as 16 hex digits: a socket path must fit 108 bytes, and a runtime directory can
     * be long (a test's $XDG_RUNTIME_DIR). overlayj-client hashes the same way.
     */
    static String hashed(String key) {
        long h = 0xcbf29ce484222325L;
        for (byte b : key.getBytes(StandardCharsets.UTF_8)) h = (h ^ (b & 0xff)) * 0x100000001b3L;
        String hex = Long.toHexString(h);            // not String.format: java.util.Formatter is ~10 classes to load
        return "0".repeat(16 - hex.length()) + hex;
    }

    private static String nsInode(String ns) throws IOException {
        String link = Files.readSymbolicLink(Path.of("/proc/self/ns/" + ns)).toString();   // "mnt:[4026531840]"
        return link.substring(link.indexOf('[') + 1, link.indexOf(']'));
    }

    /**
     * Takes the control socket in {@code dir} (made 0700 if missing); null when this process cannot be the resident
     * server (another holds the socket, or the directory is not the user's own), which the log says.
     */
    static ResidentServer bind(Path dir) {
        try {
            if (Linux.lstatOrNull(dir.toString()) == null) {
                try {
                    Linux.mkdir(dir.toString(), 0700);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EEXIST) throw e;      // else another launcher made it meanwhile
                }
            }
            // through the native calls the mount links anyway: the attribute views' classes cost the first mount
            Stat a = Linux.lstat(dir.toString());
            if ((a.mode() & 0170000) != 0040000 || a.uid() != Linux.geteuid()) {
                LOG.warn("{} is not a directory of ours: not staying resident", dir);
                return null;
            }
            if ((a.mode() & 077) != 0) {
                LOG.warn("{} is open to others (mode {}): not staying resident", dir,
                        Integer.toOctalString(a.mode() & 07777));
                return null;
            }
            String key = key();
            Path socket = dir.resolve("ctl-" + key + ".sock"), lockFile = dir.resolve("ctl-" + key + ".lock");
            FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = ch.tryLock();
            if (lock == null) {
                ch.close();
                LOG.info("another resident server holds {}: serving this mount alone", socket);
                return null;
            }
            Files.deleteIfExists(socket);                    // a killed server's
            ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            listener.bind(UnixDomainSocketAddress.of(socket));
            Linux.chmod(socket.toString(), 0600);
            ResidentServer s = new ResidentServer(dir, socket, lockFile, ch, lock, listener, linger());
            LOG.info("resident server for this user and mount namespace: {}", socket);
            Thread.ofPlatform().name("resident-accept").daemon(true).start(s::accept);
            return s;
        } catch (IOException | RuntimeException e) {
            LOG.warn("cannot listen in {}: {}; serving this mount alone", dir, e.toString());
            return null;
        }
    }

    /**
     * Serves {@code s} until it is unmounted or aborted, then closes it alone. A server told to terminate unmounts
     * it at once: here when SIGTERM came first, else {@link #terminate} finds it in the list (exactly one of them).
     */
    void adopt(MountSession s) {
        boolean unmountNow;
        synchronized (this) {
            mounts.add(s);
            unmountNow = terminating;
        }
        if (unmountNow) s.unmount();
        // a virtual thread waits (no stack of its own while the mount lives); the close, which syncs and closes
        // through native calls that would pin a carrier, runs on a platform thread of its own
        Thread.ofVirtual().name("mount-watch").start(() -> {
            try {
                s.awaitExit();
            } catch (InterruptedException e) {
                return;
            }
            Thread.ofPlatform().name("mount-close").daemon(true).start(() -> {
                try {
                    s.close();
                } finally {
                    synchronized (this) {
                        mounts.remove(s);
                        if (mounts.isEmpty() && pending == 0) idleSince = Instant.now();
                        notifyAll();
                    }
                }
            });
        });
    }

    /**
     * Rehearses {@code rounds} mounts of a small scratch overlay (in the runtime directory, removed afterwards), all
     * but the FUSE mount, on a thread of its own at the lowest priority, each round only while no request is being
     * worked on: the server's first mounts ran the mount path in the interpreter while C1 compiled it (over the
     * first 40 mounts of a fresh server, 19 then 12 ms of CPU per mount, against 5 once compiled). Called once the
     * first mount is live (its launcher does not wait for this). The rounds check nothing and change nothing
     * outside the scratch directory.
     */
    void warmUp(int rounds) {
        if (rounds <= 0) return;
        warmUp = Thread.ofPlatform().name("resident-warmup").daemon(true).start(() -> {
            Linux.lowerThreadPriority();
            Path d = dir.resolve("warm-" + ProcessHandle.current().pid());
            removeStaleRehearsals();
            try {
                for (String sub : new String[] {"", "/l1", "/l1/d", "/l2", "/l2/d", "/l2/o", "/u", "/w"}) {
                    Linux.mkdir(d + sub, 0700);
                }
                Files.writeString(d.resolve("l2/d/f"), "f");
                Files.writeString(d.resolve("l1/top"), "t");
                String opts = "lowerdir=l1:l2,upperdir=u,workdir=w";
                long t0 = System.nanoTime();
                int i = 0;
                for (; i < rounds; i++) {
                    synchronized (this) {
                        while (pending > 0 && !closed && !terminating) wait();
                        if (closed || terminating) break;
                    }
                    MountSession.rehearse(opts, d.toString());
                }
                LOG.info("warm-up: {} mount rehearsals in {} ms", i, (System.nanoTime() - t0) / 1_000_000);
            } catch (IOException | MountSession.Failure | RuntimeException e) {
                LOG.debug("warm-up rounds stopped: {}", e.toString());
            } catch (InterruptedException e) {
                // the server is going
            } finally {
                removeTree(d);
            }
        });
    }

    /** The scratch trees of servers that were killed during their warm-up (their pid is gone). */
    private void removeStaleRehearsals() {
        try (var list = Files.list(dir)) {
            for (Path p : list.toList()) {
                String n = p.getFileName().toString();
                if (!n.matches("warm-[0-9]+")) continue;
                if (ProcessHandle.of(Long.parseLong(n.substring(5))).isEmpty()) removeTree(p);
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("looking for old warm-up trees in {}: {}", dir, e.toString());
        }
    }

    /** The warm-up thread, if one was started: {@link #run} lets it remove its scratch tree before returning. */
    private volatile Thread warmUp;

    /** Removes a scratch tree of ours (directories and files only). */
    private static void removeTree(Path d) {
        try (var walk = Files.walk(d)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException | RuntimeException e) {
            LOG.debug("removing {}: {}", d, e.toString());
        }
    }

    /** Blocks until the server has no mount and lingered, or was told to terminate and its mounts are gone. */
    void run() {
        threads.refill();                    // for the first request (the launcher of the first mount has its answer)
        synchronized (this) {
            while (true) {
                boolean idle = mounts.isEmpty() && pending == 0;
                if (idle && terminating) break;
                long left = idle ? Duration.between(Instant.now(), idleSince.plus(linger)).toMillis() : 0;
                if (idle && left <= 0) break;
                try {
                    wait(idle ? left : 0);
                } catch (InterruptedException e) {
                    break;
                }
            }
            closed = true;                   // a request accepted from now on is declined: its launcher goes alone
            notifyAll();                     // (a warm-up waiting for a request to end stops)
        }
        Thread w = warmUp;
        if (w != null) {
            try {
                w.join(10_000);              // it stops after its current round, and removes its scratch tree
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        close();
    }

    /** SIGTERM: no new mounts, and every mount is unmounted; {@link #run} returns when they are gone. */
    void terminate() {
        List<MountSession> now;
        synchronized (this) {
            terminating = true;
            now = List.copyOf(mounts);
            notifyAll();
        }
        closeListener();
        for (MountSession s : now) s.unmount();
    }

    /** Stops listening and gives the socket up: the socket file, then the lock (the next server may then take it). */
    void close() {
        synchronized (this) {
            closed = true;
        }
        closeListener();
        try {
            // removed while still held: a server that opened the old file meanwhile gets a lock nobody else can
            // see and binds a socket of its own (it serves its mount, unshared); no one waits on it
            Files.deleteIfExists(lockFile);
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            // released when the process exits anyway
        }
    }

    private void closeListener() {
        try {
            // unlink first: a launcher that comes now finds no socket and starts a new server, rather than
            // connecting to one that is about to close
            Files.deleteIfExists(socket);
            listener.close();
        } catch (IOException e) {
            LOG.debug("closing {}: {}", socket, e.toString());
        }
    }

    private void accept() {
        while (true) {
            SocketChannel c;
            try {
                c = listener.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                LOG.warn("accept on {} failed: {}", socket, e.toString());
                return;
            }
            long accepted = System.nanoTime();
            // a platform thread, a spare started before: the mount blocks in native calls (mount(2), the layers'
            // checks), which would pin a virtual thread's carrier anyway
            threads.execute(() -> {
                Thread.currentThread().setName("resident-request");
                MountTrace.begin(accepted);
                MountTrace.mark("thread");
                List<Runnable> after = new ArrayList<>();
                try (c) {
                    answer(c, after);
                } catch (IOException | RuntimeException e) {
                    LOG.warn("control request failed: {}", e.toString());
                }
                MountTrace.mark("close");
                String trace = MountTrace.end();
                if (trace != null) LOG.info("{}", trace);
                after.forEach(Runnable::run);          // once the launcher has its answer (the socket is closed)
            });
        }
    }

    /** One request: read to end of file, check who asks, do it, write the reply. */
    private void answer(SocketChannel c, List<Runnable> after) throws IOException {
        List<String> fields = read(c);
        MountTrace.mark("read");
        String reply;
        if (fields.size() < 6 || !fields.get(0).equals(MAGIC)) {
            reply = "1\noverlayj: bad request on the control socket\n";
        } else {
            Peer peer = who(c);
            MountTrace.mark("peer");
            reply = switch (peer) {
                case OTHER_USER -> "1\noverlayj: refused: the resident server of another user\n";
                case OTHER_GROUP -> "D\n";
                case SAME -> switch (fields.get(1)) {
                    case "status" -> "0\n" + status();
                    case "mount" -> mount(fields, after);
                    default -> "1\noverlayj: unknown control request " + fields.get(1) + "\n";
                };
            };
        }
        ByteBuffer b = ByteBuffer.wrap(reply.getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) c.write(b);
        MountTrace.mark("reply");
    }

    private enum Peer { SAME, OTHER_GROUP, OTHER_USER }

    /** The peer compared with the owner and group of our socket file (this process made it). */
    private Peer who(SocketChannel c) throws IOException {
        var peer = c.getOption(jdk.net.ExtendedSocketOptions.SO_PEERCRED);
        java.nio.file.attribute.UserPrincipal owner;
        java.nio.file.attribute.GroupPrincipal group;
        synchronized (this) {
            // read once: each owner()/group() looks the name up again (/etc/passwd, /etc/group)
            if (socketOwner == null) {
                PosixFileAttributes mine = Files.readAttributes(socket, PosixFileAttributes.class,
                        java.nio.file.LinkOption.NOFOLLOW_LINKS);
                socketOwner = mine.owner();
                socketGroup = mine.group();
            }
            owner = socketOwner;
            group = socketGroup;
        }
        if (!peer.user().equals(owner)) return Peer.OTHER_USER;
        return peer.group().equals(group) ? Peer.SAME : Peer.OTHER_GROUP;
    }

    private java.nio.file.attribute.UserPrincipal socketOwner;
    private java.nio.file.attribute.GroupPrincipal socketGroup;

    private static List<String> read(SocketChannel c) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(8192);
        while (c.read(b) >= 0) {
            all.write(b.array(), 0, b.position());
            b.clear();
            if (all.size() > MAX_REQUEST) throw new IOException("control request over " + MAX_REQUEST + " bytes");
        }
        String s = all.toString(StandardCharsets.UTF_8);
        List<String> fields = new ArrayList<>(List.of(s.split("\0", -1)));
        if (!fields.isEmpty() && fields.getLast().isEmpty()) fields.removeLast();   // after the last terminator
        return fields;
    }

    /**
     * Fields: magic, verb, cwd, the {@link #ENVIRONMENT} values, then the launcher's arguments. The reply goes out
     * once mount(2) is done; waiting for the kernel's INIT (and the readahead setting) is left to {@code after}.
     */
    private String mount(List<String> fields, List<Runnable> after) {
        String cwd = fields.get(2);
        Map<String, String> env = System.getenv();
        for (int i = 0; i < ENVIRONMENT.size(); i++) {
            if (!fields.get(3 + i).equals(Objects.requireNonNullElse(env.get(ENVIRONMENT.get(i)), ""))) return "D\n";
        }
        MountCommand m = MountCommand.plainMount(fields.subList(3 + ENVIRONMENT.size(), fields.size())
                .toArray(String[]::new));
        if (m == null || m.foreground || !shareable(m.joinedOptions())) return "D\n";
        MountTrace.mark("args");
        synchronized (this) {
            if (closed || terminating) return "D\n";
            pending++;
        }
        try {
            String mountpoint = m.positional.getLast();
            String source = m.positional.size() > 1 ? m.positional.getFirst() : null;
            MountSession s = MountSession.open(m.joinedOptions(), source, mountpoint, cwd, m.singleThreaded, threads);
            adopt(s);                                           // (unmounted if SIGTERM came meanwhile)
            MountTrace.mark("adopt");
            after.add(s::finishMount);
            return "0\n";
        } catch (MountSession.Failure e) {
            return "1\noverlayj: " + e.getMessage() + "\n";
        } finally {
            synchronized (this) {
                pending--;
                if (mounts.isEmpty() && pending == 0) idleSince = Instant.now();
                notifyAll();
            }
        }
    }

    /** Whether a mount with these options may join a shared process: debug logging is the process's. */
    static boolean shareable(String joined) {
        for (String o : joined.split(",")) {
            if (o.equals("debug") || o.equals("no_shared")) return false;
        }
        return true;
    }

    /** What {@code overlayj status} prints: this server, then one line per mount. */
    synchronized String status() {
        StringBuilder b = new StringBuilder();
        String log;
        try {
            log = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
        } catch (IOException e) {
            log = "?";
        }
        b.append("server pid ").append(ProcessHandle.current().pid()).append(", up since ").append(started)
                .append(", ").append(mounts.size()).append(" mount(s), linger ").append(linger.toMillis() / 1000.0)
                .append(" s, socket ").append(socket).append(", log ").append(log).append('\n');
        b.append("MOUNTPOINT\tREQUESTS\tSINCE\tOPTIONS\n");
        Set<String> here = fuseMountsHere();
        for (MountSession s : mounts) {
            b.append(s.mountpoint()).append('\t').append(s.requests()).append('\t').append(s.since()).append('\t')
                    .append(s.given());
            // unmounted here, but a copy of the mount lives on in a mount namespace made while it was mounted
            // (unshare -m, a container): the connection lasts until that namespace lets go, and so does the server
            if (here != null && !here.contains(s.mountpoint())) b.append("\t(not mounted here: held by another mount namespace)");
            b.append('\n');
        }
        return b.toString();
    }

    /** The FUSE mount points of this mount namespace, or null when /proc/self/mountinfo cannot be read. */
    private static Set<String> fuseMountsHere() {
        try {
            Set<String> out = new java.util.HashSet<>();
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
                int dash = line.indexOf(" - ");
                String[] f = line.split(" ");
                if (dash > 0 && f.length > 4 && line.startsWith("fuse", dash + 3)) {
                    out.add(f[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
                            .replace("\\134", "\\"));
                }
            }
            return out;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
