/**
 * The layer stack and its mount-time checks (the kernel's super.c concern): verifying the layer directories,
 * exclusive use of upper and work ({@link org.overlayj.core.layer.InUse}), W/work and W/index
 * ({@link org.overlayj.core.layer.WorkDir}), filesystem identity and uuid= ({@link org.overlayj.core.layer.FsIdentity}),
 * and the kernel's feature downgrades, all with the kernel's errno and message text.
 *
 * <p>{@link org.overlayj.core.layer.MountChecks#prepare} returns a {@link org.overlayj.core.layer.LayerStack} that
 * holds the in-use locks until closed. Its behaviour is pinned by KernelComparisonTest, which runs every case
 * through the running kernel and through prepare and compares errno, messages, /proc/mounts options and the
 * layers left on disk.
 */
package org.overlayj.core.layer;
