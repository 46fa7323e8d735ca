package org.overlayj.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.overlayj.core.Node;
import org.overlayj.core.Overlay;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * Overlay.decodeHandle (issue 4), one thread, index=on,nfs_export=on.
 * <ul>
 *   <li>{@code warm}: one mounted Overlay that has decoded the handle before, so the object is in its node cache.
 *   <li>{@code cold}: a new Overlay instance (no node cache) for every single decode; the mount is not timed.
 *       The kernel's own caches (dentries, inodes) stay warm: this measures the engine, not the disk.
 * </ul>
 * Both for each handle kind and for W/index holding 10k or 1M entries.
 */
@State(Scope.Thread)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss4m"})
public class DecodeBench {
    @Param({"lower", "copiedup", "dir", "copiedupdir"})
    public String kind;

    @Param({"10000", "1000000"})
    public int indexEntries;

    private DecodeFixture fixture;
    private byte[] handle;

    @Setup(Level.Trial)
    public void fixture() throws IOException {
        fixture = DecodeFixture.ensure(indexEntries);
        handle = fixture.handle(kind);
    }

    /** Warm: mounted once per trial, the handle decoded once before measuring. */
    @State(Scope.Thread)
    public static class Mounted {
        Overlay overlay;

        @Setup(Level.Trial)
        public void mount(DecodeBench b) throws IOException {
            overlay = Overlay.mount(b.fixture.options);
            overlay.decodeHandle(b.handle);
        }

        @TearDown(Level.Trial)
        public void close() {
            overlay.close();
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @Warmup(iterations = 3, time = 2)
    @Measurement(iterations = 5, time = 2)
    public Node warm(Mounted m) throws IOException {
        return m.overlay.decodeHandle(handle);
    }

    /** Cold: a fresh Overlay before every iteration; each iteration is one decode (single shot). */
    @State(Scope.Thread)
    public static class Fresh {
        Overlay overlay;

        @Setup(Level.Iteration)
        public void mount(DecodeBench b) throws IOException {
            if (overlay != null) overlay.close();
            overlay = Overlay.mount(b.fixture.options);
        }

        @TearDown(Level.Trial)
        public void close() {
            if (overlay != null) overlay.close();
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    @Warmup(iterations = 10)
    @Measurement(iterations = 30)
    public Node cold(Fresh f) throws IOException {
        return f.overlay.decodeHandle(handle);
    }
}
