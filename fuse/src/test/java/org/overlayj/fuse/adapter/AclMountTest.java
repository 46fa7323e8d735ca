package org.overlayj.fuse.adapter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.overlayj.core.Overlay;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.fuse.FuseInit;
import org.overlayj.fuse.FuseMountOptions;
import org.overlayj.fuse.FuseServer;
import org.overlayj.fuse.TestMounts;
import org.overlayj.sys.Linux;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * POSIX ACLs through the FUSE door, compared with the kernel overlay (xfstests overlay/025 and more): non-root
 * callers (uid 1000 with and without supplementary group 2000) list, read, write and create under access and default
 * ACLs of lower objects, root changes ACLs through the mount, and the modes and ACLs of what was made are compared.
 * The kernel checks the ACLs itself (POSIX_ACL): a mode-0 directory an ACL opens must list, a readable file an ACL
 * closes must not read.
 */
class AclMountTest {
    private Path dir, lower, mnt, kmnt;
    private Overlay overlay;
    private FuseServer server;

    @BeforeEach void mount() throws Exception {
        TestMounts.requireFuse();
        dir = TestMounts.tempDir();
        Linux.chmod(dir.toString(), 0755);            // uid 1000 reaches the mount points
        lower = Files.createDirectory(dir.resolve("lower"));
        for (String d : List.of("u1", "w1", "u2", "w2", "mnt", "kmnt")) Files.createDirectory(dir.resolve(d));
        mnt = dir.resolve("mnt");
        kmnt = dir.resolve("kmnt");
        TestMounts.sh("sh", "-c", String.join(" && ", "cd " + lower,
                "mkdir d0 && touch d0/x && chmod 0 d0 && setfacl -m u:1000:rx d0",
                "echo secret > f && chmod 644 f && setfacl -m u:1000:--- f",
                "echo g > g && chmod 600 g && setfacl -m g:2000:rw g",
                "echo m > m && setfacl -m u:1000:rwx,m::r m",
                "mkdir dd && chmod 755 dd && setfacl -d -m u:1001:rwx,g::r dd && setfacl -m u:1000:rwx dd",
                "echo w > dd/wo && mkdir dd/wd",
                "mkdir pd && chmod 777 pd",
                "echo s > sg && chown 1000:2000 sg && chmod 2775 sg"));
        String opts = "index=on,nfs_export=on,redirect_dir=on";
        overlay = Overlay.mount(OverlayOptions.of(List.of(lower.toString()), dir.resolve("u1").toString(),
                dir.resolve("w1").toString()));
        server = FuseServer.mount(mnt.toString(), FuseMountOptions.defaults("overlay"), new OverlayFileSystem(overlay));
        TestMounts.sh("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower + ",upperdir=" + dir.resolve("u2")
                + ",workdir=" + dir.resolve("w2") + "," + opts, kmnt.toString());
    }

    @AfterEach void unmount() throws Exception {
        try {
            if (server != null) server.close();
            if (overlay != null) overlay.close();
        } finally {
            TestMounts.rc("umount", kmnt.toString());
            TestMounts.cleanup(mnt, dir);
        }
    }

    private static String as(String who, Path m, String... cmds) throws Exception {
        StringBuilder script = new StringBuilder("cd " + m + "; umask 022\n");
        for (String c : cmds) script.append("if ").append(c).append(" >/dev/null 2>&1; then echo '").append(c)
                .append(": ok'; else echo '").append(c).append(": failed'; fi\n");
        return TestMounts.sh("setpriv", "--reuid=1000", "--regid=1000", who, "sh", "-c", script.toString());
    }

    private static String scenario(Path m) throws Exception {
        String d = m.toString();
        StringBuilder out = new StringBuilder();
        out.append(as("--clear-groups", m, "ls d0", "cat f", "cat g", "cat m", "echo x >> m", "touch dd/new",
                "mkdir dd/nd", "touch pd/new", "mkdir pd/nd", "setfacl -m u:1001:r sg"));
        out.append(as("--groups=2000", m, "cat g", "echo more >> g", "ls d0"));
        // root: a whiteout in dd, then a namesake made over it; ACLs changed through the mount
        TestMounts.sh("sh", "-c", "cd " + d + " && rm dd/wo && rmdir dd/wd && setfacl -m u:1000:r f"
                + " && setfacl -x u:1000 d0 && setfacl -m g:2000:- g && setfacl -d -m u:1000:rw pd");
        out.append(as("--groups=2000", m, "touch dd/wo", "mkdir dd/wd", "cat f", "ls d0", "cat g", "touch pd/acl"));
        out.append(TestMounts.sh("sh", "-c", "cd " + d + " && for f in d0 f g m dd dd/new dd/nd dd/wo dd/wd pd/new"
                + " pd/nd pd/acl sg; do stat -c '%n %A %u:%g' $f; getfacl -cp $f; done"));
        return out.toString();
    }

    @Test void aclsDecideAsOnTheKernelOverlay() throws Exception {
        assertTrue(server.negotiated().has(FuseInit.POSIX_ACL), "negotiated POSIX_ACL");
        String kernel = scenario(kmnt);
        String ours = scenario(mnt);
        assertEquals(kernel, ours);
        assertTrue(kernel.contains("ls d0: ok") && kernel.contains("cat f: failed"), kernel);
        assertTrue(kernel.contains("sg -rwxrwxr-x"), "an ACL set by a non-member clears set-group-ID: " + kernel);
    }
}
