#!/bin/bash
# Run by PlainUserMountTest as a plain user (no user namespace) in a directory of its own:
#   plain-user-mount.sh LAUNCHER
# overlayj mounts l/u/w on m through fusermount3; the kernel's overlayfs mounts a copy (l2/u2/w2 on k) with
# userxattr in a user namespace of this user (unshare -Urm); the same workload runs on both and the merged trees
# are listed (owner "me" when it is the user itself, as each side sees it). Then overlayj's layers are mounted by
# the kernel too. Prints sections the test compares.
set -euo pipefail
umask 022
launcher=$1
here=$PWD

mkdir -p l/d/sub l/e/deep l/keep u w m l2 u2 w2 k k3 w3
echo lower > l/f
echo x > l/d/x
echo y > l/d/y
echo z > l/d/sub/z
echo gone > l/e/deep/g
echo keep > l/keep/k
ln l/keep/k l/keep/k2
chmod 0555 l/keep
cp -a l/. l2/

workload() {   # in the merged root
  echo new > n
  echo more >> f
  rm d/x
  echo again >> d/y
  echo z2 >> d/sub/z
  mkdir n2 && echo in > n2/i
  rm -r e
  mkdir e && echo back > e/b            # a directory over a whiteout: opaque
  mv d/y d/y2
  chmod 0600 f
  ln n n.link
  echo k3 >> keep/k2                   # copy-up in a 0555 directory of the user's own (lower hard link)
}

list() {   # LIST DIR: one line per object
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
    o=$(stat -c %u:%g "$p"); [ "$o" = "$(id -u):$(id -g)" ] && o=me
    c=-; [ -f "$p" ] && c=$(md5sum < "$p" | cut -c1-8)
    echo "$p $(stat -c '%F %a' "$p") nlink=$(stat -c %h "$p") $o $c"
  done)
}

OVERLAYJ_LOG_DIR=$here "$launcher" -o lowerdir=$here/l,upperdir=$here/u,workdir=$here/w $here/m
echo "== mount"
grep " $here/m " /proc/self/mountinfo | sed "s|$here|HERE|; s/^[0-9]* [0-9]* [0-9:]* //"
(cd m && workload)
echo "== overlayj"
list m
fusermount3 -u $here/m
echo "== unmounted"

unshare -Urm bash -c "$(declare -f workload list); set -e
  mount -t overlay overlay -o userxattr,lowerdir=$here/l2,upperdir=$here/u2,workdir=$here/w2 $here/k
  (cd $here/k && workload)
  echo '== kernel'
  list $here/k
  umount $here/k
  mount -t overlay overlay -o userxattr,lowerdir=$here/l,upperdir=$here/u,workdir=$here/w $here/k3
  echo '== kernel on the layers overlayj wrote'
  list $here/k3
  umount $here/k3"
echo "== upper written by overlayj"
(cd u && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
  echo "$p $(stat -c '%F %t:%T' "$p") $(getfattr -d -m - --absolute-names "$p" 2>/dev/null | grep -o '^[a-z.]*overlay[a-z.]*' | sort | tr '\n' ' ')"
done)
echo "== upper written by the kernel"
(cd u2 && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
  echo "$p $(stat -c '%F %t:%T' "$p") $(getfattr -d -m - --absolute-names "$p" 2>/dev/null | grep -o '^[a-z.]*overlay[a-z.]*' | sort | tr '\n' ' ')"
done)
echo "== end"
