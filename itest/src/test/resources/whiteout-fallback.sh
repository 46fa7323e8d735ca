#!/bin/bash
# Run by WhiteoutFallbackTest (root) in a directory of its own: whiteout-fallback.sh LAUNCHER
# overlayj serves l/u/w on m under a seccomp filter that refuses mknod and RENAME_WHITEOUT with EPERM (no-mknod.py),
# so it cannot make 0/0 whiteouts and writes AUFS .wh.NAME files instead; the kernel's overlayfs runs the same
# workload on a copy (l2/u2/w2 on k). Prints the merged trees, overlayj's view after a remount without the filter,
# and both upper layers.
set -euo pipefail
launcher=$1
here=$PWD
umask 022
mkdir -p l/d l/e/deep l/f l2 u w m u2 w2 k
echo a > l/a; echo b > l/b; echo x > l/d/x; echo y > l/d/y; echo g > l/e/deep/g; echo r > l/r; echo h > l/f/h
cp -a l/. l2/

workload() {
  rm a                          # a whiteout for a lower file
  rm d/x
  rm -r e                       # a lower directory removed
  mkdir e && echo n > e/n       # and made again: opaque
  mv r r2                       # a rename of a lower file leaves a whiteout at its old name
  mv f f2                       # ... and of a lower directory (no redirect_dir: copied, then removed)
  echo c > c
  echo again > a                # a name made again where a whiteout is
}

list() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
    c=-; [ -f "$p" ] && c=$(md5sum < "$p" | cut -c1-8)
    echo "$p $(stat -c '%F %a' "$p") $c"
  done)
}

upper() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
    echo "$p $(stat -c '%F %t:%T' "$p") $(getfattr -d -m - --absolute-names "$p" 2>/dev/null | grep -o '^trusted\.overlay\.[a-z]*' | sort | tr '\n' ' ')"
  done)
}

opts="lowerdir=$here/l,upperdir=$here/u,workdir=$here/w,redirect_dir=off"
mountoj() {   # overlayj on m, in the background (it makes the readiness FIFO with mknod: not under the filter)
  OVERLAYJ_LOG_DIR=$here "$launcher" -o $opts $here/m
}
mountoj_filtered() {   # in the foreground, in a background job; returns once mounted
  python3 $here/no-mknod.py "$launcher" -f -o $opts $here/m 2>> $here/filtered.log &
  for i in $(seq 300); do mountpoint -q $here/m && return; sleep 0.1; done
  echo "overlayj did not mount under the filter"; cat $here/filtered.log; exit 1
}

umountoj() {
  umount $here/m
  for i in $(seq 100); do pgrep -f -- "-- $here/m\$" >/dev/null || break; sleep 0.2; done
}

mountoj_filtered
(cd m && workload)
echo "== overlayj"
list m
umountoj
mountoj
echo "== overlayj remounted without the filter"
list m
umountoj

mount -t overlay overlay -o lowerdir=$here/l2,upperdir=$here/u2,workdir=$here/w2,redirect_dir=off $here/k
(cd k && workload)
echo "== kernel"
list k
umount $here/k

echo "== upper written by overlayj"
upper u
echo "== upper written by the kernel"
upper u2
echo "== end"
