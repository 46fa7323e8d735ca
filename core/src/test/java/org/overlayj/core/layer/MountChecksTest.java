package org.overlayj.core.layer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.overlayj.core.config.ModuleDefaults;
import org.overlayj.core.config.MountOptions;
import org.overlayj.core.config.OverlayOptions;
import org.overlayj.core.config.OverlayOptions.RedirectDir;
import org.overlayj.core.config.OverlayOptions.Uuid;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.overlayj.sys.Stat;

/** Mount-time checks that need no kernel mount to judge: overlayj's own state, locks and uuids. */
class MountChecksTest {
    LayerFixture fx;
    String d;

    @BeforeEach void layers() throws Exception {
        LayerFixture.requireKernelOverlay();                 // root: trusted.* xattrs, mounts
        fx = new LayerFixture();
        d = fx.base.toString();
        for (String s : List.of("l1", "l2", "u", "w", "w2", "u2")) LayerFixture.mkdirs(d + "/" + s);
        LayerFixture.touch(d + "/l1/a");
    }

    @AfterEach void cleanup() throws Exception {
        if (fx != null) fx.close();
    }

    OverlayOptions opts(String s) throws ErrnoException {
        return MountOptions.parse(s.replace("$D", d), d, ModuleDefaults.current()).overlay();
    }

    static final String STD = "lowerdir=$D/l1,upperdir=$D/u,workdir=$D/w";

    List<String> tree(String sub) throws ErrnoException {
        return LayerFixture.snapshot(d + "/" + sub, Set.of(), Set.of(), Set.of());
    }

    /** Checklist item 28: work/incompat/volatile/dirty blocks the mount; W/work leftovers two levels deep go. */
    @Nested class Checklist28 {
        @Test void volatileLeavesDirtyAndTheNextMountIsRefused() throws Exception {
            try (LayerStack s = MountChecks.prepare(opts(STD + ",volatile"))) {
                assertTrue(s.options().volatileMode());
            }
            for (String p : List.of("/w/work/incompat", "/w/work/incompat/volatile")) {
                Stat st = Linux.lstat(d + p);
                assertTrue(st.isDir());
                assertEquals(0, st.perm(), p);
            }
            Stat dirty = Linux.lstat(d + "/w/work/incompat/volatile/dirty");
            assertTrue(dirty.isReg());
            assertEquals(0, dirty.perm());

            List<String> before = tree("w");
            ErrnoException e = assertThrows(ErrnoException.class, () -> MountChecks.prepare(opts(STD)));
            assertEquals(Errno.EINVAL, e.errno());
            assertEquals("overlay with incompat feature 'volatile' cannot be mounted", e.detail());
            assertEquals(before, tree("w"), "the refused mount left W as it was");
            // and still refused with volatile again: the dirty file is the user's to remove
            assertThrows(ErrnoException.class, () -> MountChecks.prepare(opts(STD + ",volatile")));
        }

        @Test void anyIncompatFeatureRefusesByName() throws Exception {
            LayerFixture.mkdirs(d + "/w/work/incompat/future");
            ErrnoException e = assertThrows(ErrnoException.class, () -> MountChecks.prepare(opts(STD)));
            assertEquals("overlay with incompat feature 'future' cannot be mounted", e.detail());
        }

        @Test void anEmptyIncompatDirIsJustCleanedUp() throws Exception {
            LayerFixture.mkdirs(d + "/w/work/incompat");
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                assertFalse(s.readOnly());
            }
            assertEquals(List.of(". 4 0"), tree("w/work"));
        }

        @Test void leftoversTwoLevelsDeepAreRemovedAndWorkIsRecreatedMode0000() throws Exception {
            LayerFixture.touch(d + "/w/work/f");
            LayerFixture.touch(d + "/w/work/a/g");
            LayerFixture.mkdirs(d + "/w/work/a/empty");
            LayerFixture.mkdirs(d + "/w/work/e");
            Linux.chmod(d + "/w/work", 0755);
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                assertFalse(s.readOnly());
                assertEquals(d + "/w/work", s.workDir());
                assertEquals(List.of(), s.warnings());
            }
            assertEquals(List.of(". 4 0"), tree("w/work"), "empty, mode 0000");
        }

        @Test void aDeeperNonEmptyTreeMakesTheOverlayReadOnly() throws Exception {
            LayerFixture.touch(d + "/w/work/a/b/c");
            LayerFixture.touch(d + "/w/work/a/g");
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                assertTrue(s.readOnly());
                assertNull(s.workDir());
                assertEquals(List.of("cleanup of 'a/b' failed (-39)", "cleanup of 'work/a' failed (-39)",
                        "cleanup of 'w/work' failed (-39)",
                        "failed to create directory " + d + "/w/work (errno: 17); mounting read-only"),
                        s.warnings());
            }
            assertTrue(LayerPaths.exists(d + "/w/work/a/b/c"), "what is deeper than two levels stays");
            assertFalse(LayerPaths.exists(d + "/w/work/a/g"), "what is two levels deep goes");
        }
    }

    /** Checklist item 26, the mount part: every overlay xattr is user.overlay.* under userxattr. */
    @Nested class Checklist26UserxattrMount {
        @Test void uuidAndProbesUseTheUserNamespace() throws Exception {
            try (LayerStack s = MountChecks.prepare(opts(STD + ",userxattr"))) {
                assertEquals("user.overlay.origin", s.xattr("origin"));
                assertEquals(RedirectDir.NOFOLLOW, s.options().redirectDir());
                assertTrue(s.xattrs());
                assertArrayEquals(s.overlayUuid(), Linux.lgetxattr(d + "/u", "user.overlay.uuid"));
                assertNull(Linux.lgetxattrOrNull(d + "/u", "trusted.overlay.uuid"));
                assertNull(Linux.lgetxattrOrNull(s.workDir(), "user.overlay.opaque"), "probe removed");
            }
        }
    }

    @Nested class ExclusiveUse {
        @Test void withIndexASecondOverlayOfTheSameUpperIsRefused() throws Exception {
            try (LayerStack first = MountChecks.prepare(opts(STD + ",index=on"))) {
                assertEquals(2, first.lock().count(), "upper root and W are held");
                ErrnoException e = assertThrows(ErrnoException.class,
                        () -> MountChecks.prepare(opts("lowerdir=$D/l1,upperdir=$D/u,workdir=$D/w2,index=on")));
                assertEquals(Errno.EBUSY, e.errno());
                assertEquals("upperdir is in-use as upperdir/workdir of another mount, mount with '-o index=off' "
                        + "to override exclusive upperdir protection.", e.detail());

                e = assertThrows(ErrnoException.class,
                        () -> MountChecks.prepare(opts("lowerdir=$D/l1,upperdir=$D/u2,workdir=$D/w,index=on")));
                assertEquals("workdir is in-use as upperdir/workdir of another mount, mount with '-o index=off' "
                        + "to override exclusive upperdir protection.", e.detail());
            }
            // released: the same mount goes through now
            try (LayerStack again = MountChecks.prepare(opts("lowerdir=$D/l1,upperdir=$D/u,workdir=$D/w2,index=on"))) {
                assertEquals(2, again.lock().count());
            }
        }

        @Test void withoutIndexOnlyAWarning() throws Exception {
            try (LayerStack first = MountChecks.prepare(opts(STD));
                 LayerStack second = MountChecks.prepare(opts("lowerdir=$D/l1,upperdir=$D/u,workdir=$D/w2"))) {
                assertEquals(List.of("upperdir is in-use as upperdir/workdir of another mount, accessing files from "
                        + "both mounts will result in undefined behavior."), second.warnings());
                assertEquals(1, second.lock().count(), "only W2 is held by the second");
            }
        }

        @Test void aLowerThatIsAnotherOverlaysUpper() throws Exception {
            try (LayerStack first = MountChecks.prepare(opts("lowerdir=$D/l1,upperdir=$D/l2,workdir=$D/w2"))) {
                ErrnoException e = assertThrows(ErrnoException.class,
                        () -> MountChecks.prepare(opts("lowerdir=$D/l1:$D/l2,upperdir=$D/u,workdir=$D/w,index=on")));
                assertEquals("lowerdir is in-use as upperdir/workdir of another mount, mount with '-o index=off' "
                        + "to override exclusive upperdir protection.", e.detail());
            }
        }

        @Test void closeIsIdempotent() throws Exception {
            LayerStack s = MountChecks.prepare(opts(STD));
            s.close();
            s.close();
            assertEquals(0, s.lock().count());
        }
    }

    @Nested class Uuids {
        @Test void autoOnANewUpperBecomesOnAndPersists() throws Exception {
            byte[] first;
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                assertEquals(Uuid.ON, s.options().uuid());
                first = s.overlayUuid();
                assertArrayEquals(first, Linux.lgetxattr(d + "/u", "trusted.overlay.uuid"));
                assertEquals(0x40, first[6] & 0xf0, "a random (version 4) uuid");
            }
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                assertEquals(Uuid.AUTO, s.options().uuid(), "found, so left at auto (not shown in /proc/mounts)");
                assertArrayEquals(first, s.overlayUuid());
            }
        }

        @Test void autoOnAnOldUpperBecomesNull() throws Exception {
            Linux.lsetxattr(d + "/u", "trusted.overlay.impure", new byte[] {'y'}, 0);
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                assertEquals(Uuid.NULL, s.options().uuid());
                assertArrayEquals(new byte[16], s.overlayUuid());
            }
            assertNull(Linux.lgetxattrOrNull(d + "/u", "trusted.overlay.uuid"));
        }

        @Test void nullAndOffWriteNothing() throws Exception {
            for (String u : List.of("null", "off")) {
                try (LayerStack s = MountChecks.prepare(opts(STD + ",uuid=" + u))) {
                    assertArrayEquals(new byte[16], s.overlayUuid());
                }
                assertNull(Linux.lgetxattrOrNull(d + "/u", "trusted.overlay.uuid"));
            }
        }

        @Test void layerUuidIsTheFilesystemUuidAndZerosUnderUuidOff() throws Exception {
            fx.tmpfs(LayerFixture.mkdirs(d + "/t"), false);
            byte[] tmpfsUuid = FsIdentity.fsUuid(d + "/t");
            assertFalse(java.util.Arrays.equals(new byte[16], tmpfsUuid), "tmpfs publishes a random uuid");
            try (LayerStack s = MountChecks.prepare(opts("lowerdir=$D/t:$D/l1,upperdir=$D/u,workdir=$D/w"))) {
                assertArrayEquals(tmpfsUuid, s.lowers().get(0).uuid());
                assertArrayEquals(FsIdentity.fsUuid(d), s.lowers().get(1).uuid());
                assertEquals(1, s.lowers().get(0).fsid());
                assertEquals(0, s.lowers().get(1).fsid(), "a lower on the upper fs shares fsid 0");
                assertFalse(s.samefs());
            }
            try (LayerStack s = MountChecks.prepare(opts(STD + ",uuid=off"))) {
                assertArrayEquals(new byte[16], s.lowers().getFirst().uuid());
                assertArrayEquals(new byte[16], s.upper().uuid());
                assertTrue(s.samefs());
            }
        }
    }

    @Nested class StackShape {
        @Test void layersAndDirectories() throws Exception {
            try (LayerStack s = MountChecks.prepare(opts("lowerdir=$D/l1:$D/l2,upperdir=$D/u,workdir=$D/w"))) {
                assertEquals(0, s.upper().index());
                assertTrue(s.upper().upper());
                assertEquals(d + "/u", s.upper().root());
                assertEquals(List.of(1, 2), s.lowers().stream().map(Layer::index).toList());
                assertEquals(d + "/w", s.workBase());
                assertEquals(d + "/w/work", s.workDir());
                assertNull(s.indexDir());
                assertEquals(s.workDir(), s.scratchDir());
                assertEquals("trusted.overlay.origin", s.xattr("origin"));
                assertTrue(s.tmpfile());
                assertTrue(s.renameWhiteout());
                assertTrue(s.dType());
                assertFalse(s.readOnly());
                assertEquals(Linux.stat(d + "/u").dev(), s.upper().dev());
                assertTrue(s.upper().fileHandles());
            }
        }

        @Test void indexDirIsCreatedMode0000AndItsHashEntriesGo() throws Exception {
            try (LayerStack s = MountChecks.prepare(opts(STD + ",index=on"))) {
                assertEquals(d + "/w/index", s.indexDir());
                assertEquals(s.indexDir(), s.scratchDir());
                assertEquals(0, Linux.lstat(s.indexDir()).perm());
            }
            LayerFixture.touch(d + "/w/index/#7");
            LayerFixture.touch(d + "/w/index/#8/x");
            LayerFixture.touch(d + "/w/index/00fb1d0001");
            try (LayerStack s = MountChecks.prepare(opts(STD + ",index=on"))) {
                assertFalse(LayerPaths.exists(d + "/w/index/#7"));
                assertFalse(LayerPaths.exists(d + "/w/index/#8"));
                assertTrue(LayerPaths.exists(d + "/w/index/00fb1d0001"), "index entries are the index code's");
            }
        }

        @Test void lowerOnly() throws Exception {
            try (LayerStack s = MountChecks.prepare(opts("lowerdir=$D/l1:$D/l2"))) {
                assertNull(s.upper());
                assertTrue(s.readOnly());
                assertNull(s.workDir());
                assertNull(s.scratchDir());
                assertEquals(0, s.lock().count());
            }
        }

        @Test void relativePathsAreResolvedAgainstTheGivenDirectory() throws Exception {
            OverlayOptions o = MountOptions.parse("lowerdir=l1,upperdir=u,workdir=./w", d + "/l2/..",
                    ModuleDefaults.current()).overlay();
            try (LayerStack s = MountChecks.prepare(o)) {
                assertEquals(d + "/u", s.upper().root(), "canonical");
                assertNotNull(s.workDir());
            }
        }

        @Test void oldTwelveComponentOptionsStillWork() throws Exception {
            OverlayOptions o = OverlayOptions.of(List.of(d + "/l1"), d + "/u", d + "/w");
            try (LayerStack s = MountChecks.prepare(o)) {
                assertEquals(RedirectDir.NOFOLLOW, s.options().redirectDir());
            }
        }
    }

    /**
     * The upper fs probes (d_type, O_TMPFILE, RENAME_WHITEOUT, NS xattrs, file handles) are remembered only while a
     * live mount of this process holds the filesystem, and give the mounts that use them the same answers.
     */
    @Nested class UpperFeaturesRemembered {
        static final String SECOND = "lowerdir=$D/l1,upperdir=$D/u2,workdir=$D/w2";

        @Test void aSecondMountOnTheFilesystemTakesTheAnswersWhileTheFirstLives() throws Exception {
            int before = UpperFeatures.size();
            try (LayerStack a = MountChecks.prepare(opts(STD))) {
                assertEquals(before + 1, UpperFeatures.size(), "the first mount's answers are kept while it lives");
                try (LayerStack b = MountChecks.prepare(opts(SECOND))) {
                    assertEquals(before + 1, UpperFeatures.size());
                    assertEquals(List.of(a.tmpfile(), a.renameWhiteout(), a.dType(), a.xattrs()),
                            List.of(b.tmpfile(), b.renameWhiteout(), b.dType(), b.xattrs()));
                    assertEquals(List.of(a.upper().fileHandles(), a.upper().ino32(), a.options().index()),
                            List.of(b.upper().fileHandles(), b.upper().ino32(), b.options().index()));
                    assertTrue(b.warnings().isEmpty(), b.warnings().toString());
                    assertEquals(1, tree("w2/work").size(), "W/work empty: " + tree("w2/work"));
                }
                assertEquals(before + 1, UpperFeatures.size(), "still held by the first");
            }
            assertEquals(before, UpperFeatures.size(), "forgotten with the last mount that held the filesystem");
        }

        @Test void aRefusedMountLetsGoOfItsHold() throws Exception {
            int before = UpperFeatures.size();
            LayerFixture.mkdirs(d + "/u/inside");
            // refused after W/work and its probes, in the overlap checks (a lower root inside the upper layer)
            ErrnoException e = assertThrows(ErrnoException.class,
                    () -> MountChecks.prepare(opts("lowerdir=$D/u/inside,upperdir=$D/u,workdir=$D/w")));
            assertEquals(Errno.ELOOP, e.errno());
            assertEquals(before, UpperFeatures.size());
        }

        @Test void anotherXattrFormatIsAskedAgain() throws Exception {
            int before = UpperFeatures.size();
            try (LayerStack a = MountChecks.prepare(opts(STD));
                 LayerStack b = MountChecks.prepare(opts(SECOND + ",userxattr"))) {
                assertEquals(before + 2, UpperFeatures.size(), "trusted.* and user.* answers are kept apart");
                assertTrue(a.xattrs() && b.xattrs());
            }
            assertEquals(before, UpperFeatures.size());
        }
    }

    /** W/work is made mode 0000 with no POSIX ACLs, also where W's default ACL and setgid bit would give it more. */
    @Nested class WorkDirMode {
        @Test void inheritedAclAndSetgidAreCleared() throws Exception {
            Process p = new ProcessBuilder("setfacl", "-d", "-m", "u::rwx,g::rwx,o::rwx,u:1234:rwx,m::rwx", d + "/w")
                    .redirectErrorStream(true).start();
            assertEquals(0, p.waitFor(), new String(p.getInputStream().readAllBytes()));
            Linux.chmod(d + "/w", 02755);
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                Stat st = Linux.lstat(d + "/w/work");
                assertEquals(0, st.mode() & 07777, Integer.toOctalString(st.mode() & 07777));
                assertNull(Linux.lgetxattrOrNull(d + "/w/work", "system.posix_acl_access"));
                assertNull(Linux.lgetxattrOrNull(d + "/w/work", "system.posix_acl_default"));
            }
        }

        @Test void plainWorkBase() throws Exception {
            try (LayerStack s = MountChecks.prepare(opts(STD))) {
                assertEquals(0, Linux.lstat(d + "/w/work").mode() & 07777);
                assertNull(Linux.lgetxattrOrNull(d + "/w/work", "system.posix_acl_access"));
            }
        }
    }
}
