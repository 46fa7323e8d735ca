#!/usr/bin/env bash
# The main job: set up this machine (packages, JDK choice, build, `overlayj` on PATH), then build a sample layer set
# with a lower hard link and mount it through overlayj's FUSE door with the inodes index on. It shows what
# fuse-overlayfs loses: an append through one alias survives a remount and is seen through the other alias, which
# keeps its inode number. The overlay stays mounted at $DEMO/mnt; unmount with `umount $DEMO/mnt`.
#
#   sudo ./scripts/demo.sh [DIR]      # DIR defaults to /tmp/overlayj-demo (recreated)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
DEMO=$(readlink -f "${1:-/tmp/overlayj-demo}")
if mountpoint -q "$DEMO/mnt" 2>/dev/null; then umount "$DEMO/mnt"; fi
rm -rf "$DEMO"
mkdir -p "$DEMO"/{lower1,lower2,upper,work,mnt}

# Two read-only layers: lower1 (top) hides lower2's old.txt with a whiteout and holds a hard-linked pair.
echo "from the bottom layer" > "$DEMO/lower2/base.txt"
echo "hidden by a whiteout" > "$DEMO/lower2/old.txt"
mkdir -p "$DEMO/lower1/etc" "$DEMO/lower1/bin"
echo "config v1" > "$DEMO/lower1/etc/app.conf"
ln "$DEMO/lower1/etc/app.conf" "$DEMO/lower1/bin/app.conf"
mknod "$DEMO/lower1/old.txt" c 0 0

OPTS="lowerdir=$DEMO/lower1:$DEMO/lower2,upperdir=$DEMO/upper,workdir=$DEMO/work,index=on,nfs_export=on"
M="$DEMO/mnt"
show() { echo "\$ $*"; "$@"; }

echo "== mount (overlayj returns once the mount is live, then serves in the background)"
show overlayj -o "$OPTS" "$M"
show ls -l "$M" "$M/etc" "$M/bin"
echo "== append through one alias of the lower hard link (copy-up into the index)"
echo "appended through etc/app.conf" >> "$M/etc/app.conf"
show umount "$M"
echo "== remount: the other alias shows the append and shares the inode"
show overlayj -o "$OPTS" "$M"
show cat "$M/bin/app.conf"
show stat -c '%n ino=%i links=%h' "$M/etc/app.conf" "$M/bin/app.conf"
echo "== on disk, in the kernel's format"
show ls -l "$DEMO/work/index"
show getfattr -d -m trusted.overlay -e hex "$DEMO/upper/etc/app.conf"
echo
echo "overlayj is serving $M. Unmount with: umount $M"
