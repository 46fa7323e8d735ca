#!/usr/bin/env bash
# Everything a fresh Debian machine needs: packages, the JDK choice, the build, and `overlayj` on PATH.
# Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

need_pkgs=()
for p in attr acl fuse3 fuse-overlayfs libnfs-utils xfsprogs maven e2fsprogs util-linux iproute2 python3 \
         podman uidmap runc crun slirp4netns busybox-static strace debootstrap; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "overlayj setup: need root to install: ${need_pkgs[*]}" >&2; exit 1; fi
  echo "overlayj setup: installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# The VM that runs the Linux kernel's NFS client against `overlayj serve` (itest KernelNfsClientVmTest; the kernel
# package itself is fetched and unpacked by scripts/vm-assets.sh, which that test runs). Without recommends:
# qemu-system-x86's would bring a whole desktop stack.
vm_pkgs=()
for p in qemu-system-x86 busybox-static rpcbind nfs-common cpio gcc libc6-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || vm_pkgs+=("$p")
done
if [ ${#vm_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "overlayj setup: need root to install: ${vm_pkgs[*]}" >&2; exit 1; fi
  echo "overlayj setup: installing ${vm_pkgs[*]}"
  [ ${#need_pkgs[@]} -gt 0 ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${vm_pkgs[@]}" >/dev/null
fi

source "$ROOT/scripts/env.sh"
echo "overlayj setup: JAVA_HOME=$JAVA_HOME"

if [ "${OVERLAYJ_SKIP_BUILD:-}" != 1 ]; then
  set +o pipefail
  mvn -q -B install -DskipTests 2>&1 | grep -v '^WARNING'
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "overlayj setup: build failed" >&2; exit 1; }
  set -o pipefail
fi

# The launcher on PATH. `mount -t fuse.overlayj` runs /sbin/mount.fuse3, which runs the type's name ("overlayj")
# through /bin/sh with the shell's default PATH: /usr/local/bin is on it.
if [ "$(id -u)" -eq 0 ]; then
  ln -sf "$ROOT/bin/overlayj" /usr/local/bin/overlayj
  rm -f /usr/local/sbin/mount.fuse.overlayj    # an earlier set-up's link; mount.fuse3 never looked there
fi
# The JVM's AOT cache for the launcher (after the link: the training mounts through bin/overlayj). Only after a
# build: a cache made from other jars would be stale.
if [ "${OVERLAYJ_SKIP_BUILD:-}" != 1 ]; then
  "$ROOT/scripts/aot-train.sh" || echo "overlayj setup: AOT cache training failed; overlayj runs without one" >&2
fi
echo "overlayj setup: ready ($(command -v overlayj || echo "$ROOT/bin/overlayj"))"
