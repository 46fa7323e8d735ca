package org.overlayj.core.layer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;

/**
 * Every case runs twice on identical fresh layers: once through the kernel ({@code mount -t overlay}, errno and
 * the new kernel log lines captured, then unmounted), once through {@link MountOptions#parse} and
 * {@link MountChecks#prepare}. Both must refuse or both accept, with the same errno and the same sequence of
 * messages (the kernel's text, paths normalized), and must leave the layers in the same state (tree, modes,
 * xattrs): for a refused mount that is usually "untouched", but where the kernel writes before it refuses (W/work
 * recreated, NS uuid set before the lower overlap checks) we must write the same.
 *
 * <p>Not compared: NS origin on the upper root and NS upper on W/index, which index=on mounts write in the index
 * verification (format doc §5.7, done by the index code, not here). Random or inode-dependent xattr values are
 * compared by length. Other processes on this machine may log overlay lines at the same moment; a case whose
 * messages differ is therefore retried (fresh layers) up to three times before it fails.
 */
class KernelComparisonTest {
    interface Setup {
        void make(String d, LayerFixture fx) throws Exception;
    }

    record Case(String name, String options, Setup setup) {}

    static LayerFixture fx;

    @BeforeAll static void machine() throws Exception {
        LayerFixture.requireKernelOverlay();
        fx = new LayerFixture();
    }

    @AfterAll static void cleanup() throws Exception {
        if (fx != null) fx.close();
    }

    static final String STD = "lowerdir=$D/l1,upperdir=$D/u,workdir=$D/w";

    static void base(String d) throws Exception {
        for (String s : List.of("l1", "l2", "u", "w", "m")) LayerFixture.mkdirs(d + "/" + s);
        LayerFixture.touch(d + "/l1/a");
        LayerFixture.touch(d + "/l2/b");
    }

    static Case c(String name, String options, Setup extra) {
        return new Case(name, options, (d, f) -> {
            base(d);
            extra.make(d, f);
        });
    }

    static Case c(String name, String options) {
        return c(name, options, (d, f) -> { });
    }

    static List<Case> cases() {
        return List.of(
                c("plain", STD),
                c("lower-only", "lowerdir=$D/l1:$D/l2"),
                c("missing-lower", "lowerdir=$D/nope,upperdir=$D/u,workdir=$D/w"),
                c("missing-upper", "lowerdir=$D/l1,upperdir=$D/nope,workdir=$D/w"),
                c("missing-work", "lowerdir=$D/l1,upperdir=$D/u,workdir=$D/nope"),
                c("no-lowerdir", "upperdir=$D/u,workdir=$D/w"),
                c("no-workdir", "lowerdir=$D/l1,upperdir=$D/u"),
                c("single-lower", "lowerdir=$D/l1"),
                c("useless-workdir", "lowerdir=$D/l1,workdir=$D/w"),
                c("lower-not-dir", "lowerdir=$D/l1/a,upperdir=$D/u,workdir=$D/w"),
                c("upper-not-dir", "lowerdir=$D/l1,upperdir=$D/l1/a,workdir=$D/w"),
                c("work-in-upper", "lowerdir=$D/l1,upperdir=$D/u,workdir=$D/u/w",
                        (d, f) -> LayerFixture.mkdirs(d + "/u/w")),
                c("upper-in-work", "lowerdir=$D/l1,upperdir=$D/w/u,workdir=$D/w",
                        (d, f) -> LayerFixture.mkdirs(d + "/w/u")),
                c("upper-is-work", "lowerdir=$D/l1,upperdir=$D/u,workdir=$D/u"),
                c("work-other-mount", "lowerdir=$D/l1,upperdir=$D/u,workdir=$D/t/w", (d, f) -> {
                    f.tmpfs(LayerFixture.mkdirs(d + "/t"), false);
                    LayerFixture.mkdirs(d + "/t/w");
                }),
                c("upper-ro-tmpfs", "lowerdir=$D/l1,upperdir=$D/t,workdir=$D/t",
                        (d, f) -> f.tmpfs(LayerFixture.mkdirs(d + "/t"), true)),
                c("upper-ro-bind", "lowerdir=$D/l1,upperdir=$D/b,workdir=$D/w",
                        (d, f) -> f.bindRo(d + "/u", LayerFixture.mkdirs(d + "/b"))),
                c("volatile", STD + ",volatile"),
                c("volatile-leftover", STD, (d, f) -> LayerFixture.touch(d + "/w/work/incompat/volatile/dirty")),
                c("incompat-other", STD, (d, f) -> {
                    LayerFixture.mkdirs(d + "/w/work/incompat/foo");
                    for (int i = 0; i < 6; i++) LayerFixture.touch(d + "/w/work/f" + i);
                }),
                c("incompat-empty", STD, (d, f) -> LayerFixture.mkdirs(d + "/w/work/incompat")),
                c("work-two-levels", STD, (d, f) -> {
                    LayerFixture.mkdirs(d + "/w/work/a/b");
                    LayerFixture.touch(d + "/w/work/a/f");
                    LayerFixture.touch(d + "/w/work/f");
                    LayerFixture.mkdirs(d + "/w/work/e");
                }),
                c("work-deep", STD, (d, f) -> {
                    for (int i = 0; i < 3; i++) {
                        LayerFixture.touch(d + "/w/work/d" + i + "/x/y/h");
                        LayerFixture.touch(d + "/w/work/d" + i + "/g");
                        LayerFixture.touch(d + "/w/work/f" + i);
                    }
                }),
                c("work-deep-nfs-export", STD + ",nfs_export=on",
                        (d, f) -> LayerFixture.touch(d + "/w/work/d/x/y/h")),
                c("conflict-nfs-index", STD + ",index=off,nfs_export=on"),
                c("conflict-userxattr-redirect", STD + ",userxattr,redirect_dir=on"),
                c("conflict-userxattr-redirect-off", STD + ",redirect_dir=off,userxattr"),
                c("conflict-metacopy-nfs", STD + ",metacopy=on,nfs_export=on"),
                c("unknown-option", STD + ",bogus"),
                c("bad-value", STD + ",index=yes"),
                c("trailing-colon", "lowerdir=$D/l1:,upperdir=$D/u,workdir=$D/w"),
                c("triple-colon", "lowerdir=$D/l1:::$D/l2"),
                c("leading-colon", "lowerdir=:$D/l1"),
                c("nfs-export", STD + ",nfs_export=on"),
                c("index-leftovers", STD + ",index=on", (d, f) -> {
                    LayerFixture.touch(d + "/w/index/#1");
                    LayerFixture.touch(d + "/w/index/#2/x");
                    LayerFixture.touch(d + "/w/index/#3/b/c");
                }),
                c("nfs-export-lower-only", "lowerdir=$D/l1:$D/l2,nfs_export=on"),
                c("nfs-export-lower-only-nofollow", "lowerdir=$D/l1:$D/l2,nfs_export=on,redirect_dir=nofollow"),
                c("lower-in-upper", "lowerdir=$D/u/ll,upperdir=$D/u,workdir=$D/w",
                        (d, f) -> LayerFixture.mkdirs(d + "/u/ll")),
                c("lower-is-upper", "lowerdir=$D/u,upperdir=$D/u,workdir=$D/w"),
                c("lower-is-work", "lowerdir=$D/w,upperdir=$D/u,workdir=$D/w"),
                c("lower-twice", "lowerdir=$D/l1:$D/l1,upperdir=$D/u,workdir=$D/w"),
                c("lower-nested", "lowerdir=$D/l1:$D/l1/s,upperdir=$D/u,workdir=$D/w",
                        (d, f) -> LayerFixture.mkdirs(d + "/l1/s")),
                c("lower-nested-up", "lowerdir=$D/l1/s:$D/l1", (d, f) -> LayerFixture.mkdirs(d + "/l1/s")),
                c("upper-in-lower", "lowerdir=$D/l1,upperdir=$D/l1/uu,workdir=$D/w",
                        (d, f) -> LayerFixture.mkdirs(d + "/l1/uu")),
                c("upper-in-use-index", STD + ",index=on", (d, f) -> {
                    LayerFixture.mkdirs(d + "/w2");
                    f.overlay(LayerFixture.mkdirs(d + "/m2"), "lowerdir=" + d + "/l2,upperdir=" + d + "/u,workdir="
                            + d + "/w2");
                }),
                c("upper-in-use-noindex", STD, (d, f) -> {
                    LayerFixture.mkdirs(d + "/w2");
                    f.overlay(LayerFixture.mkdirs(d + "/m2"), "lowerdir=" + d + "/l2,upperdir=" + d + "/u,workdir="
                            + d + "/w2");
                }),
                c("escaped-colon", "lowerdir=$D/l\\:x:$D/l1", (d, f) -> LayerFixture.mkdirs(d + "/l:x")),
                c("uuid-auto-impure", STD, (d, f) ->
                        Linux.lsetxattr(d + "/u", "trusted.overlay.impure", new byte[] {'y'}, 0)),
                c("uuid-auto-existing", STD, (d, f) ->
                        Linux.lsetxattr(d + "/u", "trusted.overlay.uuid", new byte[16], 0)),
                c("uuid-off", STD + ",uuid=off"),
                c("uuid-null", STD + ",uuid=null"),
                c("uuid-on-lower-only", "lowerdir=$D/l1:$D/l2,uuid=on"),
                c("uuid-off-lower-only", "lowerdir=$D/l1:$D/l2,uuid=off"),
                c("uuid-off-index", STD + ",uuid=off,index=on"),
                c("userxattr", STD + ",userxattr"),
                c("userxattr-index", STD + ",userxattr,index=on"),
                c("tmpfs-lower-xino-auto", "lowerdir=$D/t,upperdir=$D/u,workdir=$D/w,xino=auto",
                        (d, f) -> f.tmpfs(LayerFixture.mkdirs(d + "/t"), false)),
                c("xino-on-samefs", STD + ",xino=on"),
                c("upper-ramfs", "lowerdir=$D/l1,upperdir=$D/r/u,workdir=$D/r/w", (d, f) -> ramfs(d, f)),
                c("upper-ramfs-index", "lowerdir=$D/l1,upperdir=$D/r/u,workdir=$D/r/w,index=on,xino=auto",
                        (d, f) -> ramfs(d, f)),
                c("work-bind-same-fs", "lowerdir=$D/l1,upperdir=$D/u,workdir=$D/wb", (d, f) -> {
                    Linux.mount(d + "/w", LayerFixture.mkdirs(d + "/wb"), "none", LayerFixture.MS_BIND, null);
                    f.pushMount(d + "/wb");
                }),
                c("lowerdir-reset", "lowerdir=$D/l1,lowerdir=,upperdir=$D/u,workdir=$D/w"),
                c("missing-lower-and-upper", "upperdir=$D/nope2,lowerdir=$D/nope1,workdir=$D/w"),
                c("lower-in-use-index", "lowerdir=$D/l1:$D/l2,upperdir=$D/u,workdir=$D/w,index=on",
                        (d, f) -> otherOverlay(d, f, "/l2")),
                c("lower-in-use-noindex", "lowerdir=$D/l1:$D/l2,upperdir=$D/u,workdir=$D/w",
                        (d, f) -> otherOverlay(d, f, "/l2")),
                c("upper-below-other-upper", "lowerdir=$D/l1,upperdir=$D/l2/s,workdir=$D/l2/w,index=on", (d, f) -> {
                    LayerFixture.mkdirs(d + "/l2/s");
                    LayerFixture.mkdirs(d + "/l2/w");
                    otherOverlay(d, f, "/l2");
                }),
                c("uuid-short", STD, (d, f) -> Linux.lsetxattr(d + "/u", "trusted.overlay.uuid", new byte[4], 0)),
                c("uuid-impure-empty", STD, (d, f) ->
                        Linux.lsetxattr(d + "/u", "trusted.overlay.impure", new byte[0], 0)),
                c("uuid-on-impure", STD + ",uuid=on", (d, f) ->
                        Linux.lsetxattr(d + "/u", "trusted.overlay.impure", new byte[] {'y'}, 0)),
                c("userxattr-volatile", STD + ",userxattr,volatile"),
                c("volatile-lower-only", "lowerdir=$D/l1:$D/l2,volatile"),
                c("work-deep-index", STD + ",index=on,nfs_export=on", (d, f) -> LayerFixture.touch(d + "/w/work/a/b/c")),
                c("xino-on-tmpfs", "lowerdir=$D/t:$D/l1,upperdir=$D/u,workdir=$D/w,xino=on",
                        (d, f) -> f.tmpfs(LayerFixture.mkdirs(d + "/t"), false)),
                c("nfs-export-tmpfs-lower", "lowerdir=$D/t,upperdir=$D/u,workdir=$D/w,nfs_export=on",
                        (d, f) -> f.tmpfs(LayerFixture.mkdirs(d + "/t"), false)),
                c("two-tmpfs-lowers-uuid-off", "lowerdir=$D/t:$D/t2,upperdir=$D/u,workdir=$D/w,uuid=off,xino=auto",
                        (d, f) -> {
                            f.tmpfs(LayerFixture.mkdirs(d + "/t"), false);
                            f.tmpfs(LayerFixture.mkdirs(d + "/t2"), false);
                        }),
                c("null-uuid-lower-xino-auto", "lowerdir=$D/e1,upperdir=$D/u,workdir=$D/w,xino=auto",
                        (d, f) -> f.loopExt4(LayerFixture.mkdirs(d + "/e1"), "clear")),
                c("null-uuid-lower-index", "lowerdir=$D/e1,upperdir=$D/u,workdir=$D/w,index=on",
                        (d, f) -> f.loopExt4(LayerFixture.mkdirs(d + "/e1"), "clear")),
                c("same-uuid-lowers-index", "lowerdir=$D/e1:$D/e2,upperdir=$D/u,workdir=$D/w,index=on", (d, f) -> {
                    f.loopExt4(LayerFixture.mkdirs(d + "/e1"), SAME_UUID);
                    f.loopExt4(LayerFixture.mkdirs(d + "/e2"), SAME_UUID);
                }),
                c("same-uuid-lowers-lower-only-nfs", "lowerdir=$D/e1:$D/e2,nfs_export=on,redirect_dir=nofollow",
                        (d, f) -> {
                            f.loopExt4(LayerFixture.mkdirs(d + "/e1"), SAME_UUID);
                            f.loopExt4(LayerFixture.mkdirs(d + "/e2"), SAME_UUID);
                        }),
                c("relative-paths", "lowerdir=$R/l1:$R/l2,upperdir=$R/u,workdir=$R/w"),
                c("relative-missing", "lowerdir=$R/l1:$R/nope,upperdir=$R/u,workdir=$R/w"),
                c("relative-not-dir", "lowerdir=$R/l1,upperdir=$R/l1/a,workdir=$R/w"),
                c("relative-useless-workdir", "lowerdir=$R/l1:$R/l2,workdir=$R/w"),
                c("upper-on-fuse", "lowerdir=$D/l1,upperdir=$D/f/u,workdir=$D/f/w", (d, f) -> {
                    for (String s : List.of("/fl", "/fu", "/fw", "/f")) LayerFixture.mkdirs(d + s);
                    LayerFixture.run("fuse-overlayfs", "-o", "lowerdir=" + d + "/fl,upperdir=" + d + "/fu,workdir="
                            + d + "/fw", d + "/f");
                    f.pushMount(d + "/f");
                    LayerFixture.mkdirs(d + "/f/u");
                    LayerFixture.mkdirs(d + "/f/w");
                }),
                c("default-permissions", STD + ",default_permissions,fsync=strict"),
                c("ramfs-lower-index", "lowerdir=$D/r,upperdir=$D/u,workdir=$D/w,index=on,nfs_export=on", (d, f) -> {
                    Linux.mount("ramfs", LayerFixture.mkdirs(d + "/r"), "ramfs", 0, null);
                    f.pushMount(d + "/r");
                }));
    }

    static void ramfs(String d, LayerFixture f) throws Exception {
        Linux.mount("ramfs", LayerFixture.mkdirs(d + "/r"), "ramfs", 0, null);
        f.pushMount(d + "/r");
        LayerFixture.mkdirs(d + "/r/u");
        LayerFixture.mkdirs(d + "/r/w");
    }

    /** Another (kernel) overlay whose upper is {@code d + upperRel}. */
    static void otherOverlay(String d, LayerFixture f, String upperRel) throws Exception {
        LayerFixture.mkdirs(d + "/w2");
        f.overlay(LayerFixture.mkdirs(d + "/m2"), "lowerdir=" + d + "/l1,upperdir=" + d + upperRel + ",workdir=" + d
                + "/w2");
    }

    static final String SAME_UUID = "0badc0de-1234-5678-9abc-def012345678";

    static final Set<String> MASKED = Set.of("trusted.overlay.uuid", "user.overlay.uuid");
    static final Set<String> SKIPPED = Set.of("trusted.overlay.origin", "trusted.overlay.upper",
            "user.overlay.origin", "user.overlay.upper");

    /** shown: the options as /proc/mounts shows them for an accepted mount ("rw,lowerdir=..."), else null. */
    record Outcome(int errno, List<String> messages, List<String> after, List<String> before, String shown) {}

    @TestFactory Stream<DynamicTest> sameAsTheKernel() {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> compare(c)));
    }

    static void compare(Case c) throws Exception {
        String last = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            try {
                Outcome k = kernel(c, attempt);
                Outcome o = ours(c, attempt);
                String what = c.name() + " [" + c.options() + "]";
                assertEquals(k.errno(), o.errno(), what + ": errno (0 = mounted); kernel said " + k.messages()
                        + ", we said " + o.messages());
                if (!k.messages().equals(o.messages())) {
                    last = what + ": messages\n kernel: " + k.messages() + "\n ours:   " + o.messages();
                    continue;                        // may be another process's overlay lines: retry
                }
                assertEquals(k.after(), o.after(), what + ": layers after the mount attempt");
                assertEquals(k.shown(), o.shown(), what + ": effective options as /proc/mounts shows them");
                if (k.errno() != 0 && k.before().equals(k.after())) {
                    assertEquals(o.before(), o.after(), what + ": a refused mount left the layers untouched");
                }
                return;
            } finally {
                fx.unmountAll();
            }
        }
        fail(last);
    }

    static String dir(String side, int attempt, Case c) {
        return fx.base + "/" + side + attempt + "/" + c.name();
    }

    static List<String> snap(String d) throws ErrnoException {
        return LayerFixture.snapshot(d, MASKED, SKIPPED, Set.of("m", "m2", "f", "fw"));
    }

    static Outcome kernel(Case c, int attempt) throws Exception {
        String d = dir("k", attempt, c);
        LayerFixture.mkdirs(d);
        c.setup().make(d, fx);
        List<String> before = snap(d);
        int errno = 0;
        List<String> lines;
        String shown = null;
        try (KernelLog log = new KernelLog()) {
            try {
                Linux.mount("overlay", d + "/m", "overlay", 0, Linux.fromUtf8(expand(c.options(), d)));
                try {
                    shown = superOptions(d + "/m");
                } finally {
                    Linux.umount(d + "/m", 0);
                }
            } catch (ErrnoException e) {
                errno = e.errno();
            }
            lines = log.overlayLines();
        }
        List<String> msgs = lines.stream().map(l -> normalize(l, d)).toList();
        return new Outcome(errno, msgs, snap(d), before, shown == null ? null : normalize(shown, d));
    }

    /** The superblock options of the mount at {@code target} from /proc/self/mountinfo, octal escapes undone. */
    static String superOptions(String target) throws Exception {
        for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/mountinfo"),
                java.nio.charset.StandardCharsets.ISO_8859_1)) {
            String[] f = line.split(" ");
            if (!unoctal(f[4]).equals(target)) continue;
            String[] tail = line.substring(line.indexOf(" - ") + 3).split(" ");
            return unoctal(tail[2]);
        }
        throw new AssertionError("no mountinfo line for " + target);
    }

    static String unoctal(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '\\' && i + 3 < s.length() + 1 && s.substring(i + 1, Math.min(s.length(), i + 4))
                    .matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(s.charAt(i));
            }
        }
        return b.toString();
    }

    static Outcome ours(Case c, int attempt) throws Exception {
        String d = dir("o", attempt, c);
        LayerFixture.mkdirs(d);
        c.setup().make(d, fx);
        List<String> before = snap(d);
        List<String> msgs = new ArrayList<>();
        int errno = 0;
        String shown = null;
        try {
            MountOptions.Parsed p = MountOptions.parse(Linux.fromUtf8(expand(c.options(), d)),
                    Linux.fromUtf8(System.getProperty("user.dir")), ModuleDefaults.current());
            msgs.addAll(p.warnings());
            try (LayerStack s = MountChecks.prepare(p.overlay(), msgs::add)) {
                // accepted; the stack's locks are released at once, as the kernel mount was unmounted
                shown = (s.readOnly() ? "ro," : "rw,") + Linux.toUtf8(s.options().show(ModuleDefaults.current(),
                        s.samefs()));
            }
        } catch (ErrnoException e) {
            errno = e.errno();
            if (msgs.isEmpty() || !msgs.getLast().equals(e.detail())) msgs.add(e.detail());
        }
        return new Outcome(errno, msgs.stream().map(l -> normalize(l, d)).toList(), snap(d), before,
                shown == null ? null : normalize(shown, d));
    }

    /** $D: the case directory; $R: the same, relative to the current directory (both mount(2) and we use it). */
    static String expand(String options, String d) {
        return options.replace("$R", relative(d)).replace("$D", d);
    }

    static String normalize(String line, String d) {
        return line.replace(relative(d), "$R").replace(d, "$D");
    }

    static String relative(String d) {
        return java.nio.file.Path.of(System.getProperty("user.dir")).toAbsolutePath().relativize(
                java.nio.file.Path.of(d)).toString();
    }
}
