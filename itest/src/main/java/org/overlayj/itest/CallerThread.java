package org.overlayj.itest;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs a piece of the harness as an unprivileged caller ({@link Op.Caller}) against a mounted overlay: on a fresh
 * platform thread that first leaves the process's shared filesystem context (its own umask) and then sets its
 * groups, gid and uid with the raw system calls, which change the calling thread only (glibc's wrappers would
 * change every thread of the JVM). Once its uids are all non-zero the thread has no capabilities left, as a
 * process of that user: no CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_FSETID or CAP_SYS_ADMIN (trusted.*). The
 * thread ends with the call; the JVM's other threads stay root. A FUSE server sees the thread's ids and reads its
 * groups from /proc/TID/status, as for any caller.
 */
public final class CallerThread {
    private CallerThread() {}

    // x86_64 and aarch64 system call numbers
    private static final boolean ARM = System.getProperty("os.arch").contains("aarch64");
    private static final long SYS_SETGROUPS = ARM ? 159 : 116, SYS_SETRESGID = ARM ? 149 : 119,
            SYS_SETRESUID = ARM ? 147 : 117, SYS_UNSHARE = ARM ? 97 : 272, SYS_UMASK = ARM ? 166 : 95;
    private static final long CLONE_FS = 0x00000200L;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SYSCALL3 = LINKER.downcallHandle(LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
            Linker.Option.firstVariadicArg(1));
    private static final MethodHandle SYSCALL_PTR = LINKER.downcallHandle(LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS),
            Linker.Option.firstVariadicArg(1));

    /** Runs {@code body} as {@code who} with {@code umask}; what it returns or throws comes back here. */
    public static <T> T call(Op.Caller who, int umask, Callable<T> body) throws Exception {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("caller-" + who.uid()).unstarted(() -> {
            try {
                become(who, umask);
                result.set(body.call());
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        Throwable e = failure.get();
        if (e instanceof Exception ex) throw ex;
        if (e instanceof Error er) throw er;
        return result.get();
    }

    private static void become(Op.Caller who, int umask) throws Throwable {
        check((long) SYSCALL3.invokeExact(SYS_UNSHARE, CLONE_FS, 0L, 0L), "unshare(CLONE_FS)");
        long ignored = (long) SYSCALL3.invokeExact(SYS_UMASK, (long) umask, 0L, 0L);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment list = a.allocate(4L * Math.max(1, who.groups().size()));
            for (int i = 0; i < who.groups().size(); i++) list.setAtIndex(ValueLayout.JAVA_INT, i, who.groups().get(i));
            check((long) SYSCALL_PTR.invokeExact(SYS_SETGROUPS, (long) who.groups().size(), list), "setgroups");
        }
        check((long) SYSCALL3.invokeExact(SYS_SETRESGID, (long) who.gid(), (long) who.gid(), (long) who.gid()), "setresgid");
        check((long) SYSCALL3.invokeExact(SYS_SETRESUID, (long) who.uid(), (long) who.uid(), (long) who.uid()), "setresuid");
    }

    private static void check(long rc, String what) {
        if (rc < 0) throw new IllegalStateException(what + " failed for the caller thread (rc " + rc + ")");
    }
}
