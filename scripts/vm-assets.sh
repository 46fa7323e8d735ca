#!/usr/bin/env bash
# The small VM that runs the Linux kernel's NFS client against `overlayj serve` (itest KernelNfsClientVmTest):
# Debian's kernel (linux-image-amd64, unpacked, never installed) and a busybox-static initramfs holding that kernel's
# NFS client modules (nfs, nfsv3, lockd, sunrpc, grace and what they depend on), virtio-net, and the guest's
# rpcbind + rpc.statd with their shared libraries (the kernel's lock client needs a statd to monitor the server).
#
#   scripts/vm-assets.sh [CACHE]      # CACHE default $OVERLAYJ_VM_CACHE or /var/cache/overlayj-vm
#
# Prints two lines, "kernel PATH" and "initrd PATH". Reuses what an earlier run left in CACHE when this script has
# not changed since (the kernel package is downloaded once, ~70 MB). Needs root to install missing packages
# (qemu-system-x86 busybox-static rpcbind nfs-common cpio, as scripts/setup.sh does); exits non-zero with the reason
# when anything is missing, so that a test calling it fails rather than skips.
#
# The test adds its own files (guest script, static test program) as a second cpio appended to this one: the
# kernel unpacks concatenated archives in order.
set -euo pipefail
CACHE=$(readlink -f "${1:-${OVERLAYJ_VM_CACHE:-/var/cache/overlayj-vm}}")
SELF=$(readlink -f "${BASH_SOURCE[0]}")
die() { echo "vm-assets: $*" >&2; exit 1; }

key=$(sha256sum "$SELF" | cut -c1-16)
# one preparation at a time per cache (two test runs, or two checkouts, may share it)
mkdir -p "$CACHE"
exec 9> "$CACHE/.lock"
flock 9
if [ -f "$CACHE/assets.ok" ] && [ "$(cat "$CACHE/assets.ok")" = "$key" ] &&
   [ -f "$CACHE/vmlinuz" ] && [ -f "$CACHE/initrd-base.gz" ]; then
    echo "kernel $CACHE/vmlinuz"; echo "initrd $CACHE/initrd-base.gz"; exit 0
fi

need=()
command -v qemu-system-x86_64 > /dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx insmod || need+=(busybox-static)
command -v rpcbind > /dev/null || need+=(rpcbind)
command -v rpc.statd > /dev/null || need+=(nfs-common)
command -v cpio > /dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "need root to install ${need[*]}"
    echo "vm-assets: installing ${need[*]}" >&2
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null ||
        die "cannot install ${need[*]}"
fi
# busybox-static's file list: a dynamically linked /bin/busybox (package busybox) would not run in the guest
if ldd /bin/busybox > /dev/null 2>&1; then die "/bin/busybox is not statically linked (install busybox-static)"; fi

mkdir -p "$CACHE"
cd "$CACHE"
# The kernel: the image package linux-image-amd64 depends on, at the version the package lists know.
pkg=$(apt-cache depends linux-image-amd64 2> /dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$pkg" ]; then
    apt-get update -qq || die "apt-get update failed"
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
fi
[ -n "$pkg" ] || die "no linux-image package behind linux-image-amd64"
deb=$(ls "$pkg"_*.deb 2> /dev/null | head -1 || true)
if [ -z "$deb" ]; then
    rm -f linux-image-*.deb
    # stale package lists name a version the archive no longer has: update them once and ask again
    apt-get download "$pkg" > /dev/null 2>&1 || {
        apt-get update -qq || die "apt-get update failed"
        pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
        apt-get download "$pkg" > /dev/null 2>&1 || die "apt-get download $pkg failed"
    }
    deb=$(ls "$pkg"_*.deb | head -1)
fi
rm -rf kernel.tmp && mkdir kernel.tmp
dpkg-deb -x "$deb" kernel.tmp
kver=$(ls kernel.tmp/lib/modules | head -1)
[ -f "kernel.tmp/boot/vmlinuz-$kver" ] || die "$deb has no /boot/vmlinuz-$kver"
mods=kernel.tmp/lib/modules/$kver/kernel

# Modules and what they need, dependencies first. The package has no modules.dep (depmod makes it when installed),
# so each module's .modinfo "depends=" string is read from the file itself.
declare -A path_of=() done_=()
while IFS= read -r f; do path_of[$(basename "$f" .ko)]=$f; done < <(find "$mods" -name '*.ko')
order=()
add() {
    local m=${1//-/_} d
    [ -n "${done_[$m]:-}" ] && return
    [ -n "${path_of[$m]:-}" ] || die "module $m not in $pkg"
    done_[$m]=1
    for d in $(grep -a -o 'depends=[a-z0-9_,-]*' "${path_of[$m]}" | head -1 | cut -d= -f2 | tr , ' '); do add "$d"; done
    order+=("$m")
}
for m in virtio_pci virtio_net sunrpc grace lockd nfs nfsv3; do add "$m"; done

root=$CACHE/initrd.tmp
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,lib/modules,lib64,etc,proc,sys,dev,tmp,mnt,run/rpcbind,var/lib/nfs/sm,var/lib/nfs/sm.bak}
cp /bin/busybox "$root/bin/busybox"
for m in "${order[@]}"; do cp "${path_of[$m]}" "$root/lib/modules/$m.ko"; done
printf '%s\n' "${order[@]}" > "$root/lib/modules/order"
# The guest's RPC daemons and their libraries (the loader at the path the binaries name).
for b in rpcbind rpc.statd sm-notify rpcinfo; do
    p=$(command -v "$b") || die "$b missing"
    cp "$p" "$root/sbin/"
    for lib in $(ldd "$p" | awk '/=> \// {print $3} /^\t\/lib64\// {print $1}'); do
        mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    done
done
cp /etc/netconfig "$root/etc/"
printf 'root:x:0:0::/:/bin/sh\n_rpc:x:102:65534::/run/rpcbind:/bin/false\nstatd:x:103:65534::/var/lib/nfs:/bin/false\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
printf '127.0.0.1 localhost\n10.0.2.15 ojguest\n' > "$root/etc/hosts"
printf 'rpcbind 111/tcp\nrpcbind 111/udp\nsunrpc 111/tcp\nsunrpc 111/udp\n' > "$root/etc/services"
printf 'ip 0 IP\ntcp 6 TCP\nudp 17 UDP\n' > "$root/etc/protocols"
: > "$root/var/lib/nfs/state"
chown -R 103:65534 "$root/var/lib/nfs"

# /init: the base system. The test's own archive brings /guest/run.sh, which this runs and then powers off.
cat > "$root/init" << 'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
mount -t tmpfs run /run; mkdir -p /run/rpcbind
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || echo "@@VM insmod $m failed"; done
hostname ojguest
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 ||
    echo "@@VM network failed"
if [ -x /guest/run.sh ]; then /guest/run.sh; else echo "@@VM no /guest/run.sh"; fi
echo "@@VM poweroff"
sync
poweroff -f
EOF
chmod 0755 "$root/init"

# owners as on disk: root's, and statd's directory (rpc.statd drops to the owner of /var/lib/nfs)
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > initrd-base.gz.tmp
mv initrd-base.gz.tmp initrd-base.gz
cp "kernel.tmp/boot/vmlinuz-$kver" vmlinuz.tmp && mv vmlinuz.tmp vmlinuz   # a VM starting now reads the old or the new one whole
echo "$kver ${order[*]}" > kernel.txt
rm -rf kernel.tmp "$root"
echo "$key" > assets.ok
echo "kernel $CACHE/vmlinuz"; echo "initrd $CACHE/initrd-base.gz"
