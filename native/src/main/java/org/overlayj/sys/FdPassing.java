package org.overlayj.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Handing a descriptor across processes: a Unix socket pair, a child started with one end of it as a chosen fd
 * number (which {@link ProcessBuilder} cannot do: it closes every fd but 0-2 in the child), and the receiving side
 * of SCM_RIGHTS. This is how a setuid helper such as fusermount3 gives an unprivileged process its /dev/fuse fd.
 *
 * <p>Kept apart from {@link Linux}: only a plain user's mount needs it, and its calls are linked on first use.
 * Argument and environment strings are byte strings (see {@link Linux}).
 */
public final class FdPassing {
    private FdPassing() {}

    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int EINTR = 4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static MethodHandle fn(String name, FunctionDescriptor fd) {
        MemorySegment sym = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name));
        return LINKER.downcallHandle(sym, fd, Linker.Option.captureCallState("errno"));
    }

    private static final class Socketpair {
        static final MethodHandle H = fn("socketpair",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    }
    private static final class Recvmsg {
        static final MethodHandle H = fn("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Waitpid {
        static final MethodHandle H = fn("waitpid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    // posix_spawn and its file actions return an error number rather than setting errno
    private static final class Spawn {
        static final MethodHandle H = fn("posix_spawn",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }
    private static final class ActionsInit {
        static final MethodHandle H = fn("posix_spawn_file_actions_init", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    private static final class ActionsDup2 {
        static final MethodHandle H = fn("posix_spawn_file_actions_adddup2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }
    private static final class ActionsCloseFrom {
        static final MethodHandle H = fn("posix_spawn_file_actions_addclosefrom_np",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class ActionsDestroy {
        static final MethodHandle H = fn("posix_spawn_file_actions_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    private static IllegalStateException bug(Throwable t) {
        return new IllegalStateException("native call failed: " + t, t);
    }

    /** A connected pair of stream sockets, both close-on-exec. */
    public static int[] socketpair() throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(CAPTURE), fds = a.allocate(8);
            int rc = (int) Socketpair.H.invokeExact(err, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
            if (rc < 0) throw new ErrnoException((int) ERRNO.get(err, 0L), "socketpair()");
            return new int[]{fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /**
     * Waits for one message on {@code sock} carrying a descriptor (SCM_RIGHTS) and returns that descriptor,
     * close-on-exec; -1 when the peer closed its end without sending one (the helper failed).
     */
    public static int receiveFd(int sock) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(CAPTURE);
            MemorySegment data = a.allocate(1);
            MemorySegment iov = a.allocate(16, 8);                 // struct iovec {base, len}
            iov.set(ADDRESS, 0, data);
            iov.set(JAVA_LONG, 8, 1);
            MemorySegment control = a.allocate(24, 8);             // CMSG_SPACE(sizeof(int)): 16-byte header + 8
            MemorySegment msg = a.allocate(56, 8);                 // struct msghdr (x86-64)
            msg.set(ADDRESS, 16, iov);
            msg.set(JAVA_LONG, 24, 1);
            msg.set(ADDRESS, 32, control);
            msg.set(JAVA_LONG, 40, control.byteSize());
            long n;
            while (true) {
                n = (long) Recvmsg.H.invokeExact(err, sock, msg, MSG_CMSG_CLOEXEC);
                if (n >= 0) break;
                int errno = (int) ERRNO.get(err, 0L);
                if (errno != EINTR) throw new ErrnoException(errno, "recvmsg(fd " + sock + ")");
            }
            if (n == 0) return -1;
            long controlLen = msg.get(JAVA_LONG, 40);
            if (controlLen < 20 || control.get(JAVA_INT, 8) != SOL_SOCKET || control.get(JAVA_INT, 12) != SCM_RIGHTS) {
                throw new ErrnoException(Errno.EIO, "recvmsg(fd " + sock + "): no descriptor in the message");
            }
            return control.get(JAVA_INT, 16);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /**
     * Starts {@code path} with {@code argv} and {@code env} (posix_spawn: no shell, no PATH search), with the
     * child's descriptors rearranged first by {@code dup2s}, pairs of {from, to}: the {@code to} fd is then open in
     * the child without close-on-exec. Descriptors from {@code closeFrom} on are closed in the child (the JVM
     * leaves some open across exec, its jars among them), and so is every close-on-exec one. Returns the pid.
     */
    public static int spawn(String path, List<String> argv, List<String> env, int[][] dup2s, int closeFrom)
            throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment actions = a.allocate(256, 16);      // posix_spawn_file_actions_t is 80 bytes in glibc
            int rc = (int) ActionsInit.H.invokeExact(a.allocate(CAPTURE), actions);
            if (rc != 0) throw new ErrnoException(rc, "posix_spawn_file_actions_init()");
            try {
                for (int[] d : dup2s) {
                    rc = (int) ActionsDup2.H.invokeExact(a.allocate(CAPTURE), actions, d[0], d[1]);
                    if (rc != 0) throw new ErrnoException(rc, "posix_spawn_file_actions_adddup2()");
                }
                rc = (int) ActionsCloseFrom.H.invokeExact(a.allocate(CAPTURE), actions, closeFrom);
                if (rc != 0) throw new ErrnoException(rc, "posix_spawn_file_actions_addclosefrom_np()");
                MemorySegment pid = a.allocate(4);
                rc = (int) Spawn.H.invokeExact(a.allocate(CAPTURE), pid, cstr(a, path), actions, MemorySegment.NULL,
                        cstrArray(a, argv), cstrArray(a, env));
                if (rc != 0) throw new ErrnoException(rc, "posix_spawn(" + path + ")");
                return pid.get(JAVA_INT, 0);
            } finally {
                int ignored = (int) ActionsDestroy.H.invokeExact(a.allocate(CAPTURE), actions);
            }
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    /** Waits for child {@code pid} to end and returns its exit code (128 + the signal when a signal ended it). */
    public static int waitFor(int pid) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(CAPTURE), status = a.allocate(4);
            while (true) {
                int rc = (int) Waitpid.H.invokeExact(err, pid, status, 0);
                if (rc >= 0) break;
                int errno = (int) ERRNO.get(err, 0L);
                if (errno != EINTR) throw new ErrnoException(errno, "waitpid(" + pid + ")");
            }
            int s = status.get(JAVA_INT, 0);
            return (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw bug(t);
        }
    }

    private static MemorySegment cstr(Arena a, String byteString) throws ErrnoException {
        if (byteString.indexOf('\0') >= 0) throw new ErrnoException(Errno.EINVAL, "NUL in argument");
        byte[] b = byteString.getBytes(StandardCharsets.ISO_8859_1);
        MemorySegment m = a.allocate(b.length + 1L);
        MemorySegment.copy(b, 0, m, JAVA_BYTE, 0, b.length);
        m.set(JAVA_BYTE, b.length, (byte) 0);
        return m;
    }

    private static MemorySegment cstrArray(Arena a, List<String> strings) throws ErrnoException {
        MemorySegment arr = a.allocate(ADDRESS.byteSize() * (strings.size() + 1L), 8);
        for (int i = 0; i < strings.size(); i++) arr.setAtIndex(ADDRESS, i, cstr(a, strings.get(i)));
        arr.setAtIndex(ADDRESS, strings.size(), MemorySegment.NULL);
        return arr;
    }
}
