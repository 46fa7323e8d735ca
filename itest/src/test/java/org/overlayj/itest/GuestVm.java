package org.overlayj.itest;

import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A small VM for the kernel's NFS client: Debian's kernel and the busybox initramfs of scripts/vm-assets.sh, plus a
 * second archive with the test's own guest files, booted by qemu inside a private network namespace (made here with
 * {@code unshare -n}, held by a sleeping process) where the loopback and a tap device are the only network there
 * is. The guest is 10.0.2.15 and reaches the test's server as 10.0.2.2 in either of two ways: qemu's user-mode
 * network, which maps 10.0.2.2 to the namespace's 127.0.0.1 (the guest's connections arrive from 127.0.0.1, and
 * the guest cannot be called back); or the tap device ojtap0 (10.0.2.2/24 on the namespace's side), through which
 * the server sees the guest's own address and can call its lock manager and status monitor (NLM GRANTED, SM_NOTIFY
 * after a restart). The first serial port is the console, written to a file; the second is a unix socket through which the
 * test tells the guest to go on (a line "go"). KVM when /dev/kvm boots a VM within a short time (nested KVM has hung
 * here), TCG otherwise. Everything it starts is ended by {@link #close}.
 */
final class GuestVm implements AutoCloseable {
    static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    private final Path dir;
    private final Process netns;
    private final List<Process> processes = new ArrayList<>();
    private Process qemu;
    final Path console, control;

    record Assets(Path kernel, Path initrd) {}

    /** Whether the namespace has the tap device (needs /dev/net/tun). */
    final boolean tap;

    private GuestVm(Path dir, Process netns, boolean tap) {
        this.dir = dir;
        this.netns = netns;
        this.tap = tap;
        this.console = dir.resolve("console.log");
        this.control = dir.resolve("ctl.sock");
    }

    /** Installs what is missing and prepares (or reuses) the kernel and base initramfs; fails with the reason. */
    static Assets assets() throws Exception {
        Path script = REPO.resolve("scripts/vm-assets.sh");
        Process p = new ProcessBuilder(script.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "vm-assets.sh timed out");
        assertEquals(0, p.exitValue(), "scripts/vm-assets.sh (qemu-system-x86, busybox-static, linux-image-amd64, "
                + "rpcbind, nfs-common) failed:\n" + out);
        Path kernel = null, initrd = null;
        for (String l : out.split("\n")) {
            if (l.startsWith("kernel ")) kernel = Path.of(l.substring(7).trim());
            if (l.startsWith("initrd ")) initrd = Path.of(l.substring(7).trim());
        }
        assertTrue(kernel != null && initrd != null && Files.isRegularFile(kernel) && Files.isRegularFile(initrd),
                "vm-assets.sh printed no kernel/initrd:\n" + out);
        Path qemu = Path.of("/usr/bin/qemu-system-x86_64");
        assertTrue(Files.isExecutable(qemu), qemu + " is missing (qemu-system-x86)");
        return new Assets(kernel, initrd);
    }

    /** Makes the private network namespace: its loopback up, and the tap device when /dev/net/tun allows. */
    static GuestVm start(Path dir) throws Exception {
        Process ns = new ProcessBuilder("unshare", "-n", "--", "sh", "-c", "ip link set lo up || exit 1; "
                + "if ip tuntap add ojtap0 mode tap 2>/dev/null && ip addr add 10.0.2.2/24 dev ojtap0 && "
                + "ip link set ojtap0 up; then echo tap; else echo notap; fi; exec sleep 3600")
                .redirectErrorStream(true).start();
        StringBuilder first = new StringBuilder();
        for (int c; (c = ns.getInputStream().read()) >= 0 && c != '\n'; ) first.append((char) c);
        if (!first.toString().equals("tap") && !first.toString().equals("notap")) {
            ns.destroyForcibly();
            fail("could not make a network namespace (unshare -n, ip link set lo up): " + first);
        }
        return new GuestVm(dir, ns, first.toString().equals("tap"));
    }

    /** A command run inside the namespace (nsenter execs it: the process is the command itself). */
    List<String> inside(List<String> cmd) {
        List<String> all = new ArrayList<>(List.of("nsenter", "--net=/proc/" + netns.pid() + "/ns/net", "--"));
        all.addAll(cmd);
        return all;
    }

    /** Starts a process inside the namespace; it is ended by {@link #close} if still running. */
    Process spawn(List<String> cmd, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(inside(cmd)).redirectErrorStream(true);
        if (log != null) pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    /** Runs a command inside the namespace to its end; its exit code and output. */
    String run(List<String> cmd, int[] exit) throws Exception {
        Process p = new ProcessBuilder(inside(cmd)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("timed out: " + cmd);
        }
        exit[0] = p.exitValue();
        return out;
    }

    /** The base initramfs followed by an archive of {@code guestDir} (its files land under /guest). */
    static Path initrd(Assets a, Path guestRoot, Path out) throws Exception {
        Path extra = out.resolveSibling("guest.cpio.gz");
        Process p = new ProcessBuilder("sh", "-c", "cd \"$1\" && find . | sort | cpio -o -H newc --quiet | gzip -1 > \"$2\"",
                "sh", guestRoot.toString(), extra.toString()).redirectErrorStream(true).start();
        String msg = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "cpio of the guest files failed: " + msg);
        try (OutputStream o = Files.newOutputStream(out)) {
            Files.copy(a.initrd(), o);
            Files.copy(extra, o);
        }
        return out;
    }

    /**
     * "kvm" when a VM with the base initramfs alone (it powers off at once) boots under KVM within a short time,
     * else "tcg". The answer is kept for this boot of the machine beside the assets. -Doverlayj.vm.accel=kvm|tcg
     * forces one.
     */
    String accel(Assets a) throws Exception {
        String forced = System.getProperty("overlayj.vm.accel", "");
        if (!forced.isEmpty()) return forced;
        if (!Files.exists(Path.of("/dev/kvm")) || !Files.isWritable(Path.of("/dev/kvm"))) return "tcg";
        String bootId = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim();
        Path memo = a.kernel().resolveSibling("kvm-probe." + bootId);
        if (Files.exists(memo)) return Files.readString(memo).trim();
        Path log = dir.resolve("kvm-probe.log");
        Process p = spawn(List.of("qemu-system-x86_64", "-machine", "q35,accel=kvm", "-cpu", "host", "-m", "256",
                "-smp", "1", "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none", "-vga", "none",
                "-kernel", a.kernel().toString(), "-initrd", a.initrd().toString(),
                "-append", "console=ttyS0 quiet panic=-1", "-serial", "file:" + log), dir.resolve("kvm-probe.out"));
        boolean exited = p.waitFor(20, TimeUnit.SECONDS);
        if (!exited) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        String seen = Files.exists(log) ? Files.readString(log, StandardCharsets.ISO_8859_1) : "";
        String accel = exited && seen.contains("@@VM poweroff") ? "kvm" : "tcg";
        Files.writeString(memo, accel + "\n");
        return accel;
    }

    /** Boots the VM on the tap device or qemu's user-mode network; the console goes to {@link #console}. */
    void boot(Assets a, Path initrd, String accel, int memMiB, boolean onTap) throws IOException {
        if (onTap) assertTrue(tap, "the network namespace has no tap device (/dev/net/tun, ip tuntap)");
        List<String> cmd = new ArrayList<>(List.of("qemu-system-x86_64", "-machine", "q35,accel=" + accel,
                "-cpu", accel.equals("kvm") ? "host" : "max", "-m", Integer.toString(memMiB), "-smp", "1",
                "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none", "-vga", "none",
                "-kernel", a.kernel().toString(), "-initrd", initrd.toString(),
                "-append", "console=ttyS0 quiet panic=-1 oops=panic",
                "-serial", "file:" + console,
                "-serial", "unix:" + control + ",server=on,wait=off",
                "-netdev", onTap ? "tap,id=n0,ifname=ojtap0,script=no,downscript=no" : "user,id=n0",
                // no option ROM: nothing boots from the network, and iPXE would only cost boot time
                "-device", "virtio-net-pci,netdev=n0,romfile="));
        qemu = spawn(cmd, dir.resolve("qemu.out"));
    }

    Process qemu() {
        return qemu;
    }

    String consoleText() throws IOException {
        return Files.exists(console) ? Files.readString(console, StandardCharsets.ISO_8859_1) : "";
    }

    /** Tells the guest, waiting on its second serial port, to go on. */
    void sendGo() throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(control));
            ch.write(ByteBuffer.wrap("go\n".getBytes(StandardCharsets.US_ASCII)));
        }
    }

    @Override
    public void close() {
        for (Process p : processes.reversed()) p.destroyForcibly();
        for (Process p : processes) {
            try {
                p.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        netns.destroyForcibly();
        try {
            netns.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String tail(String s, int lines) {
        String[] l = s.split("\n");
        return String.join("\n", List.of(l).subList(Math.max(0, l.length - lines), l.length));
    }
}
