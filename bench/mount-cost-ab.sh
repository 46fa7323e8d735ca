#!/usr/bin/env bash
# mount-cost-ab: shared-mount times of overlayj checkouts against each other and fuse-overlayfs, for a machine whose
# load moves (issue 18): each run mounts N small 3-layer overlays through one checkout's bin/overlayj (its own
# resident server, in a private mount namespace), a fuse-overlayfs mount after each, and prints the medians of
# mounts 2..N with the ratio against the fuse-overlayfs mounts of the same run; ROUNDS runs per checkout, the
# checkouts alternating (A B A B ...). Each checkout needs its build and its AOT cache (scripts/aot-train.sh).
#
#   sudo bench/mount-cost-ab.sh old=/path/to/old-checkout new=/path/to/new-checkout      # N=40 ROUNDS=3
#
# (All checkouts at once in one run would be unfair: a fresh server's warm-up takes CPU from the others' mounts.)
set -u
[ "$(id -u)" = 0 ] || { echo "mount-cost-ab: needs root" >&2; exit 1; }
if [ -z "${MOUNT_COST_NS:-}" ]; then
  for r in $(seq 1 "${ROUNDS:-3}"); do
    for v in "$@"; do MOUNT_COST_NS=1 VARIANTS="${v%%=*}:${v#*=}" unshare -m --propagation private "$0" || exit 1; done
  done
  exit 0
fi
export T=$(mktemp -d "${BASE:-/tmp}/mount-cost-ab.XXXXXX")
mkdir -m 700 $T/run; mkdir $T/logs
cleanup() {
  local m p
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount "$m" 2>/dev/null || umount -l "$m"; done
  sleep 2.5                                    # the servers' linger (2 s), then any left are told to go
  for p in $(pgrep -f "$T"); do kill "$p" 2>/dev/null; done   # only processes naming this run's directory
  rm -rf "$T"
}
trap cleanup EXIT
export OVERLAYJ_RUNTIME_DIR="$T/run" OVERLAYJ_LOG_DIR="$T/logs" OVERLAYJ_LINGER=2
for l in 1 2 3; do
  mkdir -p "$T/l$l/etc" "$T/l$l/usr/lib/d$l" "$T/l$l/opq"
  for i in $(seq 1 20); do echo "layer $l file $i" > "$T/l$l/usr/lib/d$l/f$i"; done
  echo "conf $l" > "$T/l$l/etc/conf"
done
mknod "$T/l2/etc/gone" c 0 0
setfattr -n trusted.overlay.opaque -v y "$T/l2/opq"
LOWER="$T/l3:$T/l2:$T/l1"
N=${N:-40}
VARIANTS=${VARIANTS:?}
now() { echo "${EPOCHREALTIME/./}"; }
for v in $VARIANTS; do "${v#*:}/bin/overlayj" --version >/dev/null 2>&1; done
for i in $(seq 1 $N); do
  for v in $VARIANTS fuse-overlayfs:; do
    name=${v%%:*}; d="$T/$name/$i"; mkdir -p $d/u $d/w $d/m
    t0=$(now)
    if [ "$name" = fuse-overlayfs ]; then fuse-overlayfs -o "lowerdir=$LOWER,upperdir=$d/u,workdir=$d/w" $d/m 2>/dev/null
    else "${v#*:}/bin/overlayj" -o "lowerdir=$LOWER,upperdir=$d/u,workdir=$d/w" $d/m; fi || { echo "$name mount $i failed"; exit 1; }
    t1=$(now)
    echo "$name $i $(( (t1 - t0) / 1000 ))" >> $T/times
    cat $d/m/etc/conf > /dev/null
  done
done
python3 - $T/times "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys, statistics, collections
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    n, i, ms = l.split(); 
    if int(i) > 1: t[n].append(int(ms))
f = statistics.median(t['fuse-overlayfs'])
print("mounts 2..N medians (load %s):" % sys.argv[2], ", ".join("%s %.1f ms (%.1fx, p25 %.0f p75 %.0f)" % (n, statistics.median(v), statistics.median(v) / f, *statistics.quantiles(v, n=4)[0:3:2]) for n, v in t.items()))
PY
grep -h "warm-up" $T/logs/* 2>/dev/null | sed 's/.*warm-up/  warm-up/'
