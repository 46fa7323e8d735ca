package org.overlayj.nfs.nlm;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The server's own status monitor state (NSM), kept in a state directory:
 * <ul>
 *   <li>{@code state}: the NSM state number, odd while the server runs and even once it stopped in order; each start
 *   moves it to the next odd number, so a client can tell this instance from the one it locked with;</li>
 *   <li>{@code clients}: one line per client host holding locks or share reservations (hex of its caller name, its
 *   address, and our address as that client called us). It is written (and synced) before a lock is granted to
 *   a host not yet in it, so that after a crash every client that could hold a lock is told to reclaim.</li>
 * </ul>
 * With no directory the same is kept in memory only: nothing survives a restart and there is no grace period.
 */
final class StatusMonitor {
    private static final Logger log = LoggerFactory.getLogger(StatusMonitor.class);

    /** A client to tell about our restart: its host, and the name (our address) under which it monitors us. */
    record Monitored(ClientHost host, String serverName) {}

    private final Path dir;
    private final int state;
    /** Hosts with state now, and the hosts of the previous instance not yet known to be done (grace period). */
    private final Map<ClientHost, String> current = new LinkedHashMap<>();
    private final Map<ClientHost, String> previous = new LinkedHashMap<>();

    StatusMonitor(Path dir) throws IOException {
        this.dir = dir;
        if (dir == null) {
            state = 1;
            return;
        }
        // Only the server reads and writes its lock state (the process may run with umask 0, as a FUSE server).
        if (!Files.isDirectory(dir))
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        int last = 0;
        try {
            last = Integer.parseInt(Files.readString(dir.resolve("state"), StandardCharsets.US_ASCII).trim());
        } catch (NoSuchFileException e) {
            // first start
        } catch (NumberFormatException e) {
            log.warn("{}: not a state number, starting from 0", dir.resolve("state"));
        }
        state = (last & 1) == 0 ? last + 1 : last + 2;    // odd: up; a crash left it odd, so skip one
        writeAtomically("state", state + "\n");
        try {
            for (String line : Files.readAllLines(dir.resolve("clients"), StandardCharsets.US_ASCII)) {
                String[] f = line.trim().split(" ");
                if (f.length != 3) continue;
                try {
                    String name = new String(HexFormat.of().parseHex(f[0]), StandardCharsets.ISO_8859_1);
                    previous.put(new ClientHost(name, InetAddress.ofLiteral(f[1])), f[2]);
                } catch (IllegalArgumentException e) {
                    log.warn("{}: bad line ignored: {}", dir.resolve("clients"), line);
                }
            }
        } catch (NoSuchFileException e) {
            // nobody held locks
        }
    }

    int state() { return state; }

    /** The clients of the previous instance, to be sent SM_NOTIFY. */
    synchronized List<Monitored> previous() {
        List<Monitored> l = new ArrayList<>();
        previous.forEach((h, s) -> l.add(new Monitored(h, s)));
        return l;
    }

    /** Records a host before it is granted its first lock; false when that could not be made durable. */
    synchronized boolean monitor(ClientHost host, String serverName) {
        if (serverName.equals(current.get(host))) return true;
        current.put(host, serverName);
        // A client of the previous instance that reclaims is a current one now: its record follows its locks.
        String before = previous.remove(host);
        try {
            persist();
            return true;
        } catch (IOException e) {
            current.remove(host);
            if (before != null) previous.put(host, before);
            log.warn("cannot record NLM client {} in {}: {}", host, dir, e.toString());
            return false;
        }
    }

    synchronized void unmonitor(ClientHost host) {
        if (current.remove(host) == null) return;
        persistQuietly();
    }

    /** Forgets the current hosts not in {@code keep}. */
    synchronized void retainOnly(java.util.Set<ClientHost> keep) {
        if (current.keySet().retainAll(keep)) persistQuietly();
    }

    /** A host of the previous instance rebooted itself or gave up: it will not reclaim. */
    synchronized void forgetPrevious(java.util.function.Predicate<ClientHost> which) {
        if (previous.keySet().removeIf(which)) persistQuietly();
    }

    /** Grace period over: what the previous instance's clients did not reclaim is gone. */
    synchronized void endGrace() {
        if (previous.isEmpty()) return;
        previous.clear();
        persistQuietly();
    }

    /**
     * The locks an orderly stop saved ({@link #saveLocks}), removed from the directory as they are read: if this
     * instance crashes, the next one must not take them for current but fall back to notification and reclaim.
     * Empty when there are none (first start, or the last instance did not stop in order).
     */
    synchronized List<String> takeLocks() {
        if (dir == null) return List.of();
        Path f = dir.resolve("locks");
        try {
            List<String> lines = Files.readAllLines(f, StandardCharsets.US_ASCII);
            Files.delete(f);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
            return lines;
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            log.warn("cannot take the saved locks from {}: {}", f, e.toString());
            try {
                Files.deleteIfExists(f);
            } catch (IOException ignored) {
                // reported above
            }
            return List.of();
        }
    }

    /**
     * The previous instance's clients whose locks were restored are current again (their records move, with the
     * name under which they monitor us); the others held nothing and are forgotten. Nobody needs notifying.
     */
    synchronized void restored(java.util.Set<ClientHost> hosts) {
        for (ClientHost h : hosts) {
            String serverName = previous.get(h);
            if (serverName != null) current.put(h, serverName);
        }
        previous.clear();
        persistQuietly();
    }

    /** Saves the locks held at an orderly stop, for the next instance to hold them on. */
    synchronized void saveLocks(List<String> lines) {
        if (dir == null || lines.isEmpty()) return;
        if (!previous.isEmpty()) {
            // Stopped within a grace period: clients of the instance before may not have reclaimed yet. Saving
            // only what was reclaimed would let the next start skip notifying them; notify everyone again instead.
            log.info("stopping within the grace period: locks not saved, clients will be told to reclaim");
            return;
        }
        try {
            writeAtomically("locks", String.join("\n", lines) + "\n");
        } catch (IOException e) {
            log.warn("cannot save the locks in {}: {}; clients will reclaim them", dir, e.toString());
        }
    }

    /** An orderly stop: the state number turns even (down). The client list stays for the next start. */
    synchronized void stopped() {
        if (dir == null) return;
        try {
            writeAtomically("state", (state + 1) + "\n");
        } catch (IOException e) {
            log.warn("cannot write {}: {}", dir.resolve("state"), e.toString());
        }
    }

    private void persistQuietly() {
        try {
            persist();
        } catch (IOException e) {
            log.warn("cannot update {}: {}", dir.resolve("clients"), e.toString());
        }
    }

    private void persist() throws IOException {
        if (dir == null) return;
        Map<ClientHost, String> all = new LinkedHashMap<>(previous);
        all.putAll(current);
        StringBuilder sb = new StringBuilder();
        all.forEach((h, s) -> sb.append(HexFormat.of().formatHex(h.name().getBytes(StandardCharsets.ISO_8859_1)))
                .append(' ').append(h.address().getHostAddress()).append(' ').append(s).append('\n'));
        writeAtomically("clients", sb.toString());
    }

    /** Write to a temporary name, sync, rename over, sync the directory: a crash leaves the old or the new file. */
    private void writeAtomically(String name, String content) throws IOException {
        Path tmp = dir.resolve(name + ".tmp");
        Files.deleteIfExists(tmp);
        try (FileChannel ch = FileChannel.open(tmp, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
            ch.write(java.nio.ByteBuffer.wrap(content.getBytes(StandardCharsets.US_ASCII)));
            ch.force(true);
        }
        Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }
}
