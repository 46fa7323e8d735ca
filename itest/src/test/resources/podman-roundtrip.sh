#!/usr/bin/env bash
# podman with overlayj as its mount_program (rootful): a container's changes, committed, show exactly in a
# container of the new image; a 4-layer image (deletions, opaque dirs: AUFS whiteouts in the graph root) shows the
# same tree through overlayj, through fuse-overlayfs and as `podman export` unpacks it.
# Usage: podman-roundtrip.sh WORKDIR OVERLAYJ [PODMAN-OPTIONS-FOR-WORKLOADS...] (OVERLAYJ "kernel": no mount
# program, the kernel's overlayfs through podman's own driver; with VIEWS_ONLY=1 only). Exit 0 only if every comparison
# agrees; prints what it compared. Run as a user it is rootless (it goes on inside `podman unshare`); extra options
# (e.g. --uidmap) go to the containers the workloads run in.
set -euo pipefail
W=$1; OJ=$2; shift 2; EXTRA=("$@")
mkdir -p "$W"/{graph,run,tmp,net,rootfs}
cat > "$W/mount-program.sh" <<EOF
#!/bin/sh
echo "cwd=\$(pwd) args: \$*" >> "$W/mount-calls.log"
"$OJ" "\$@" || exit
# what serves the mounts, seen from where podman runs its mount program (its namespaces, its environment)
case "$OJ" in *overlayj*) "$OJ" status >> "$W/status.log" 2>&1 || true;; esac
EOF
chmod +x "$W/mount-program.sh"
cat > "$W/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$W/graph"
runroot = "$W/run"
[storage.options.overlay]
$( [ "$OJ" = kernel ] || echo "mount_program = \"$W/mount-program.sh\"" )
EOF
cat > "$W/containers.conf" <<EOF
[containers]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
tmp_dir = "$W/tmp"
[network]
network_config_dir = "$W/net"
EOF
export CONTAINERS_STORAGE_CONF=$W/storage.conf CONTAINERS_CONF=$W/containers.conf
# rootless: the rest runs in podman's user namespace, where podman's mounts are seen and chroot is allowed
if [ "$(id -u)" != 0 ]; then exec podman unshare bash "$0" "$W" "$OJ" "${EXTRA[@]}"; fi
# (no --root/--runroot: with them podman 4.3 drops storage.conf's overlay options, mount_program included)
P() { podman "$@"; }

# the image: a busybox-static rootfs
R=$W/rootfs
mkdir -p $R/bin $R/etc $R/tmp $R/opt/app/sub $R/srv/keep $R/srv/gone $R/proc $R/sys $R/dev
cp /bin/busybox $R/bin/busybox
for a in sh ls rm mkdir mv ln chmod cat echo find stat wc touch md5sum true; do ln -s busybox $R/bin/$a; done
chmod 1777 $R/tmp
echo "root:x:0:0:root:/root:/bin/sh" > $R/etc/passwd; echo "root:x:0:" > $R/etc/group
echo a > $R/opt/app/a; echo b > $R/opt/app/sub/b; echo k1 > $R/srv/keep/k1; echo k2 > $R/srv/keep/k2; echo g1 > $R/srv/gone/g1
tar -C $R -cf $W/rootfs.tar .
P import -q $W/rootfs.tar localhost/oj:1 >/dev/null
G=$(P info --format '{{.Store.GraphRoot}}')
echo "image localhost/oj:1 imported from a busybox-static rootfs ($(tar -tf $W/rootfs.tar | wc -l) entries); uid $(id -u), graph root $G"

# how a container runs here: podman run with an OCI runtime where the machine lets one start, else chroot
RUN=()
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
if P --runtime runc run --rm "${LIMITS[@]}" "${EXTRA[@]}" localhost/oj:1 /bin/true >/dev/null 2>"$W/runc.err"; then
  RUN=(--runtime runc); echo "workloads run by: podman --runtime runc run"
elif P --runtime crun run --rm --cgroups=disabled "${LIMITS[@]}" "${EXTRA[@]}" localhost/oj:1 /bin/true >/dev/null 2>"$W/crun.err"; then
  RUN=(--runtime crun); echo "workloads run by: podman --runtime crun run --cgroups=disabled"
else
  echo "workloads run by: chroot into podman mount (no OCI runtime starts here: runc: $(tail -1 $W/runc.err); crun: $(tail -1 $W/crun.err))"
fi

# what a tree shows: every object but the mount points podman itself makes, with type, mode, owner, size, link
# target (not the top directory: its mode is the graph root's or the unpacking directory's, not the image's), link count for non-directories (with NLINK=1), the groups of names that are one inode, every file's data.
# Link counts are left out between implementations: for a lower file whose other names are whited out overlayj
# shows the kernel's count (the real inode's), fuse-overlayfs counts the names it shows, a tar has none.
view() {
  ( cd "$1"
    P='( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run ) -prune -o'
    find . -xdev $P -type d -printf '%p %y %m %U:%G\n'
    if [ "${NLINK:-0}" = 1 ]; then find . -xdev $P ! -type d -printf '%p %y %m %U:%G %s %n %l\n'
    else find . -xdev $P ! -type d -printf '%p %y %m %U:%G %s %l\n'; fi
    find . -xdev $P -type f -exec md5sum {} +
    find . -xdev $P -type f -printf '%i %p\n' | LC_ALL=C sort -k2 | awk '{g[$1]=g[$1] " " $2; n[$1]++} END {for (i in g) if (n[i] > 1) print "one inode:" g[i]}'
  ) | grep -v -E '^\. d |^(\./etc/(hostname|hosts|resolv\.conf)|\./\.containerenv)[ ]|[ ]\./etc/(hostname|hosts|resolv\.conf)$' | LC_ALL=C sort
}

# run a workload in a new container of IMAGE, leave the container (named NAME) stopped
workload() {
  local name=$1 image=$2 script=$3
  if [ ${#RUN[@]} -gt 0 ]; then
    P "${RUN[@]}" run --name "$name" "${LIMITS[@]}" "${EXTRA[@]}" $( [ "${RUN[1]}" = crun ] && echo --cgroups=disabled ) "$image" /bin/sh -ec "$script"
  else
    P create -q --name "$name" "${EXTRA[@]}" "$image" /bin/true >/dev/null
    local m; m=$(P mount "$name")
    chroot "$m" /bin/sh -ec "$script"
    P umount "$name" >/dev/null
  fi
}

compare() {  # compare WHAT FILE_A FILE_B
  if diff -u "$2" "$3" > "$W/diff.txt"; then
    echo "SAME: $1 ($(wc -l < "$2") lines)"
  else
    echo "DIFFERENT: $1"; cat "$W/diff.txt"; exit 1
  fi
}

# 1. delete, create, hard-link, rename a directory, chmod; commit; a container of the new image shows exactly that
workload c1 localhost/oj:1 'rm /bin/wc; mkdir /data; echo hello > /data/f; ln /data/f /data/hard; mv /opt/app /opt/app2; chmod 700 /opt/app2; rm -r /srv/gone; echo n1 > /srv/new'
c1m=$(P mount c1)
NLINK=1 view "$c1m" > $W/c1.view
P commit -q c1 localhost/oj:2 >/dev/null
P create -q --name c2 "${EXTRA[@]}" localhost/oj:2 /bin/true >/dev/null
# (the kernel's view of a container of the commit may be partial: rootful --uidmap stores the commit's owners
# shifted, and root may not enter a 0700 directory whose owner has no mapping on the idmapped lower)
c2m=$(P mount c2)
NLINK=1 view "$c2m" > $W/c2.view || [ "$OJ" = kernel ]
[ "$OJ" = kernel ] || [ -s $W/mount-calls.log ] || { echo "podman did not run the mount program"; exit 1; }
if [ "$OJ" != kernel ] && [ "${OJ##*/}" != fuse-overlayfs ]; then
  # both containers are mounted now: one overlayj process (the resident server) serves the two (issue 18)
  last=$(awk '/^server pid/ {b = ""} {b = b $0 "\n"} END {printf "%s", b}' "$W/status.log")
  if printf '%s' "$last" | grep -qF "$c1m" && printf '%s' "$last" | grep -qF "$c2m"; then
    echo "one overlayj server serves containers c1 and c2: $(printf '%s' "$last" | head -1 | cut -d, -f1,3)"
  else
    echo "containers c1 and c2 are not served by one overlayj server; overlayj status after each mount:"
    cat "$W/status.log"; exit 1
  fi
fi
if [ "${VIEWS_ONLY:-}" = 1 ]; then echo "views of c1 and c2 written ($(wc -l < $W/c1.view), $(wc -l < $W/c2.view) lines)"; exit 0; fi
echo "podman mounts through: $(grep -m1 -- ' -o ' $W/mount-calls.log)"
compare "container c1 after its workload vs a new container of the image committed from it" $W/c1.view $W/c2.view
grep -q '^one inode: \./data/f \./data/hard$' $W/c2.view || { echo "no hard link /data/hard (nlink 2) in the committed image"; exit 1; }
! grep -q -E '^\./(bin/wc|opt/app|srv/gone) ' $W/c2.view || { echo "a deleted or renamed name is back"; exit 1; }
grep -q '^\./opt/app2 d 700 0:0$' $W/c2.view || { echo "no /opt/app2 (mode 700)"; exit 1; }
echo "checked in the committed image: /bin/wc and /srv/gone gone, /opt/app renamed to /opt/app2 (700), /data/hard a hard link of /data/f"

# 2. more layers: an opaque directory, more deletions, another opaque directory
workload c3 localhost/oj:2 'rm -rf /srv/keep; mkdir /srv/keep; echo v3 > /srv/keep/k3; rm /data/hard; echo again > /srv/gone'
P commit -q c3 localhost/oj:3 >/dev/null
workload c4 localhost/oj:3 'rm -rf /opt; mkdir -p /opt/x; echo x > /opt/x/f; ln /srv/keep/k3 /srv/k3link; chmod 600 /srv/new'
P commit -q c4 localhost/oj:4 >/dev/null
layers=$(P image inspect --format '{{len .RootFS.Layers}}' localhost/oj:4)
# the whiteouts and opaque markers containers/storage unpacked into the layers: AUFS files (newer containers/storage
# with a mount_program) or the kernel's 0/0 devices and opaque xattrs (podman 4.3's); overlayj reads both
markers=$(cd $G/overlay && { find . -path '*/diff/*' \( -name '.wh.*' -o -type c \) -printf '%p %y\n';
  getfattr -R -m '^(trusted|user)\.(overlay|fuseoverlayfs)\.opaque$' --absolute-names . 2>/dev/null | sed -n 's/^# file: //p' | sed 's/$/ opaque-xattr/'; } | LC_ALL=C sort)
echo "localhost/oj:4 has $layers layers; whiteouts and opaque markers in the graph root's layers:"; echo "$markers" | sed 's/^/  /'
[ "$layers" -ge 4 ] && echo "$markers" | grep -q -E 'opaque-xattr|\.wh\.\.wh\.\.opq' || { echo "expected 4 layers and an opaque dir"; exit 1; }

# the 4-layer image through overlayj (podman image mount: read-only, lowerdirs only)
ima=$(P image mount localhost/oj:4)
view "$ima" > $W/img-overlayj.view
lower=$(grep -o 'lowerdir=[^, ]*' $W/mount-calls.log | tail -1)
case "$lower" in *upperdir*) echo "image mount had an upper"; exit 1;; esac
# the same layers through fuse-overlayfs
mkdir -p $W/fo
(cd $G/overlay && fuse-overlayfs -o "$lower" $W/fo)
view $W/fo > $W/img-fuse-overlayfs.view
fusermount3 -u $W/fo 2>/dev/null || umount $W/fo
P image umount localhost/oj:4 >/dev/null
# and as podman export unpacks a container of it
P create -q --name e4 localhost/oj:4 /bin/true >/dev/null
P export -o $W/e4.tar e4
mkdir -p $W/export && tar -C $W/export -xpf $W/e4.tar
view $W/export > $W/img-export.view
compare "4-layer image: overlayj vs fuse-overlayfs" $W/img-overlayj.view $W/img-fuse-overlayfs.view
compare "4-layer image: overlayj vs podman export" $W/img-overlayj.view $W/img-export.view
grep -q '^\./srv/keep/k3 f' $W/img-overlayj.view && grep -q '^\./srv/k3link f' $W/img-overlayj.view && ! grep -q -E '^\./srv/keep/k[12] |^\./opt/app2|^\./data/hard ' $W/img-overlayj.view \
  || { echo "opaque dirs or deletions not honoured"; exit 1; }
echo "checked in the 4-layer image: /srv/keep and /opt opaque (only k3, only x/f), /data/hard deleted, /srv/k3link there"
echo "  (a copy, not a link of /srv/keep/k3: podman's commit diffs against the image and leaves the unchanged k3 out)"
echo "mount program calls (overlayj): $(wc -l < $W/mount-calls.log)"
P rm -af >/dev/null 2>&1 || true
P umount -a >/dev/null 2>&1 || true
echo "podman round trip: all comparisons agree"
