package org.overlayj.itest;

import org.overlayj.sys.DirEnt;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One copy of an overlay's layers under {@code base}: two lower layers (l1 on top of l2), an upper and a work dir;
 * after {@link #rotate rotations}, the former uppers m1, m2, ... above them (the latest on top).
 * Paths here are plain Java paths; the harness only uses ASCII names for them.
 */
public record LayerSet(Path base) {
    public Path lower1() { return base.resolve("l1"); }
    public Path lower2() { return base.resolve("l2"); }
    public Path upper() { return base.resolve("u"); }
    public Path work() { return base.resolve("w"); }
    public Path index() { return work().resolve("index"); }

    /** The layers former uppers became, top first: m{N} .. m1 (none before the first rotation). */
    public List<Path> middles() {
        List<Path> l = new ArrayList<>();
        for (int k = 1; Files.isDirectory(base.resolve("m" + k)); k++) l.addFirst(base.resolve("m" + k));
        return l;
    }

    /** Every lower layer, top first. */
    public List<Path> lowers() {
        List<Path> l = new ArrayList<>(middles());
        l.add(lower1());
        l.add(lower2());
        return l;
    }

    /** The kernel's lowerdir= value: top layer first. */
    public String lowerdirOption() {
        return String.join(":", lowers().stream().map(Path::toString).toList());
    }

    /**
     * The upper becomes the top lower layer m{N+1}, the work dir (and its index) goes, and a fresh upper and work
     * dir are made with the times the builder gives them. Nothing may be mounted on these layers meanwhile.
     */
    public void rotate() throws IOException {
        int next = middles().size() + 1;
        Files.move(upper(), base.resolve("m" + next));
        Cleanup.removeTree(work());
        for (Path p : List.of(upper(), work())) {
            Files.createDirectory(p);
            Linux.utimens(Linux.fromUtf8(p.toString()), LayerBuilder.EPOCH - 1000, 1, LayerBuilder.EPOCH - 1000, 2, true);
        }
    }

    /**
     * A byte-identical second copy at {@code dest}: {@code cp -a --preserve=all} as root keeps trusted.* xattrs,
     * hard links, owners, modes, devices, FIFOs and nanosecond times. Both copies stay on the same filesystem.
     */
    public LayerSet copyTo(Path dest) throws IOException {
        // cp reads the source, which moves its atimes (relatime); note them first and put them back on both sides
        String src = Linux.fromUtf8(base.toString()), dst = Linux.fromUtf8(dest.toString());
        Map<String, long[]> atimes = new LinkedHashMap<>();
        noteAtimes(src, "", atimes);
        run("cp", "-a", "--preserve=all", "--no-target-directory", base.toString(), dest.toString());
        List<String> paths = new ArrayList<>(atimes.keySet());
        Collections.reverse(paths); // children before parents, though utimens itself does not touch the parent
        for (String rel : paths) {
            long[] a = atimes.get(rel);
            Linux.utimens(src + rel, a[0], a[1], 0, Linux.UTIME_OMIT, true);
            Linux.utimens(dst + rel, a[0], a[1], 0, Linux.UTIME_OMIT, true);
        }
        return new LayerSet(dest);
    }

    private static void noteAtimes(String root, String rel, Map<String, long[]> out) throws ErrnoException {
        Stat st = Linux.lstat(root + rel);
        out.put(rel, new long[] {st.atimeSec(), st.atimeNsec()});
        if (!st.isDir()) return;
        for (DirEnt e : Linux.readdir(root + rel)) {
            if (!e.isDotOrDotDot()) noteAtimes(root, rel + "/" + e.name(), out);
        }
    }

    static void run(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", cmd));
            }
            if (p.exitValue() != 0) throw new IOException(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("interrupted: " + String.join(" ", cmd), e);
        }
    }
}
