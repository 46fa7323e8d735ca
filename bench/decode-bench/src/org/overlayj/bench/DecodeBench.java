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
import org.overlayj.core.BenchHooks;
import org.overlayj.core.Node;
import org.overlayj.core.Overlay;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * Overlay.decodeHandle (issue 4), one thread, index=on,nfs_export=on, decodes per second.
 * <ul>
 *   <li>{@code warm}: the object is in the engine's node cache (this state pins the node, as a door holding it
 *       would) and nothing changed since the handle was last decoded, so decode gives the answer it remembered.
 *   <li>{@code changed}: as {@code warm}, but the overlay counts a change before every decode (the engine seam
 *       through {@link BenchHooks}; nothing on disk changes), which voids remembered answers: decode then checks the cached node (the
 *       index entry, and for a copied-up directory its upper dir and origin), as while clients keep changing the
 *       overlay.
 *   <li>{@code cold}: the engine's node and origin caches are dropped before every decode (the engine seam through
 *       {@link BenchHooks}), so the object is found again from the layers: the walk from the root or from the
 *       nearest indexed directory. The drop itself (clearing a near-empty map) is inside the timing. The kernel's
 *       own dentry and inode caches stay warm (setup looks the objects up in the layers to make sure): this
 *       measures the engine, not the disk.
 * </ul>
 * For each handle kind (a never copied-up lower file, a copied-up file, a lower directory, a copied-up directory)
 * and for W/index holding 10k or 1M entries: decode looks up one name in W/index, so its cost must not grow with it.
 */
@State(Scope.Thread)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class DecodeBench {
    @Param({"lower", "copiedup", "dir", "copiedupdir"})
    public String kind;

    @Param({"10000", "1000000"})
    public int indexEntries;

    Overlay overlay;
    byte[] handle;
    /** Keeps the decoded node reachable: the node cache holds nodes weakly. */
    Node pinned;

    @Setup(Level.Trial)
    public void mount() throws IOException {
        DecodeFixture fixture = DecodeFixture.ensure(indexEntries);
        handle = fixture.handle(kind);
        overlay = Overlay.mount(fixture.options);
        // after the mount: its check of a 1M-entry W/index fills the dentry cache and evicts them again
        fixture.warmKernelDentries(kind);
        pinned = overlay.decodeHandle(handle);
        if (!BenchHooks.connected(pinned)) System.out.println("# " + kind + " decodes to a disconnected node: its dentry is gone");
        // The mount-time index check of a 1M-entry W/index leaves a heap full of garbage whose collection would
        // otherwise land inside the measurement (7x the GC time of the 10k case), not in the decodes.
        System.gc();
    }

    @TearDown(Level.Trial)
    public void close() {
        pinned = null;
        overlay.close();
    }

    @Benchmark
    public Node warm() throws IOException {
        return overlay.decodeHandle(handle);
    }

    @Benchmark
    public Node changed() throws IOException {
        BenchHooks.countChange(overlay);
        return overlay.decodeHandle(handle);
    }

    @Benchmark
    public Node cold() throws IOException {
        BenchHooks.dropCaches(overlay);
        return overlay.decodeHandle(handle);
    }
}
