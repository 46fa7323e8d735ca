package org.overlayj.itest;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The permission rules {@link UserDifferentialTest} found the engine (or the FUSE door) getting wrong, one case per
 * rule, each as a short script made by the same unprivileged caller on the kernel overlay and on overlayj, compared
 * after every op (outcome, visible tree, upper layer on disk) as the harness does. The caller is uid 1000 with
 * groups 1000 and 1001, umask 022. The kernel overlay (6.18) is the oracle; each case fails without its fix.
 *
 * <p>Layers (one lower, made by root): {@code ro/} 0755 with {@code ro/x} and {@code ro/sub/}; {@code st/} 01777
 * with {@code st/o} and {@code st/sub/} owned by 1001; {@code sd/} 03777; {@code sg1}, {@code sg2} 02664 owned by
 * 1000:100; {@code dacl/} 0777 with the default ACL {@code u::rwx,g::rwx,g:100:r-x,m::rwx,o::---}; {@code sgd/}
 * 02777 root:100; {@code su} 04755, {@code pl} 0600, {@code f} 0644, {@code lg} and {@code lg.1} 0600 (root's);
 * {@code x1/} and {@code x2/} 0777 holding {@code x1/mine/} (1000's) and {@code x2/theirs/} (root's, 0755);
 * {@code pl} and {@code f} carry user.x, {@code f} trusted.t too; {@code sl} is a symlink to {@code f}.
 */
class NonRootRulesTest {
    @BeforeAll
    static void facilities() throws Exception {
        Facilities.requireRootAndKernelOverlay();
        Facilities.requireFuse();
    }

    private static final Op.Caller CALLER = new Op.Caller(1000, 1000, List.of(1001));

    private static Op as(Op op) { return new Op.As(CALLER, op); }

    private static List<Op> script(String name) {
        return switch (name) {
            // may_delete: write+search on the directory, then the sticky rule, and only then the victim's type
            case "removeChecksDirBeforeType" -> List.of(as(new Op.Rmdir("/ro/x")), as(new Op.Unlink("/ro/sub")),
                    as(new Op.Rmdir("/st/o")), as(new Op.Unlink("/st/sub")));
            // xattr_permission: user.* of a sticky directory only for its owner, before the mode is looked at
            case "stickyDirUserXattrOwnerOnly" -> List.of(as(new Op.SetXattr("/sd", "user.x", "v", 0)),
                    as(new Op.RemoveXattr("/sd", "user.x")), as(new Op.SetXattr("/st", "user.x", "v", 0)));
            // set or remove of an access ACL by an owner outside the group clears set-group-ID (and a removal of
            // none then succeeds, on the copy up that made)
            case "aclChangeClearsSetgid" -> List.of(as(new Op.SetAcl("/sg1", false, "u::rw-,g::rw-,o::r--")),
                    as(new Op.SetAcl("/sg2", false, "")));
            // the default ACL's mask and "other" stand on a set-group-ID file root makes under it
            case "defaultAclKeptForSetidCreate" -> List.of(new Op.Create("/dacl/n", 02755, 9, 1),
                    new Op.Mkdir("/dacl/d", 0775), new Op.Create("/dacl/d/n", 04755, 3, 2));
            // mode_strip_sgid: a group-executable set-group-ID file made in a set-group-ID directory by a caller
            // outside its group is not set-group-ID (empty: a write would clear it anyway)
            case "setgidStrippedOutsideGroup" -> List.of(as(new Op.Create("/sgd/a", 02755, 0, 3)),
                    as(new Op.Create("/sgd/b", 02745, 0, 4)));
            // chown(f, -1, -1) by a stranger: EPERM when set-id bits would go, else a copy-up and a new ctime
            case "chownNoneByStranger" -> List.of(as(new Op.Chown("/su", -1, -1)), as(new Op.Chown("/pl", -1, -1)));
            // the default ACL of a non-directory: removing it is a success for anyone, with no copy-up
            case "removeDefaultAclOfFile" -> List.of(as(new Op.RemoveXattr("/f", "system.posix_acl_default")),
                    new Op.RemoveXattr("/pl", "system.posix_acl_default"));
            // rename(RENAME_EXCHANGE) of two directories across parents needs write permission on both
            case "exchangeNeedsWriteOnBothDirs" -> List.of(as(new Op.Rename("/x1/mine", "/x2/theirs",
                    org.overlayj.sys.Linux.RENAME_EXCHANGE)));
            // link(2): EEXIST for a taken name before fs.protected_hardlinks refuses a file one may not write
            case "linkTakenNameBeforeProtectedHardlinks" -> List.of(as(new Op.Link("/lg", "/lg.1")),
                    as(new Op.LinkGroup("/lg", 2)));
            // xattr_permission on reads: user.* needs read permission (EACCES), and is ENODATA where it cannot be
            // (a symlink); trusted.* is ENODATA to a caller without CAP_SYS_ADMIN
            case "getxattrChecksRead" -> List.of(as(new Op.GetXattr("/pl", "user.x")),
                    as(new Op.GetXattr("/f", "user.x")), as(new Op.GetXattr("/sl", "user.x")),
                    as(new Op.GetXattr("/f", "trusted.t")));
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static LayerSet[] layers(Path root) throws Exception {
        LayerSet proto = new LayerSet(root.resolve("proto"));
        for (Path p : List.of(proto.lower1(), proto.lower2(), proto.upper(), proto.work())) Files.createDirectories(p);
        LayerSet.run("sh", "-c", "cd " + proto.lower2() + " && mkdir ro st sd dacl sgd x1 x2 x1/mine x2/theirs"
                + " && echo x > ro/x && mkdir ro/sub && chmod 0755 ro"
                + " && echo o > st/o && mkdir st/sub && chown 1001:1001 st/o st/sub && chmod 01777 st && chmod 03777 sd"
                + " && echo g > sg1 && echo g > sg2 && chown 1000:100 sg1 sg2 && chmod 02664 sg1 sg2"
                + " && chmod 0777 dacl && setfacl -d -m u::rwx,g::rwx,g:100:r-x,m::rwx,o::--- dacl"
                + " && chown 0:100 sgd && chmod 02777 sgd"
                + " && echo s > su && chmod 04755 su && echo p > pl && chmod 0600 pl && echo f > f && chmod 0644 f"
                + " && echo l > lg && chmod 0600 lg && ln lg lg.1"
                + " && chmod 0777 x1 x2 && chown 1000:1000 x1/mine && chmod 0755 x2/theirs"
                + " && setfattr -n user.x -v secret pl && setfattr -n user.x -v open f && setfattr -n trusted.t -v t f"
                + " && ln -s f sl && touch -h -d 2001-01-01 ro/x st/o sg1 sg2 su pl f lg sl");
        return new LayerSet[] {proto.copyTo(root.resolve("A")), proto.copyTo(root.resolve("B"))};
    }

    private static final String[] CASES = {"removeChecksDirBeforeType", "stickyDirUserXattrOwnerOnly",
            "aclChangeClearsSetgid", "defaultAclKeptForSetidCreate", "setgidStrippedOutsideGroup",
            "chownNoneByStranger", "removeDefaultAclOfFile", "exchangeNeedsWriteOnBothDirs",
            "linkTakenNameBeforeProtectedHardlinks", "getxattrChecksRead"};

    private static void check(String name, List<Op> script, DifferentialRunner.TargetFactory candidate,
                              String candidateName) throws Exception {
        Path base = Path.of(System.getProperty("overlayj.testRoot", "/tmp"));
        DifferentialRunner.requireSearchableByAll(base);
        Path root = Files.createTempDirectory(base, "nonroot-");
        try {
            org.overlayj.sys.Linux.chmod(root.toString(), 0755);   // the caller reaches the mount points
            LayerSet[] ab = layers(root);
            DifferentialRunner r = new DifferentialRunner(candidate, candidateName,
                    new DifferentialRunner.Settings(30, DifferentialRunner.Mix.PLAIN, false, false));
            DifferentialRunner.Run run = r.runScript(MountConfig.DEFAULT, root, ab[0], ab[1], script, true);
            assertNull(run.mismatch(), () -> name + ":\n" + String.join("\n", run.lines()) + "\n" + run.mismatch().what());
        } finally {
            Cleanup.removeTree(root);
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.FieldSource("CASES")
    void engineAgreesWithKernel(String name) throws Exception {
        check(name, script(name), DifferentialRunner.ENGINE, "overlayj");
    }

    /**
     * Every case in one session through the FUSE door (they touch different files), one mount instead of nine:
     * the kernel checks most of these rules on the FUSE mount itself (default_permissions) before the door is
     * asked; chown(f, -1, -1) of a set-id file by a stranger is the door's own to refuse.
     */
    @Test
    void fuseAgreesWithKernel() throws Exception {
        List<Op> all = new java.util.ArrayList<>();
        for (String name : CASES) all.addAll(script(name));
        check("all cases", all, FuseTarget.FACTORY, "fuse");
    }
}
