package org.overlayj.itest;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The kernel log from a point on: opened at its end, {@link #overlayLines()} gives the overlayfs messages
 * logged since. Other processes on the machine may mount overlays at the same time, so a caller that sees a
 * message should check again before blaming its own mount.
 */
public final class Kmsg implements AutoCloseable {
    private final int fd;

    private Kmsg(int fd) { this.fd = fd; }

    /** Marks the current end of the log. */
    public static Kmsg mark() throws ErrnoException {
        int fd = Linux.open("/dev/kmsg", Linux.O_RDONLY | Linux.O_NONBLOCK, 0);
        try {
            Linux.lseek(fd, 0, Linux.SEEK_END);
        } catch (ErrnoException e) {
            Linux.closeQuietly(fd);
            throw e;
        }
        return new Kmsg(fd);
    }

    /** The overlayfs messages ("overlayfs: ..." or "overlay: ...") logged since the mark, one per record. */
    public List<String> overlayLines() throws ErrnoException {
        List<String> out = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(8192);
            while (true) {
                long n;
                try {
                    n = Linux.read(fd, buf);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.EAGAIN) break;
                    if (e.errno() == 32 /* EPIPE */) continue; // records overwritten before we read them
                    throw e;
                }
                if (n <= 0) break;
                String rec = new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), java.nio.charset.StandardCharsets.UTF_8);
                int semi = rec.indexOf(';');
                String msg = (semi >= 0 ? rec.substring(semi + 1) : rec).lines().findFirst().orElse("");
                if (msg.startsWith("overlayfs:") || msg.startsWith("overlay:")) out.add(msg);
            }
        }
        return out;
    }

    /**
     * The overlayfs messages since the mark that may come from a mount of the layers under {@code root}, which
     * succeeded: other processes' messages are left out where the text shows them foreign, so that a busy machine
     * does not fail a check. Foreign: a message naming absolute paths, none under {@code root}; and the refusal of
     * a layer in use under index=on ("mount with '-o index=off' to override"), logged only with a mount that
     * failed (the kernel warns without that hint when it mounts anyway).
     */
    public List<String> ownOverlayLines(java.nio.file.Path root) throws ErrnoException {
        String r = root.toAbsolutePath().toString();
        List<String> out = new ArrayList<>();
        for (String l : overlayLines()) if (!foreign(l, r)) out.add(l);
        return out;
    }

    private static final java.util.regex.Pattern HOST_PATH = java.util.regex.Pattern.compile("(?<![\\w.])/[^\\s'\":,)]+");

    static boolean foreign(String line, String root) {
        if (line.contains("to override exclusive upperdir protection") && line.contains("mount with '-o index=off'")) {
            return true;
        }
        boolean anyPath = false;
        for (java.util.regex.Matcher m = HOST_PATH.matcher(line); m.find(); ) {
            String p = m.group();
            if (p.startsWith(root + "/") || p.equals(root)) return false;
            // a path on this host (its first component is a directory of /), not a redirect's value ("/a/b")
            int slash = p.indexOf('/', 1);
            if (java.nio.file.Files.isDirectory(java.nio.file.Path.of(slash < 0 ? p : p.substring(0, slash)))) anyPath = true;
        }
        return anyPath;
    }

    @Override public void close() {
        Linux.closeQuietly(fd);
    }
}
