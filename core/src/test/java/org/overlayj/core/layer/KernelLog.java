package org.overlayj.core.layer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

/**
 * The kernel log from a point on: /dev/kmsg opened and positioned at its end, then read record by record. Only
 * overlay lines are kept. Other processes on the machine may log overlay lines at the same time; the comparison
 * test tolerates that by retrying a case.
 */
final class KernelLog implements AutoCloseable {
    private final int fd;

    KernelLog() throws ErrnoException {
        fd = Linux.open("/dev/kmsg", Linux.O_RDONLY | Linux.O_NONBLOCK, 0);
        Linux.lseek(fd, 0, Linux.SEEK_END);
    }

    /** The overlay lines logged since the last call, prefix "overlayfs: " removed, "overlay: " kept. */
    List<String> overlayLines() throws ErrnoException {
        List<String> out = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(8192);
            while (true) {
                long n;
                try {
                    n = Linux.read(fd, buf);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.EAGAIN) break;
                    if (e.errno() == 32 /* EPIPE: overwritten records */) continue;
                    throw e;
                }
                if (n <= 0) break;
                String rec = new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
                int semi = rec.indexOf(';');
                String msg = rec.substring(semi + 1);
                int nl = msg.indexOf('\n');
                if (nl >= 0) msg = msg.substring(0, nl);
                if (msg.startsWith("overlayfs: ")) out.add(msg.substring("overlayfs: ".length()));
                else if (msg.startsWith("overlay: ")) out.add(msg);
            }
        }
        return out;
    }

    @Override public void close() {
        Linux.closeQuietly(fd);
    }
}
