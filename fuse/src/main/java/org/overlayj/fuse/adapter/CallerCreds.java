package org.overlayj.fuse.adapter;

import org.overlayj.core.Creds;
import org.overlayj.fuse.FuseContext;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The engine's {@link Creds} for a request. uid and gid come from the request header (the caller's fsuid/fsgid);
 * the header has no supplementary groups, so they are read from /proc/PID/status ("Groups:") only for the
 * operations whose outcome can depend on them (setattr's setgid rules, chown to a group, access, creating in
 * a setgid directory). With default_permissions the kernel has already checked the mode bits.
 */
final class CallerCreds {
    private CallerCreds() {}

    static Creds of(FuseContext c) {
        return new Creds(c.uid(), c.gid(), new int[0]);
    }

    /** With the supplementary groups, except for uid 0: root's decisions never depend on its groups. */
    static Creds withGroups(FuseContext c) {
        if (c.uid() == 0) return of(c);
        return new Creds(c.uid(), c.gid(), groups(c.pid()));
    }

    /** The supplementary groups of {@code pid}; none if it is gone (or pid 0: a kernel-internal request). */
    static int[] groups(int pid) {
        if (pid <= 0) return new int[0];
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("Groups:")) return parseGroups(line.substring(7));
            }
        } catch (IOException | RuntimeException e) {
            // the caller exited: it no longer needs a decision
        }
        return new int[0];
    }

    static int[] parseGroups(String list) {
        String t = list.trim();
        if (t.isEmpty()) return new int[0];
        return Arrays.stream(t.split("\\s+")).mapToInt(s -> (int) Long.parseLong(s)).toArray();
    }
}
