/**
 * Mount options: the kernel's syntax, defaults and conflict rules (its params.c concern).
 *
 * <p>A door or the CLI turns the user's {@code -o} string into options with
 * {@link org.overlayj.core.config.MountOptions#parse(String)}: the overlay options go to
 * {@code Overlay.mount}, the generic mount/FUSE options ({@code Parsed.generic()}) to the door, the notices
 * ({@code Parsed.warnings()}) to the user. Module defaults come from /sys/module/overlay/parameters
 * ({@link org.overlayj.core.config.ModuleDefaults#current()}), so a string means what it means to this machine's
 * kernel. Everything that depends on the layers on disk (paths resolving, read-only upper, uuid, probes) is
 * {@code org.overlayj.core.layer.MountChecks}'s.
 */
package org.overlayj.core.config;
