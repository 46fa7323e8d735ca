package org.overlayj.sys;
public class PerfProbe {
    public static void main(String[] a) throws Exception {
        Linux.mknod("/tmp/overlayj-perf-probe", Stat.S_IFREG | 0644, 0);
        try {
            for (int round = 0; round < 3; round++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 100_000; i++) Linux.lstat("/tmp/overlayj-perf-probe");
                long t1 = System.nanoTime();
                for (int i = 0; i < 100_000; i++) Linux.lgetxattrOrNull("/tmp/overlayj-perf-probe", "trusted.overlay.opaque");
                long t2 = System.nanoTime();
                for (int i = 0; i < 20_000; i++) { Linux.mkdir("/tmp/overlayj-perf-d", 0755); Linux.rename("/tmp/overlayj-perf-d", "/tmp/overlayj-perf-e", 0); Linux.rmdir("/tmp/overlayj-perf-e"); }
                long t3 = System.nanoTime();
                System.out.printf("lstat %.0f/s  lgetxattr(absent) %.0f/s  mkdir+rename+rmdir %.0f/s%n",
                    1e5 / ((t1 - t0) / 1e9), 1e5 / ((t2 - t1) / 1e9), 2e4 / ((t3 - t2) / 1e9));
            }
        } finally { Linux.unlink("/tmp/overlayj-perf-probe"); }
    }
}
