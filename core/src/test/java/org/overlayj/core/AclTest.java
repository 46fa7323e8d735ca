package org.overlayj.core;

import org.junit.jupiter.api.Test;
import org.overlayj.sys.Linux;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * POSIX ACLs in the engine's permission checks (what the NFS door and its ACCESS reply rely on), compared with the
 * kernel overlay: access(2) by three non-root callers on lower objects carrying ACLs, again after root's chmod
 * copied them up (the mask follows the group bits), and the modes and ACLs of objects a non-root caller creates
 * with umask 022 in directories with and without a default ACL (xfstests overlay/025).
 */
class AclTest {
    /** uid, gid, supplementary groups. */
    static final int[][] CALLERS = {{1000, 1000}, {1001, 1001, 2000}, {1002, 1002}};
    static final String[] OBJECTS = {"d0", "f", "g", "masked", "grp", "other", "plain", "dd", "dd/wo", "pd"};

    static final String LOWER = String.join(" && ",
            "mkdir l1/d0 && chmod 0 l1/d0 && touch l1/d0/x && setfacl -m u:1000:rx l1/d0",
            "echo secret > l1/f && chmod 644 l1/f && setfacl -m u:1000:--- l1/f",
            "echo g > l1/g && chmod 600 l1/g && setfacl -m g:2000:rw l1/g",
            "echo m > l1/masked && setfacl -m u:1002:rwx,m::r l1/masked",
            "echo o > l1/grp && chown 0:1001 l1/grp && chmod 604 l1/grp && setfacl -m g:2000:r,g::-,u:1000:rw l1/grp",
            "echo o > l1/other && chmod 0 l1/other && setfacl -m g:1001:rx,o::r l1/other",
            "echo p > l1/plain && chmod 640 l1/plain && chown 0:1001 l1/plain",
            "mkdir l1/dd && chmod 777 l1/dd && setfacl -d -m u:1001:rwx,g::r l1/dd && setfacl -m u:1000:rwx l1/dd",
            "echo w > l1/dd/wo && mkdir l1/pd && chmod 777 l1/pd",
            "chmod 755 .");

    @Test void accessChecksFollowTheAclsAsOnTheKernel() throws Exception {
        try (ChecklistTwin t = new ChecklistTwin(1, LOWER)) {
            // the kernel: access(2) through the mount as each caller
            t.reset();
            t.kernelMount("index=on,nfs_export=on,redirect_dir=on");
            String k1 = kernelAccess(t);
            Layers.sh("cd " + t.L.mnt + " && chmod 0670 f grp && chmod 0755 masked && rm dd/wo");
            String k2 = kernelAccess(t);
            kernelCreate(t);
            t.kernelUmount();
            String kUpper = facls(t.L.upper + "/dd") + facls(t.L.upper + "/pd");

            t.reset();
            String e1, e2;
            try (Overlay o = Overlay.mount(t.options("index=on,nfs_export=on,redirect_dir=on"))) {
                ChecklistTwin.EngineFs fs = new ChecklistTwin.EngineFs(o);
                e1 = engineAccess(o, fs);
                fs.chmod("f", 0670);
                fs.chmod("grp", 0670);
                fs.chmod("masked", 0755);
                fs.unlink("dd/wo");
                e2 = engineAccess(o, fs);
                Creds c = new Creds(1000, 1000, new int[0], 022);
                for (String d : List.of("pd", "dd")) {
                    o.create(fs.walk(d), "new", 0666, c);
                    o.mkdir(fs.walk(d), "nd", 0777, c);
                }
                o.create(fs.walk("dd"), "wo", 0666, c);  // over the whiteout: made aside, then renamed
            }
            String eUpper = facls(t.L.upper + "/dd") + facls(t.L.upper + "/pd");
            assertTrue(k1.contains("d0 1000 r-x") && k1.contains("f 1000 ---") && k1.contains("f 1002 r--"), k1);
            assertEquals(k1, e1, "access before copy-up (kernel vs engine)");
            assertEquals(k2, e2, "access after chmod copied up (kernel vs engine)");
            assertEquals(kUpper, eUpper, "objects made with umask 022 (kernel vs engine)");
        }
    }

    /**
     * A create reads a directory's default ACL once and then remembers that it has none; a default ACL set or removed
     * later (through the engine, as every change of a mounted overlay is) decides the next creates again: 0666 with
     * umask 022 is 0644 without a default ACL, 0666 under "u::rw,g::rw,o::rw" (the umask does not apply), 0644 once
     * it is gone.
     */
    @Test void aDefaultAclSetOrRemovedAfterCreatesDecidesTheNextOnes() throws Exception {
        try (Layers L = new Layers(1)) {
            Layers.sh("cd " + L.root + " && mkdir -m 777 l1/pd");
            byte[] rwAll = java.nio.ByteBuffer.allocate(4 + 3 * 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(2)
                    .putShort((short) Acl.USER_OBJ).putShort((short) 6).putInt(-1)
                    .putShort((short) Acl.GROUP_OBJ).putShort((short) 6).putInt(-1)
                    .putShort((short) Acl.OTHER).putShort((short) 6).putInt(-1).array();
            Creds c = new Creds(1000, 1000, new int[0], 022);
            try (Overlay o = L.mount(false, false)) {
                Node pd = o.lookup(o.root(), "pd", Creds.ROOT);
                o.create(pd, "a", 0666, c);
                o.create(pd, "b", 0666, c);
                o.setxattr(pd, Acl.DEFAULT, rwAll, 0, Creds.ROOT);
                o.create(pd, "c", 0666, c);
                o.removexattr(pd, Acl.DEFAULT, Creds.ROOT);
                o.create(pd, "d", 0666, c);
            }
            assertEquals("a 644\nb 644\nc 666\nd 644\n",
                    Layers.shOut("cd " + L.root + "/upper/pd && stat -c '%n %a' a b c d"));
        }
    }

    /** "OBJECT UID rwx" lines, from bash's test -r/-w/-x (access(2) with the effective ids) as each caller. */
    private static String kernelAccess(ChecklistTwin t) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int[] c : CALLERS) {
            String groups = c.length > 2 ? "--groups=" + c[2] : "--clear-groups";
            StringBuilder script = new StringBuilder("cd " + t.L.mnt + "; for o in");
            for (String o : OBJECTS) script.append(' ').append(o);
            script.append("; do [ -e $o ] || continue; printf '%s %s %s%s%s\\n' $o ").append(c[0])
                    .append(" $([ -r $o ] && echo r || echo -) $([ -w $o ] && echo w || echo -) $([ -x $o ] && echo x || echo -); done");
            sb.append(Layers.shOut("setpriv --reuid=" + c[0] + " --regid=" + c[1] + " " + groups + " bash -c '"
                    + script.toString().replace("'", "'\\''") + "'"));
        }
        return sb.toString();
    }

    private static String engineAccess(Overlay o, ChecklistTwin.EngineFs fs) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int[] c : CALLERS) {
            Creds cr = new Creds(c[0], c[1], c.length > 2 ? new int[] {c[2]} : new int[0]);
            for (String obj : OBJECTS) {
                Node n;
                try {
                    n = fs.walk(obj);
                } catch (org.overlayj.sys.ErrnoException e) {
                    continue;
                }
                sb.append(obj).append(' ').append(c[0]).append(' ')
                        .append(allowed(o, n, Permissions.R, cr) ? 'r' : '-')
                        .append(allowed(o, n, Permissions.W, cr) ? 'w' : '-')
                        .append(allowed(o, n, Permissions.X, cr) ? 'x' : '-').append('\n');
            }
        }
        return sb.toString();
    }

    private static boolean allowed(Overlay o, Node n, int mask, Creds c) throws Exception {
        try {
            o.access(n, mask, c);
            return true;
        } catch (org.overlayj.sys.ErrnoException e) {
            if (e.errno() != org.overlayj.sys.Errno.EACCES) throw e;
            return false;
        }
    }

    /** As uid 1000 with umask 022: a file and a directory in pd (no default ACL) and in dd (one). */
    private static void kernelCreate(ChecklistTwin t) throws Exception {
        Layers.sh("setpriv --reuid=1000 --regid=1000 --clear-groups bash -c 'umask 022; cd " + t.L.mnt
                + " && for d in pd dd; do touch $d/new && mkdir $d/nd; done && touch dd/wo'");
    }

    /** Mode, owner and ACL of what the upper dir {@code dir} holds. */
    private static String facls(String dir) throws Exception {
        return Layers.shOut("cd " + dir + " && for f in $(ls -A | sort); do stat -c '%n %A %u:%g' $f; getfacl -cp $f; done");
    }
}
