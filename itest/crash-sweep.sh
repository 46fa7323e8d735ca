#!/usr/bin/env bash
# Crash-point sweep (issue 16): an overlayj FUSE server (bin/overlayj -f -s of this checkout) is killed with SIGKILL
# by strace at the entry of each layer-changing system call of one operation, on layers in a loop image (ext4 or
# XFS); the layers it leaves are then checked against the kernel's overlayfs, the judge:
#   kernel   a copy of the image mounts with the same options, its tree walks with no error (EIO, ESTALE),
#            the kernel logs nothing about this filesystem and (but for the mount-cleanup operation) its mount
#            changes no index entry (a repair it logs rate-limited: the log alone can miss it);
#   state    that tree is the tree before the operation or the tree after it (both also seen through the kernel);
#   overlayj another copy, mounted by overlayj, shows the same tree as the kernel;
#   fsck     `overlayj fsck` on that copy reports only what the kernel's mount then did (temporaries removed,
#            orphan index entries whited out), and copied-up directories and files left without their index
#            entry (index-missing, which --repair completes), nothing else.
# Prints "crash points OP: N" per operation and "bad ..." per failing point; exits 1 when any point is bad.
#
# usage: crash-sweep.sh [-f ext4|xfs] [-o op,op,...] [-r SEEDS]   (as root; runs in a private mount namespace)
#   -o   the operations, run in that order (default: all; see OPS below); -r N also runs N random-kill rounds of
#        a mixed workload
#   CRASH_SWEEP_MAX=K      only the first K calls of each system call of an operation (0: all)
#   CRASH_SWEEP_CALLS=a,b  only kill at these system calls (the CI test: the ones that change names)
#   CRASH_SWEEP_KEEP=DIR   keep each distinct crashed state (image, the kernel's index before/after, fsck's report)
#                          in DIR/N; `crash-sweep.sh -k DIR` then runs this checkout's fsck on every kept state again
#                          and judges it as the sweep does (an fsck change re-checked without re-running the kills;
#                          also flags a state whose index the kernel's mount changed outside mount-cleanup;
#                          where fsck finds objects without their index entry, its --repair is judged by the
#                          kernel too: no log line, no index change, the same tree, nothing left to write;
#                          CRASH_SWEEP_RECHECK_NEW=1: only the states no earlier -k run rechecked)
# Points that leave the layers in a state already checked (same names, data, xattrs) are counted, not checked again.
set -uo pipefail
self=$(readlink -f "${BASH_SOURCE[0]}")
ROOT=$(dirname "$(dirname "$self")")
if [ -z "${CRASH_SWEEP_NS:-}" ]; then
  export CRASH_SWEEP_NS=1
  exec unshare -m --propagation private "$self" "$@"
fi
FS=ext4 ONLY="" RANDOM_ROUNDS=0 RECHECK=""
while getopts "f:o:r:k:" o; do
  case $o in f) FS=$OPTARG ;; o) ONLY=$OPTARG ;; r) RANDOM_ROUNDS=$OPTARG ;; k) RECHECK=$OPTARG ;; *) exit 2 ;; esac
done
MAXN=${CRASH_SWEEP_MAX:-0}
T=$(mktemp -d "${CRASH_SWEEP_TMP:-/tmp}/oj-crash.XXXXXX")
# a copy of this checkout's launcher and jars, so a rebuild during a long sweep does not change what it runs
mkdir -p "$T/oj/bin" "$T/oj/scripts" "$T/oj/cli/target"
cp "$ROOT/bin/overlayj" "$T/oj/bin/"; cp "$ROOT/scripts/env.sh" "$T/oj/scripts/"
cp -r "$ROOT/cli/target/lib" "$ROOT"/cli/target/*.jar "$T/oj/cli/target/"
[ -f "$ROOT/cli/target/overlayj.aot" ] && cp -p "$ROOT/cli/target/overlayj.aot" "$T/oj/cli/target/"
OJ="$T/oj/bin/overlayj"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done
  # only the loop devices still backed by our images: a number detached earlier may be someone else's now
  losetup -n -O NAME,BACK-FILE 2>/dev/null | awk -v t="$T" 'index($2, t) == 1 {print $1}' |
    while read -r l; do losetup -d "$l" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE
[ -n "${CRASH_SWEEP_DEBUG:-}" ] && set -x
export OVERLAYJ_LOG_DIR=$T/logs
mkdir -p "$T/logs" "$T/fs" "$T/m" "$T/k" "$T/o"

# --- images ---------------------------------------------------------------------------------------------------------
attach() { # attach IMG DIR: loop-mount an image
  local dev; dev=$(losetup -f --show "$1") || return 1
  mount ${3:+-o $3} "$dev" "$2" || return 1
}
detach() { # detach DIR
  local dev; dev=$(findmnt -n -o SOURCE "$1")
  umount "$1" && losetup -d "$dev"
}
NOUUID=""; [ "$FS" = xfs ] && NOUUID=nouuid   # the copies share the image's uuid (that is the point)
case $FS in
  ext4) truncate -s 64M "$T/base.img"; mkfs.ext4 -q -F "$T/base.img" ;;
  xfs)  truncate -s 320M "$T/base.img"; mkfs.xfs -q -f "$T/base.img" ;;
  *) echo "unknown fs $FS"; exit 2 ;;
esac
attach "$T/base.img" "$T/fs" || exit 2
F=$T/fs
mkdir -p $F/l1/d $F/l2/d $F/l2/dd/sub $F/l2/e $F/l2/ee $F/u $F/w
echo lower-f > $F/l2/d/f; echo lower-g > $F/l2/d/g; echo lower-t > $F/l2/t; echo f1 > $F/l1/d/f1
echo hard > $F/l2/h1; ln $F/l2/h1 $F/l2/d/h2                     # a lower hard link, nlink 2
echo x > $F/l2/dd/sub/x; echo y > $F/l2/dd/y; ln -s d/f $F/l2/sym
head -c 2097152 /dev/urandom > $F/l2/big                          # copied ahead of the lock (>= 1 MiB)
setfattr -n user.u -v 1 $F/l2/d/f
UUIDHEX=$(blkid -s UUID -o value "$(findmnt -n -o SOURCE $F)" | tr -d -)
detach "$F"

NFS="index=on,nfs_export=on,redirect_dir=on"
META="index=on,redirect_dir=on,metacopy=on"
INDEX="index=on,redirect_dir=on"                                 # lower hard links are indexed without nfs_export
# mount-cleanup's PREP: copy-ups through overlayj, then (at "@offline", on the unmounted layers F) the leftovers a
# mount cleans: a stale index entry (its lower gone), orphan entries of a file and a directory hidden by whiteouts
# since (nfs_export whites them out), index and work-dir temporaries
LEFTOVERS='echo x >> $M/d/g; echo x >> $M/t; touch $M/dd/n; @offline rm $F/u/d/g $F/l2/d/g; rm $F/u/t; mknod $F/u/t c 0 0; rm -r $F/u/dd; mknod $F/u/dd c 0 0; touch $F/w/index/#7f01; mkdir $F/w/work/#7f02; touch $F/w/work/#7f02/x'
opts() { echo "lowerdir=$1/l1:$1/l2,upperdir=$1/u,workdir=$1/w,$2"; }

# --- the operations: NAME|FEATURES|PREP|OP (run in sh -c with M set to the mount point) ------------------------------
OPS=(
  "append|$NFS||echo more >> \$M/d/f"
  "append-hardlink|$NFS||echo more >> \$M/h1"
  "append-big|$NFS||echo more >> \$M/big"
  "create-in-lower-dir|$NFS||touch \$M/d/new"
  "unlink|$NFS||rm \$M/d/f"
  "unlink-hardlink|$NFS||rm \$M/h1"
  "unlink-hardlink-2nd|$NFS|rm \$M/h1|rm \$M/d/h2"
  "link|$NFS||ln \$M/d/f \$M/f2"
  "link-hardlink|$NFS||ln \$M/h1 \$M/h3"
  "rename|$NFS||mv \$M/d/f \$M/f3"
  "rename-over|$NFS||mv \$M/d/g \$M/t"
  "rename-hardlink-over|$NFS||mv \$M/h1 \$M/d/f"
  "rename-dir|$NFS||mv \$M/dd \$M/d/dd2"
  "rename-dir-over|$NFS||mv -T \$M/e \$M/ee"
  "rename-dir-twice|$NFS|mv \$M/dd \$M/dd1|mv \$M/dd1 \$M/d/dd2"
  "exchange|$NFS||python3 -c 'import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); sys.exit(l.renameat2(-100,sys.argv[1].encode(),-100,sys.argv[2].encode(),2))' \$M/d/f \$M/t"
  "exchange-dirs|$NFS||python3 -c 'import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); sys.exit(l.renameat2(-100,sys.argv[1].encode(),-100,sys.argv[2].encode(),2))' \$M/dd \$M/e"
  "rmdir|$NFS||rmdir \$M/e"
  "rmdir-merge|$NFS|rm \$M/dd/y \$M/dd/sub/x; rmdir \$M/dd/sub|rmdir \$M/dd"
  "rmdir-moved-merge|$NFS|rm \$M/dd/y \$M/dd/sub/x; rmdir \$M/dd/sub; mv \$M/dd \$M/d/dd3|rmdir \$M/d/dd3"
  "rename-dir-over-merge|$NFS|rm \$M/dd/y \$M/dd/sub/x; rmdir \$M/dd/sub|mv -T \$M/e \$M/dd"
  "mkdir-over-whiteout|$NFS|rmdir \$M/e|mkdir \$M/e"
  "chmod|$NFS||chmod 600 \$M/d/f"
  "chown|$NFS||chown 1:1 \$M/d/f"
  "utimes|$NFS||touch -m -d @1000000000 \$M/d/f"
  "chmod-hardlink|$NFS||chmod 600 \$M/d/h2"
  "chmod-dir|$NFS||chmod 700 \$M/dd/sub"
  "setxattr|$NFS||setfattr -n user.n -v v \$M/d/f"
  "removexattr|$NFS||setfattr -x user.u \$M/d/f"
  "symlink-chown|$NFS||chown -h 1:1 \$M/sym"
  "index-append-hardlink|$INDEX||echo more >> \$M/h1"
  "index-link-hardlink|$INDEX||ln \$M/h1 \$M/h3"
  "index-unlink-hardlink|$INDEX||rm \$M/h1"
  "meta-chmod|$META||chmod 600 \$M/d/f"
  "meta-copy-in|$META|chmod 600 \$M/d/f|echo more >> \$M/d/f"
  "meta-rename|$META|chmod 600 \$M/d/f|mv \$M/d/f \$M/f4"
  "meta-hardlink-link|$META||ln \$M/h1 \$M/h3"
  "meta-hardlink-copy-in|$META|chmod 600 \$M/h1|echo more >> \$M/d/h2"
  "mount-cleanup|$NFS|$LEFTOVERS|@mount"
)
# the system calls that change a layer (glibc's wrappers may use either form)
SYSCALLS="openat,creat,mkdir,mkdirat,mknod,mknodat,symlink,symlinkat,link,linkat,rename,renameat,renameat2"
SYSCALLS+=",unlink,unlinkat,rmdir,setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr"
SYSCALLS+=",chmod,fchmod,fchmodat,chown,lchown,fchown,fchownat,utimensat,truncate,ftruncate,fallocate"
SYSCALLS+=",fsync,fdatasync,copy_file_range,pwrite64,pwritev,ioctl"

wait_mounted() { # wait_mounted DIR PID
  for _ in $(seq 600); do
    findmnt -n -o FSTYPE "$1" 2>/dev/null | grep -q '^fuse' && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
start_server() { # start_server OPTS DIR -> SERVER
  # not a child of this shell (so it does not report the kill): its pid comes back through a pipe
  SERVER=$(setsid sh -c 'echo $$; exec "$0" -f -s -o "$1" "$2" >>"$3" 2>&1 </dev/null' "$OJ" "$1" "$2" \
           "$T/logs/server.out" & )
  SERVER=$(head -1 <<<"$SERVER")
  wait_mounted "$2" "$SERVER"
}
stop_server() { # unmount DIR, wait for SERVER
  umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
  for _ in $(seq 200); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$SERVER" 2>/dev/null; SERVER=""
}
# the tree as a user sees it, with every error; no inode numbers or times
tree() { # tree DIR
  # (no directory sizes: XFS's count the entries of the upper dir, which a copy-up adds to the merged view)
  (cd "$1" && find . -mindepth 1 \( -type d -printf '%p %y %M %U:%G\n' \) -o -printf '%p %y %M %U:%G %s\n' 2>&1 | sort
   find . -mindepth 1 -type f -print0 2>/dev/null | sort -z | xargs -0 -r md5sum 2>&1
   find . -mindepth 1 -type f ! -type d -printf '%p nlink=%n\n' 2>&1 | sort
   find . -mindepth 1 -type l -printf '%p -> %l\n' 2>&1 | sort
   [ -n "${TREE_MTIME:-}" ] && find . -mindepth 1 -type f -printf '%p mtime=%T@\n' 2>&1 | sort
   find . -mindepth 1 -exec getfattr -h -d -m user. {} + 2>&1 | grep -v '^$' | sort) 2>&1
}
# the index entries with their types ('#' temporaries aside: the mount of either kind removes them)
index_state() { find "$1/w/index" -mindepth 1 -maxdepth 1 ! -name '#*' -printf '%y %f\n' 2>/dev/null | sort; }
# A mark is the time stamp of the last line (a count of lines stops moving once the ring buffer is full, and then
# missed every message: the XFS rmdir orphan of issue 16 passed ext4 sweeps that way).
kmsg_mark() { dmesg 2>/dev/null | tail -1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'; }
# (KMSG_OK: lines an operation makes the kernel log as a matter of course, e.g. the clean-up of leftovers it made)
kmsg_ours() { dmesg 2>/dev/null | awk -v m="${1:-0}" '{ t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t); if (t + 0 > m + 0) print }' |
              grep -i overlay | grep -e "$UUIDHEX" -e "$T" |
              { if [ -n "${KMSG_OK:-}" ]; then grep -v -E "$KMSG_OK"; else cat; fi; }; }

# kernel_tree IMG FEATURES OUT: the kernel's view of an image's layers (and what its mount did to the index)
kernel_tree() {
  local mark; mark=$(kmsg_mark)
  attach "$1" "$T/fs" $NOUUID || { echo "!! attach failed" > "$3"; return; }
  index_state "$T/fs" > "$3.index-before"
  if mount -t overlay overlay -o "$(opts $T/fs "$2")" "$T/k" 2>"$3.mount"; then
    tree "$T/k" > "$3"
    umount "$T/k"
  else
    echo "!! kernel mount failed: $(cat "$3.mount")" > "$3"
  fi
  index_state "$T/fs" > "$3.index-after"
  detach "$T/fs"
  kmsg_ours "$mark" > "$3.kmsg"
  return 0
}
# overlayj_tree IMG FEATURES OUT: fsck's report, then overlayj's view of the same layers
overlayj_tree() {
  attach "$1" "$T/fs" $NOUUID || { echo "!! attach failed" > "$3"; return; }
  "$OJ" fsck -o "$(opts $T/fs "$2")" > "$3.fsck" 2>&1
  if start_server "$(opts $T/fs "$2")" "$T/o"; then
    tree "$T/o" > "$3"
    stop_server "$T/o"
  else
    echo "!! overlayj mount failed: $(tail -3 $T/logs/server.out)" > "$3"; stop_server "$T/o"
  fi
  detach "$T/fs"
  return 0
}

BAD=0 TOTAL=0 STATES=0
ts() { [ -n "${CRASH_SWEEP_TIMES:-}" ] && echo "  [$(date +%T.%N | cut -c1-12)] $*" >&2; return 0; }
bad() { echo "bad $*"; BAD=$((BAD + 1)); }

# the layers as they are on disk (what decides the checks' outcome): names, types, modes, sizes, links, data, xattrs
declare -A SEEN=()
fingerprint() { # fingerprint IMG
  attach "$1" "$T/fs" $NOUUID || return 1
  (cd "$T/fs" && find u w -mindepth 1 -printf '%p %y %m %s %n %U:%G\n' | sort
   find u w -type f -print0 | sort -z | xargs -0 -r md5sum
   getfattr -R -h -d -m - -e hex u w 2>/dev/null | sed 's/^\(trusted.overlay.\(upper\|uuid\)\)=.*/\1/') |
    sed 's/#[0-9a-f]*/#/g' > "$T/fp.txt"   # an upper handle holds a random inode generation
  [ -n "${CRASH_SWEEP_DEBUG:-}" ] && cp "$T/fp.txt" "/tmp/oj-crash-fp.$TOTAL"
  md5sum < "$T/fp.txt" | cut -c1-32
  detach "$T/fs"
}

# fsck_why K FSCK: fsck's report judged by what the kernel's mount did (K.index-before/after): every finding must be
# one the kernel's mount acted on (an index entry it changed) or a temporary, and every change must be reported
fsck_why() {
  local changed why=""; changed=$(comm -3 "$1.index-before" "$1.index-after" | awk '{print $NF}' | sort -u)
  while read -r line; do
    case $line in
      "fsck: "*|"") ;;
      work-temp:*|index-temp:*) ;;
      index-orphan:*"a temporary in the work dir"*) ;;   # whited out at this mount or the next (readdir order)
      # an upper directory or file whose copy-up or removal stopped before its index entry: served by the kernel
      # (no change at mount); --repair writes the entry (judged by -k: repair_check; DirIndexCompletionTest)
      index-missing:*) ;;
      index-orphan:*|index-stale:*)
        local e=${line#*work/index/}; e=${e%%:*}
        grep -qx "$e" <<<"$changed" || why+=" fsck-predicts-wrong($e)" ;;
      *) why+=" fsck:${line%%:*}" ;;
    esac
  done < "$2"
  for e in $changed; do grep -q "work/index/$e" "$2" || why+=" fsck-missed($e)"; done
  echo "$why"
}

# check NAME FEATURES IMG: the four checks on a crashed image (once per distinct state of the layers)
check() {
  local name=$1 feat=$2 img=$3 d=$T/check
  local fp; fp=$(fingerprint "$img")
  TOTAL=$((TOTAL + 1))
  if [ -n "${SEEN[$fp]:-}" ]; then return 0; fi
  SEEN[$fp]=$name; STATES=$((STATES + 1))
  rm -rf "$d"; mkdir -p "$d"
  cp --sparse=always "$img" "$d/k.img"; cp --sparse=always "$img" "$d/o.img"
  ts copied; kernel_tree "$d/k.img" "$feat" "$d/k"
  ts kernel; overlayj_tree "$d/o.img" "$feat" "$d/o"; ts overlayj
  local why=""
  grep -q -e '^!!' -e 'Input/output error' -e 'Stale file handle' -e 'No such file' "$d/k" && why+=" kernel-errors"
  [ -s "$d/k.kmsg" ] && why+=" kernel-log"
  # the kernel's mount changed an index entry: a repair, which it logs (rate-limited, so the log alone can miss it)
  [ -z "${KMSG_OK:-}" ] && ! cmp -s "$d/k.index-before" "$d/k.index-after" && why+=" kernel-repaired-index"
  # Under nfs_export the kernel shows a copied-up single-link file with nlink 2 after a remount (format doc
  # §5.5, E14), also after its own complete copy-up: the same state as far as this check goes.
  quirk() { sed -E '/\/(h1|h2|h3) nlink/!s/ nlink=2$/ nlink=1/' "$1"; }
  cmp -s <(quirk "$d/k") <(quirk "$REF/before") || cmp -s <(quirk "$d/k") <(quirk "$REF/after") ||
    why+=" third-state"
  cmp -s "$d/k" "$d/o" || why+=" overlayj-differs"
  why+=$(fsck_why "$d/k" "$d/o.fsck")
  if [ -n "${CRASH_SWEEP_KEEP:-}" ]; then
    local kd=$CRASH_SWEEP_KEEP/$STATES; mkdir -p "$kd"
    cp --sparse=always "$img" "$kd/crashed.img"; cp "$d/k.index-before" "$d/k.index-after" "$d/o.fsck" "$kd/"
    printf '%s\n%s\n%s\n' "$name" "$feat" "$FS" > "$kd/what"
  fi
  if [ -n "$why" ]; then
    bad "$name:$why"
    local keep=$T/../oj-crash-bad.$name.$TOTAL; rm -rf "$keep"; cp -r "$d" "$keep"; rm -f "$keep"/*.img
    cp --sparse=always "$img" "$keep/crashed.img"; echo "   kept in $keep"
    diff "$REF/before" "$d/k" | head -8 | sed 's/^/   before> /'
    diff "$d/k" "$d/o" | head -8 | sed 's/^/   k-vs-o> /'
    head -5 "$d/k.kmsg" "$d/o.fsck" | sed 's/^/   /'
  fi
}

# run_op OPTS PREP OP [INJECT]: a fresh copy of the base image, a server, PREP, then OP, with strace attached
# (only tracing when INJECT is empty). Leaves the image in $T/run.img; prints the strace output file.
# A PREP part after "@offline" runs on the unmounted layers (F set to them); the OP "@mount" is the start of a
# server (its mount-time checks and clean-up) on the layers PREP left, under strace from its first call.
run_op() {
  local feat=$1 prep=${2%%@offline*} offline="" op=$3 inject=${4:-}
  [[ $2 == *@offline* ]] && offline=${2#*@offline}
  cp --sparse=always "$T/base.img" "$T/run.img"
  attach "$T/run.img" "$T/fs" || return 1
  ts start; start_server "$(opts $T/fs "$feat")" "$T/m" || { echo "server did not mount" >&2; return 1; }
  ts started; M=$T/m sh -c "$prep" >/dev/null 2>&1
  : > "$T/trace"
  if [ "$op" = "@mount" ]; then
    stop_server "$T/m"
    F=$T/fs sh -c "$offline" >/dev/null 2>&1
    # strace starts the server: its pid is strace's, which ends when the server is killed
    SERVER=$(setsid sh -c 'echo $$; exec strace -f -qq -y -e trace="$4" ${5:+-e inject=$5} -o "$6" \
             "$0" -f -s -o "$1" "$2" >>"$3" 2>&1 </dev/null' "$OJ" "$(opts $T/fs "$feat")" "$T/m" \
             "$T/logs/server.out" "$SYSCALLS" "$inject" "$T/trace" & )
    SERVER=$(head -1 <<<"$SERVER")
    wait_mounted "$T/m" "$SERVER"; ts op-done
    local died=0
    if [ -n "$inject" ]; then
      for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
      kill -0 "$SERVER" 2>/dev/null || died=1
    fi
    stop_server "$T/m"; detach "$T/fs"; ts stopped
    if [ -n "$inject" ] && [ $died -eq 0 ]; then return 3; fi
    return 0
  fi
  tree "$T/m" >/dev/null 2>&1                       # every lookup done before the kill is armed
  local tids; tids=$(ls /proc/$SERVER/task | sed 's/^/-p /' | tr '\n' ' ')
  strace -f $tids -y -e trace=$SYSCALLS ${inject:+-e inject=$inject} -o "$T/trace" -qq 2>/dev/null &
  local st=$!
  for _ in $(seq 200); do
    ! grep -q 'TracerPid:[[:space:]]*0$' /proc/$SERVER/task/*/status 2>/dev/null && break
    sleep 0.02
  done
  ts attached; M=$T/m timeout 20 sh -c "$op" >/dev/null 2>&1; ts op-done
  sleep 0.1
  if [ -n "$inject" ]; then
    for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
  fi
  local died=0; kill -0 "$SERVER" 2>/dev/null || died=1
  kill "$st" 2>/dev/null; wait "$st" 2>/dev/null
  ts strace-gone; stop_server "$T/m"
  F=$T/fs sh -c "$offline" >/dev/null 2>&1
  detach "$T/fs"; ts stopped
  if [ -n "$inject" ] && [ $died -eq 0 ]; then return 3; fi
  return 0
}

# the reference trees: before (after PREP) and after the operation, both through the kernel, after a remount
reference() { # reference FEATURES PREP OP
  REF=$T/ref; rm -rf "$REF"; mkdir -p "$REF"
  run_op "$1" "$2" "true" || return 1
  kernel_tree "$T/run.img" "$1" "$REF/before"
  run_op "$1" "$2" "$3" || return 1
  cp "$T/trace" "$REF/trace"
  [ -n "${CRASH_SWEEP_DEBUG:-}" ] && cp "$T/trace" /tmp/oj-crash-last-trace
  kernel_tree "$T/run.img" "$1" "$REF/after"
}

# repair_check KD FEAT: a kept state in which fsck finds objects without their index entry (index-missing):
# `fsck --repair` on a copy writes the entries; the kernel's mount of the result must then log nothing, change no
# index entry and show the tree the kernel shows for the state as it was, and fsck must find nothing left to write.
repair_check() {
  local why="" n
  cp --sparse=always "$1/crashed.img" "$T/rq.img"; cp --sparse=always "$1/crashed.img" "$T/rp.img"
  kernel_tree "$T/rq.img" "$2" "$T/rq"
  attach "$T/rp.img" "$T/fs" $NOUUID || { echo " repair-attach-failed"; return; }
  "$OJ" fsck --repair -o "$(opts $T/fs "$2")" > "$T/rp.repair" 2>&1
  detach "$T/fs"
  kernel_tree "$T/rp.img" "$2" "$T/rp"
  n=$(grep -c '^index-missing:.*\[repaired\]' "$T/rp.repair")
  [ "$(comm -13 "$T/rq.index-before" "$T/rp.index-before" | grep -c '^[dfl] ')" -gt 0 ] && [ "$n" -gt 0 ] ||
    why+=" repair-wrote-no-entry"
  [ -s "$T/rp.kmsg" ] && why+=" repair-kernel-log"
  cmp -s "$T/rp.index-before" "$T/rp.index-after" || why+=" repair-kernel-changed-index"
  # (a single-link file shows nlink 2 once indexed, after a remount: format doc §5.5, as check()'s quirk)
  local q='/\/(h1|h2|h3) nlink/!s/ nlink=2$/ nlink=1/'
  cmp -s <(sed -E "$q" "$T/rq") <(sed -E "$q" "$T/rp") || why+=" repair-changed-tree"
  attach "$T/rp.img" "$T/fs" $NOUUID && { "$OJ" fsck -o "$(opts $T/fs "$2")" > "$T/rp.fsck" 2>&1; detach "$T/fs"; }
  grep -q '^index-missing:' "$T/rp.fsck" && why+=" repair-incomplete"
  echo "$why"
}

# -k DIR: this checkout's fsck again on each state a sweep kept (CRASH_SWEEP_KEEP), judged as check() judges it;
# where it reports a directory without its index entry, its --repair is judged too (repair_check)
if [ -n "$RECHECK" ]; then
  n=0
  for kd in "$RECHECK"/*/; do
    [ -f "$kd/what" ] || continue
    [ -n "${CRASH_SWEEP_RECHECK_NEW:-}" ] && [ -f "$kd/rechecked" ] && continue   # (done by an earlier -k)
    { read -r name; read -r feat; read -r kfs; } < "$kd/what"
    NOUUID=""; [ "$kfs" = xfs ] && NOUUID=nouuid
    cp --sparse=always "$kd/crashed.img" "$T/re.img"
    attach "$T/re.img" "$T/fs" $NOUUID || { bad "$name: attach failed"; continue; }
    "$OJ" fsck -o "$(opts $T/fs "$feat")" > "$T/re.fsck" 2>&1
    detach "$T/fs"; n=$((n + 1))
    cp "$kd/k.index-before" "$T/re.index-before"; cp "$kd/k.index-after" "$T/re.index-after"
    # (the entries' names are the same: the copy keeps the image's uuid and inodes)
    why=$(fsck_why "$T/re" "$T/re.fsck")
    # (as check(): outside the mount-time clean-up, an index entry the kernel's mount changed was a repair)
    case $name in mount-cleanup*|random*) ;; *) cmp -s "$kd/k.index-before" "$kd/k.index-after" || why+=" kernel-repaired-index" ;; esac
    cmp -s <(grep -v '^fsck: ' "$kd/o.fsck") <(grep -v '^fsck: ' "$T/re.fsck") ||
      echo "   ($name: fsck's report changed: $(diff "$kd/o.fsck" "$T/re.fsck" | grep '^[<>]' | head -4 | tr '\n' ' '))"
    if grep -q '^index-missing:' "$T/re.fsck"; then
      UUIDHEX=$(blkid -s UUID -o value "$kd/crashed.img" | tr -d -)   # (the kept image's: its kernel log lines)
      rw=$(repair_check "$kd" "$feat"); why+=$rw; REPAIRED=$((${REPAIRED:-0} + 1))
      [ -n "$rw" ] && head -5 "$T/rp.repair" "$T/rp.kmsg" | sed 's/^/   /'
    fi
    [ -n "$why" ] && { bad "$name ($kfs):$why"; head -5 "$T/re.fsck" | sed 's/^/   /'; }
    echo "${why:-ok}" > "$kd/rechecked"
  done
  echo "fsck recheck: $n states (${REPAIRED:-0} with objects without their index entry, repaired and mounted), $BAD bad"
  [ $BAD -eq 0 ]; exit
fi

# -o runs the chosen operations in the order given (two sweeps can share the list from both ends)
ORDER=("${OPS[@]}")
if [ -n "$ONLY" ]; then
  ORDER=()
  for want in ${ONLY//,/ }; do
    found=""
    for spec in "${OPS[@]}"; do [ "${spec%%|*}" = "$want" ] && ORDER+=("$spec") && found=1; done
    [ -z "$found" ] && { echo "unknown operation $want"; exit 2; }
  done
fi
for spec in "${ORDER[@]}"; do
  IFS='|' read -r name feat prep op <<<"$spec"
  TREE_MTIME=""; [ "$name" = utimes ] && TREE_MTIME=1   # (times are compared for this one only)
  # (the kernel logs each stale entry it removes as "failed to verify index (..., err=-116)"; fsck must predict it)
  KMSG_OK=""; [ "$op" = "@mount" ] && KMSG_OK='(orphan|stale) index entry|failed to verify index \(index/[0-9a-f]+, ftype=[0-9a-f]+, err=-116\)'
  reference "$feat" "$prep" "$op" || { bad "$name: reference run failed"; continue; }
  if grep -q -e '^!!' -e 'error' "$REF/before" "$REF/after" || [ -s "$REF/after.kmsg" ]; then
    bad "$name: the reference trees have errors"; continue
  fi
  # the serving thread's layer-changing calls, by name: SIGKILL at the entry of each
  # (only calls on the layers count: strace -y names each fd's file; a start-up also opens the JVM's files)
  tid=$(awk -v L="$T/fs/" 'index($0, L) && /^[0-9]+ +(linkat|renameat2|unlinkat|openat|fsetxattr|mkdirat|mknodat|pwrite64|fchmodat|fchownat|utimensat|fsync|lsetxattr|setxattr)\(/ {print $1}' "$REF/trace" | sort | uniq -c | sort -rn | awk 'NR==1 {print $2}')
  points=0
  # ordinal of each call among the thread's calls of its name; opens and ioctls only where they create or clone
  for sc in $(awk -v t="$tid" -v L="$T/fs/" '$1 == t && $2 ~ /^[a-z_0-9]+\(/ { s = $2; sub(/\(.*/, "", s); n[s]++
        if (!index($0, L)) next
        if ((s == "openat" || s == "open") && $0 !~ /O_CREAT|O_TMPFILE|O_TRUNC/) next
        if (s == "ioctl" && $0 !~ /FICLONE/) next
        print s ":" n[s] }' "$REF/trace"); do
    s=${sc%%:*} i=${sc##*:}
    [ "$MAXN" -gt 0 ] && [ "$i" -gt "$MAXN" ] && continue
    [ -n "${CRASH_SWEEP_CALLS:-}" ] && ! grep -qw -- "$s" <<<"${CRASH_SWEEP_CALLS//,/ }" && continue
    run_op "$feat" "$prep" "$op" "$s:signal=SIGKILL:when=$i"; rc=$?
    if [ $rc -eq 3 ]; then echo "   ($name: $s #$i was not reached)"; continue; fi
    [ $rc -ne 0 ] && { bad "$name $s#$i: run failed"; continue; }
    points=$((points + 1))
    check "$name $s#$i" "$feat" "$T/run.img"
  done
  echo "crash points $name: $points ($(awk -v t="$tid" '$1 == t {sub(/\(.*/, "", $2); print $2}' "$REF/trace" | sort | uniq -c | awk '{printf "%s%s=%d", sep, $2, $1; sep=" "}'))"
done

# random kills over a mixed workload with lower hard links: each round kills the server after a random delay
if [ "$RANDOM_ROUNDS" -gt 0 ]; then
  WORK='for i in 1 2 3; do echo $i >> $M/d/f; ln $M/h1 $M/h$i.l 2>/dev/null; mv $M/d/g $M/g$i 2>/dev/null; mv $M/g$i $M/d/g 2>/dev/null; rm -f $M/h$i.l; touch $M/dd/n$i; mv $M/dd $M/dd$i; mv $M/dd$i $M/dd; echo $i >> $M/h1; rm -f $M/dd/n$i; done'
  for seed in $(seq 1 "$RANDOM_ROUNDS"); do
    RANDOM=$seed
    REF=$T/ref; mkdir -p "$REF"
    cp --sparse=always "$T/base.img" "$T/run.img"
    attach "$T/run.img" "$T/fs"
    start_server "$(opts $T/fs "$NFS")" "$T/m"
    delay=$(printf '0.%03d' $((RANDOM % 800)))
    (M=$T/m sh -c "$WORK" >/dev/null 2>&1 &) ; sleep "$delay"; kill -9 "$SERVER"
    stop_server "$T/m"; detach "$T/fs"
    # no before/after for a workload: the kernel's tree must be error-free and overlayj's the same
    cp --sparse=always "$T/run.img" "$T/ref.img"
    kernel_tree "$T/ref.img" "$NFS" "$REF/before"; cp "$REF/before" "$REF/after"
    TOTAL_BEFORE=$BAD
    check "random seed=$seed delay=$delay" "$NFS" "$T/run.img"
    [ $BAD -gt $TOTAL_BEFORE ] && echo "   (random seed $seed)"
  done
  echo "random kills: $RANDOM_ROUNDS rounds"
fi
echo "crash sweep ($FS): $TOTAL points, $STATES distinct layer states checked, $BAD bad"
[ $BAD -eq 0 ]
