package org.overlayj.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.overlayj.core.config.OverlayOptions.Fsync;
import org.overlayj.core.config.OverlayOptions.RedirectDir;
import org.overlayj.core.config.OverlayOptions.Uuid;
import org.overlayj.core.config.OverlayOptions.Xino;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;

/** The option syntax and rules of the kernel's params.c, as the format doc §1, §6.1, §7, §8 state them. */
class MountOptionsTest {
    static final ModuleDefaults HERE = ModuleDefaults.BUILTIN;   // index=N nfs_export=N metacopy=N redirect_dir=N
    static final String UPPER = "lowerdir=/l,upperdir=/u,workdir=/w";

    static MountOptions.Parsed parse(String s) throws ErrnoException {
        return MountOptions.parse(s, "/cwd", HERE);
    }

    static OverlayOptions o(String s) throws ErrnoException {
        return parse(s).overlay();
    }

    static void refused(String s, String message) {
        ErrnoException e = assertThrows(ErrnoException.class, () -> parse(s));
        assertEquals(Errno.EINVAL, e.errno(), e.getMessage());
        assertEquals(message, e.detail());
    }

    @Nested class Defaults {
        @Test void withUpperEverythingIsTheModuleDefault() throws Exception {
            OverlayOptions o = o(UPPER);
            assertEquals(List.of("/l"), o.lowerDirs());
            assertEquals("/u", o.upperDir());
            assertEquals("/w", o.workDir());
            assertEquals(RedirectDir.FOLLOW, o.redirectDir(), "redirect_dir=N + redirect_always_follow=Y");
            assertFalse(o.index());
            assertFalse(o.nfsExport());
            assertFalse(o.metacopy());
            assertEquals(Uuid.AUTO, o.uuid());
            assertEquals(Xino.OFF, o.xino(), "xino_auto=N");
            assertFalse(o.userxattr());
            assertFalse(o.volatileMode());
            assertEquals(Fsync.AUTO, o.fsync());
            assertTrue(o.overrideCreds());
            assertEquals("trusted.overlay.", o.xattrPrefix());
        }

        @Test void redirectAlwaysFollowOffGivesNofollow() throws Exception {
            ModuleDefaults d = new ModuleDefaults(false, false, false, false, false, false);
            assertEquals(RedirectDir.NOFOLLOW, MountOptions.parse(UPPER, "/", d).overlay().redirectDir());
            assertEquals(RedirectDir.NOFOLLOW,
                    MountOptions.parse(UPPER + ",redirect_dir=off", "/", d).overlay().redirectDir());
        }

        @Test void moduleDefaultsOnAreHonoured() throws Exception {
            ModuleDefaults d = new ModuleDefaults(true, true, true, false, false, true);
            OverlayOptions o = MountOptions.parse(UPPER, "/", d).overlay();
            assertEquals(RedirectDir.ON, o.redirectDir());
            assertTrue(o.index());
            assertEquals(Xino.AUTO, o.xino());
        }

        @Test void lowerOnlyShowsFollowAsOn() throws Exception {
            // the kernel folds follow into on without an upper (E6 l: "redirect_dir=on" in /proc/mounts)
            assertEquals(RedirectDir.ON, o("lowerdir=/a:/b").redirectDir());
            assertEquals("lowerdir=/a:/b,redirect_dir=on", o("lowerdir=/a:/b").show(HERE, true));
        }

        @Test void showMatchesProcMounts() throws Exception {
            assertEquals("lowerdir=/l,upperdir=/u,workdir=/w", o(UPPER).show(HERE, true));
            assertEquals("lowerdir=/l,upperdir=/u,workdir=/w,index=on,nfs_export=on",
                    o(UPPER + ",nfs_export=on").show(HERE, true));
            assertEquals("lowerdir=/l,upperdir=/u,workdir=/w,fsync=volatile", o(UPPER + ",volatile").show(HERE, true));
        }
    }

    @Nested class EveryOption {
        @Test void redirectDir() throws Exception {
            assertEquals(RedirectDir.ON, o(UPPER + ",redirect_dir=on").redirectDir());
            assertEquals(RedirectDir.FOLLOW, o(UPPER + ",redirect_dir=follow").redirectDir());
            assertEquals(RedirectDir.NOFOLLOW, o(UPPER + ",redirect_dir=nofollow").redirectDir());
            assertEquals(RedirectDir.FOLLOW, o(UPPER + ",redirect_dir=off").redirectDir());
            refused(UPPER + ",redirect_dir=yes", "overlay: Bad value for 'redirect_dir'");
        }

        @Test void index() throws Exception {
            assertTrue(o(UPPER + ",index=on").index());
            assertFalse(o(UPPER + ",index=off").index());
            refused(UPPER + ",index", "overlay: Bad value for 'index'");
            refused(UPPER + ",index=maybe", "overlay: Bad value for 'index'");
        }

        @Test void nfsExportTurnsIndexOn() throws Exception {
            OverlayOptions o = o(UPPER + ",nfs_export=on");
            assertTrue(o.nfsExport());
            assertTrue(o.index(), "defaulted index is switched on by nfs_export (§6.1)");
            assertFalse(o(UPPER + ",nfs_export=off").nfsExport());
        }

        @Test void uuid() throws Exception {
            for (Uuid u : Uuid.values()) {
                assertEquals(u, o(UPPER + ",uuid=" + u.name().toLowerCase()).uuid());
            }
            refused(UPPER + ",uuid=yes", "overlay: Bad value for 'uuid'");
        }

        @Test void xino() throws Exception {
            assertEquals(Xino.ON, o(UPPER + ",xino=on").xino());
            assertEquals(Xino.AUTO, o(UPPER + ",xino=auto").xino());
            assertEquals(Xino.OFF, o(UPPER + ",xino=off").xino());
        }

        @Test void metacopyOnTurnsRedirectDirOn() throws Exception {
            assertFalse(o(UPPER + ",metacopy=off").metacopy());
            OverlayOptions on = o(UPPER + ",metacopy=on");
            assertTrue(on.metacopy());
            assertEquals(OverlayOptions.RedirectDir.ON, on.redirectDir());
        }

        @Test void userxattr() throws Exception {
            OverlayOptions o = o(UPPER + ",userxattr");
            assertTrue(o.userxattr());
            assertEquals("user.overlay.", o.xattrPrefix());
            refused(UPPER + ",userxattr=1", "overlay: Unexpected value for 'userxattr'");
        }

        @Test void volatileAndFsync() throws Exception {
            assertTrue(o(UPPER + ",volatile").volatileMode());
            assertEquals(Fsync.VOLATILE, o(UPPER + ",fsync=volatile").fsync());
            assertTrue(o(UPPER + ",fsync=volatile").volatileMode());
            assertEquals(Fsync.STRICT, o(UPPER + ",fsync=strict").fsync());
            assertFalse(o(UPPER + ",volatile,fsync=auto").volatileMode(), "the last one wins");
            refused(UPPER + ",fsync", "overlay: Bad value for 'fsync'");
        }

        @Test void volatileWithoutUpperIsIgnored() throws Exception {
            MountOptions.Parsed p = parse("lowerdir=/a:/b,volatile");
            assertFalse(p.overlay().volatileMode());
            assertEquals(List.of("option \"volatile\" is meaningless in a non-upper mount, ignoring it."), p.warnings());
        }

        @Test void defaultPermissionsIsOverlayAndGeneric() throws Exception {
            MountOptions.Parsed p = parse(UPPER + ",default_permissions");
            assertTrue(p.overlay().defaultPermissions());
            assertEquals(List.of("default_permissions"), p.generic());
        }

        @Test void overrideCreds() throws Exception {
            assertTrue(o(UPPER + ",override_creds").overrideCreds());
            assertFalse(o(UPPER + ",nooverride_creds").overrideCreds());
            refused(UPPER + ",override_creds=1", "overlay: Unexpected value for 'override_creds'");
        }

        @Test void verity() throws Exception {
            o(UPPER + ",verity=off");
            refused(UPPER + ",verity=on", "verity=on is not supported by overlayj yet");
            refused(UPPER + ",verity=require", "verity=require is not supported by overlayj yet");
        }

        @Test void newApiLayersRefusedByName() {
            refused(UPPER + ",lowerdir+=/x", "lowerdir+ is not supported by overlayj yet");
            refused(UPPER + ",datadir+=/x", "datadir+ is not supported by overlayj yet");
        }

        @Test void unknownOptionsAreRefusedLikeTheKernel() {
            refused(UPPER + ",foo", "overlay: Unknown parameter 'foo'");
            refused(UPPER + ",INDEX=on", "overlay: Unknown parameter 'INDEX'");
            refused(UPPER + ",allow_other=1", "overlay: Unknown parameter 'allow_other'");
        }

        @Test void layerOptionsNeedAValue() {
            refused("lowerdir", "overlay: Bad value for 'lowerdir'");
            refused("lowerdir=/a,upperdir", "overlay: Bad value for 'upperdir'");
            refused("lowerdir=/a,upperdir=", "overlay: Bad value for 'upperdir'");
            refused("lowerdir=/a,upperdir=/u,workdir=", "overlay: Bad value for 'workdir'");
        }

        /** containers/storage's forms: a quoted SELinux context with a comma inside, fuse-overlayfs's fsync=0. */
        @Test void containerEngineForms() throws Exception {
            MountOptions.Parsed p = parse(UPPER + ",,context=\"system_u:object_r:container_file_t:s0:c1,c2\",nodev,"
                    + "noxattrs=0,xattr_permissions=0,fsync=0");
            assertEquals(List.of("context=\"system_u:object_r:container_file_t:s0:c1,c2\"", "nodev", "noxattrs=0",
                    "xattr_permissions=0"), p.generic());
            assertTrue(p.overlay().volatileMode(), "fsync=0: no syncs");
            assertFalse(parse(UPPER + ",fsync=1").overlay().volatileMode());
            // quotes only group inside a context option
            refused(UPPER + ",\"a,b\"", "overlay: Unknown parameter '\"a'");
        }

        @Test void genericOptionsAreSetApart() throws Exception {
            String g = "ro,rw,fsname=x,subtype=ovj,allow_other,allow_root,noatime,relatime,nodev,nosuid,noexec,dev,"
                    + "suid,exec,max_read=131072,squash_to_root,squash_to_uid=1,squash_to_gid=2,static_nlink,noacl,"
                    + "plugins=a,threaded=1,fast_ino=1,writeback=1,context=system_u:object_r:tmp_t:s0";
            MountOptions.Parsed p = parse(UPPER + "," + g);
            assertEquals(List.of(g.split(",", -1)).subList(0, 25).size(), 25);
            assertEquals(25, p.generic().size());
            assertEquals("context=system_u:object_r:tmp_t:s0", p.generic().getLast());
            assertEquals(o(UPPER), p.overlay());
            assertFalse(p.readOnlyRequested(), "rw after ro");
            assertTrue(parse(UPPER + ",ro").readOnlyRequested());
        }

        @Test void emptyOptionsAndEmptyKeysAreSkipped() throws Exception {
            assertEquals(o(UPPER), o(",," + UPPER + ",,=x,"));
        }

        @Test void explicitRecordsOrder() throws Exception {
            assertEquals(List.of("upperdir", "index", "workdir", "lowerdir"),
                    o("upperdir=/u,index=off,workdir=/w,lowerdir=/l").explicit());
        }
    }

    @Nested class Escaping {
        @Test void escapedColonStaysInTheName() throws Exception {
            OverlayOptions o = o("lowerdir=/lo\\:wer:/b");
            assertEquals(List.of("/lo:wer", "/b"), o.lowerDirs());
            assertEquals(List.of("/lo\\:wer", "/b"), o.given().lowerDirs(), "the kernel quotes the escaped form");
        }

        @Test void escapedCommaDoesNotSplit() throws Exception {
            OverlayOptions o = o("lowerdir=/a\\,b:/c,upperdir=/u\\,v,workdir=/w");
            assertEquals(List.of("/a,b", "/c"), o.lowerDirs());
            assertEquals("/u,v", o.upperDir());
        }

        @Test void exactlyOneLevelOfBackslashesIsRemoved() throws Exception {
            assertEquals(List.of("/a\\b", "/c"), o("lowerdir=/a\\\\b:/c").lowerDirs());
            assertEquals("/x\\", o("lowerdir=/a:/c,upperdir=/x\\\\,workdir=/w").upperDir());
            assertEquals("/uq", o("lowerdir=/a,upperdir=/u\\q,workdir=/w").upperDir());
        }

        @Test void relativePathsResolveAgainstTheCurrentDirectory() throws Exception {
            OverlayOptions o = o("lowerdir=l1:../l2,upperdir=u,workdir=./w");
            assertEquals(List.of("/cwd/l1", "/cwd/../l2"), o.lowerDirs());
            assertEquals("/cwd/u", o.upperDir());
            assertEquals("/cwd/./w", o.workDir());
            assertEquals("u", o.given().upperDir());
        }

        @Test void bytesOutsideAsciiRoundTrip() throws Exception {
            String name = org.overlayj.sys.Linux.fromUtf8("/lö:wer");
            String esc = name.replace(":", "\\:");
            assertEquals(List.of(name, "/x"), o("lowerdir=" + esc + ":/x").lowerDirs());
        }
    }

    @Nested class ColonSyntax {
        @Test void trailingColon() {
            refused("lowerdir=/a:", "unescaped trailing colons in lowerdir mount option.");
            refused("lowerdir=/a::", "unescaped trailing colons in lowerdir mount option.");
        }

        @Test void tripleColon() {
            refused("lowerdir=/a:::/b",
                    "only single ':' or double '::' sequences of unescaped colons in lowerdir mount option allowed.");
        }

        @Test void leadingColon() {
            refused("lowerdir=:/a", "cannot append lower layer");
            refused("lowerdir=::/a", "cannot append lower layer");
        }

        @Test void regularAfterData() {
            refused("lowerdir=/a::/b:/c", "regular lower layers cannot follow data lower layers");
        }

        @Test void dataOnlyLayersFollowTheDoubleColon() throws Exception {
            OverlayOptions o = o("lowerdir=/a::/b");
            assertEquals(List.of("/a"), o.lowerDirs());
            assertEquals(List.of("/b"), o.dataDirs());
            o = o("lowerdir=/a:/x::/b::c");
            assertEquals(List.of("/a", "/x"), o.lowerDirs());
            assertEquals(List.of("/b", "/cwd/c"), o.dataDirs());
            assertTrue(o.show(HERE, true).startsWith("lowerdir=/a:/x::/b::c,"), o.show(HERE, true));
            assertEquals(List.of(), o("lowerdir=/a").dataDirs());
        }

        @Test void tooManyLayers() {
            String many = "lowerdir=" + "/x:".repeat(500) + "/x";
            refused(many, "too many lower directories, limit is 500");
        }

        @Test void fiveHundredAreFine() throws Exception {
            assertEquals(500, o("lowerdir=" + "/x:".repeat(499) + "/x").lowerDirs().size());
        }

        @Test void emptyLowerdirDropsTheLayersGivenSoFar() throws Exception {
            assertEquals(List.of(), o("lowerdir=/a:/b,lowerdir=").lowerDirs());
            assertEquals(List.of("/c"), o("lowerdir=/a:/b,lowerdir=/c,upperdir=/u,workdir=/w").lowerDirs());
        }
    }

    @Nested class ConflictRules {
        @Test void nfsExportWithExplicitIndexOff() {
            refused(UPPER + ",index=off,nfs_export=on", "conflicting options: nfs_export=on,index=off");
            refused(UPPER + ",nfs_export=on,index=off", "conflicting options: nfs_export=on,index=off");
        }

        @Test void nfsExportWithDefaultedIndexOffTurnsItOn() throws Exception {
            assertTrue(o(UPPER + ",nfs_export=on").index());
        }

        @Test void explicitIndexOffWithDefaultNfsExportOnDisablesNfsExport() throws Exception {
            ModuleDefaults d = new ModuleDefaults(false, true, false, true, false, false);
            MountOptions.Parsed p = MountOptions.parse(UPPER + ",index=off", "/", d);
            assertFalse(p.overlay().nfsExport());
            assertEquals(List.of("disabling nfs_export due to index=off"), p.warnings());
            assertTrue(MountOptions.parse(UPPER, "/", d).overlay().index(), "defaulted: index switched on");
        }

        @Test void nfsExportAndMetacopyBothExplicit() {
            refused(UPPER + ",metacopy=on,nfs_export=on", "conflicting options: nfs_export=on,metacopy=on");
        }

        @Test void metacopyDefaultOnIsDroppedByExplicitNfsExport() throws Exception {
            ModuleDefaults d = new ModuleDefaults(false, true, false, false, true, false);
            MountOptions.Parsed p = MountOptions.parse(UPPER + ",nfs_export=on", "/", d);
            assertFalse(p.overlay().metacopy());
            assertTrue(p.overlay().nfsExport());
            assertTrue(p.warnings().contains("disabling metacopy due to nfs_export=on"));
        }

        @Test void metacopyNeedsRedirectOn() {
            refused(UPPER + ",metacopy=on,redirect_dir=nofollow", "conflicting options: metacopy=on,redirect_dir=nofollow");
            refused(UPPER + ",metacopy=on,redirect_dir=off", "conflicting options: metacopy=on,redirect_dir=follow");
        }

        @Test void metacopyDefaultOnIsDroppedByExplicitRedirect() throws Exception {
            ModuleDefaults d = new ModuleDefaults(false, true, false, false, true, false);
            MountOptions.Parsed p = MountOptions.parse(UPPER + ",redirect_dir=follow", "/", d);
            assertFalse(p.overlay().metacopy());
            assertEquals(List.of("disabling metacopy due to redirect_dir=follow"), p.warnings());
        }

        @Test void metacopyDefaultOnTurnsRedirectOnWhenDefaulted() throws Exception {
            ModuleDefaults d = new ModuleDefaults(false, true, false, false, true, false);
            OverlayOptions o = MountOptions.parse(UPPER, "/", d).overlay();
            assertTrue(o.metacopy());
            assertEquals(OverlayOptions.RedirectDir.ON, o.redirectDir());
        }

        @Test void nfsExportOnLowerOnlyNeedsNofollow() throws Exception {
            MountOptions.Parsed p = parse("lowerdir=/a:/b,nfs_export=on");
            assertFalse(p.overlay().nfsExport());
            assertEquals(List.of("NFS export requires \"redirect_dir=nofollow\" on non-upper mount, falling back to "
                    + "nfs_export=off."), p.warnings());
            OverlayOptions ok = o("lowerdir=/a:/b,nfs_export=on,redirect_dir=nofollow");
            assertTrue(ok.nfsExport());
            // like the kernel, parsing turns index on for nfs_export even here; the mount checks turn it off again
            // (it matters in between: it makes a null-uuid lower acceptable, §5.8)
            assertTrue(ok.index());
        }

        @Test void nonUpperMountIgnoresWorkdirIndexAndUuidOn() throws Exception {
            MountOptions.Parsed p = parse("lowerdir=/a:/b,workdir=/w,index=on,uuid=on");
            assertNull(p.overlay().workDir());
            assertFalse(p.overlay().index());
            assertEquals(Uuid.NULL, p.overlay().uuid());
            assertEquals(List.of("option \"workdir=/w\" is useless in a non-upper mount, ignore",
                    "option \"index=on\" is useless in a non-upper mount, ignore",
                    "option \"uuid=on\" requires an upper fs, falling back to uuid=null."), p.warnings());
        }
    }

    /** Checklist item 26, the option part: userxattr. */
    @Nested class Checklist26UserxattrOptions {
        @Test void forcesRedirectNofollowAndMetacopyOff() throws Exception {
            OverlayOptions o = o(UPPER + ",userxattr");
            assertEquals(RedirectDir.NOFOLLOW, o.redirectDir());
            assertFalse(o.metacopy());
            assertEquals("user.overlay.", o.xattrPrefix());
        }

        @Test void explicitRedirectOtherThanNofollowConflicts() throws Exception {
            refused(UPPER + ",userxattr,redirect_dir=on", "conflicting options: userxattr,redirect_dir=on");
            refused(UPPER + ",redirect_dir=follow,userxattr", "conflicting options: userxattr,redirect_dir=follow");
            refused(UPPER + ",userxattr,redirect_dir=off", "conflicting options: userxattr,redirect_dir=follow");
            assertEquals(RedirectDir.NOFOLLOW, o(UPPER + ",userxattr,redirect_dir=nofollow").redirectDir());
        }

        @Test void explicitMetacopyOnConflicts() {
            refused(UPPER + ",userxattr,metacopy=on", "conflicting options: userxattr,metacopy=on");
        }

        @Test void indexNfsExportAndUuidStillWork() throws Exception {
            OverlayOptions o = o(UPPER + ",userxattr,nfs_export=on,uuid=on");
            assertTrue(o.index());
            assertTrue(o.nfsExport());
            assertEquals(Uuid.ON, o.uuid());
        }

        @Test void moduleDefaultsAreDroppedSilently() throws Exception {
            ModuleDefaults d = new ModuleDefaults(true, true, false, false, true, false);
            MountOptions.Parsed p = MountOptions.parse(UPPER + ",userxattr", "/", d);
            assertEquals(RedirectDir.NOFOLLOW, p.overlay().redirectDir());
            assertFalse(p.overlay().metacopy());
            assertEquals(List.of(), p.warnings());
        }
    }
}
