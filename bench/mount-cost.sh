#!/usr/bin/env bash
# mount-cost: what a mount costs, overlayj (the resident server: bin/overlayj of this checkout) against
# fuse-overlayfs, in the same run (issue 18). Each implementation mounts N small 3-layer overlays one after the
# other (each its own upper and work dir), from the launcher's start to a live mount; then the resident memory of
# all its processes is summed and divided by N; then each mount is unmounted with umount(8), timed. Then the busy
# case: BUSY mounts at once, each running a CREATES-file create workload at the same time; per-mount times.
#
#   sudo bench/mount-cost.sh                  # N=50 BUSY=20 CREATES=2000 STANDALONE=5
#   N=20 BUSY=5 bench/mount-cost.sh
#
# STANDALONE mounts with -o no_shared (one JVM per mount, the path before the resident server) are timed too, for
# "the first mount is no slower than it was", each after a first mount of a fresh resident server (a runtime
# directory of its own), alternating, so that both meet the page cache and the machine in the same state; and one
# JVM start (overlayj --version) comes before everything, so that mount 1 does not pay for reading the JDK's and
# the AOT cache's pages from disk that the later starts find cached. Everything runs in a private mount namespace of its own (a fresh
# resident server, keyed by that namespace, and no other process's namespace keeps a copy of these mounts), in a
# runtime directory of its own.
#
# PHASES=1 also prints where a shared mount's time goes: the server logs each mount's phases (wall and thread CPU
# microseconds, -Doverlayj.mountTrace=true, which the launcher hands it through OVERLAYJ_JAVA_OPTS) and
# overlayj-client its own moments ($OVERLAYJ_MOUNT_TRACE); medians over mounts 2..N (bench/README.md).
set -uo pipefail
N=${N:-50}
BUSY=${BUSY:-20}
CREATES=${CREATES:-2000}
STANDALONE=${STANDALONE:-5}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
OJ="$REPO/bin/overlayj"
[ "$(id -u)" = 0 ] || { echo "mount-cost: needs root" >&2; exit 1; }
command -v fuse-overlayfs >/dev/null || { echo "mount-cost: needs fuse-overlayfs" >&2; exit 1; }
if [ -z "${MOUNT_COST_NS:-}" ]; then
  exec unshare -m --propagation private env MOUNT_COST_NS=1 "$0" "$@"
fi
T=$(mktemp -d "${BASE:-/tmp}/mount-cost.XXXXXX")
mkdir -m 700 "$T/run"
export OVERLAYJ_RUNTIME_DIR="$T/run" OVERLAYJ_LOG_DIR="$T/logs" OVERLAYJ_LINGER=${OVERLAYJ_LINGER:-2}
mkdir -p "$T/logs"
cleanup() {
  local m
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done
  local p
  for p in $(pgrep -f "$T"); do kill "$p" 2>/dev/null; done   # only processes naming this run's directory: its servers
  rm -rf "$T"
}
trap cleanup EXIT

# three small lower layers: a few dirs and files, a whiteout and an opaque dir in the middle one
for l in 1 2 3; do
  mkdir -p "$T/l$l/etc" "$T/l$l/usr/lib/d$l" "$T/l$l/opq"
  for i in $(seq 1 20); do echo "layer $l file $i" > "$T/l$l/usr/lib/d$l/f$i"; done
  echo "conf $l" > "$T/l$l/etc/conf"
done
mknod "$T/l2/etc/gone" c 0 0
setfattr -n trusted.overlay.opaque -v y "$T/l2/opq"
LOWER="$T/l3:$T/l2:$T/l1"

now_ms() { echo "${EPOCHREALTIME/./}"; }     # microseconds, no process
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) {print "-"; exit} m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f\n", m}'; }
rss_mib() {   # resident memory of every process whose command line names $1 (and $2), in MiB
  local sum=0 p
  for p in $(pgrep -f "$1"); do
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$2" || continue
    sum=$((sum + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  awk -v s="$sum" 'BEGIN {printf "%.1f\n", s / 1024}'
}

# mount_one IMPL I: mounts overlay I; prints the milliseconds from the launcher's start to its return (live)
mount_one() {
  local impl=$1 i=$2 d="$T/$1/$2" t0 t1
  mkdir -p "$d/u" "$d/w" "$d/m"
  t0=$(now_ms)
  case $impl in
    overlayj) if [ -n "${PHASES:-}" ]; then
                OVERLAYJ_JAVA_OPTS="${OVERLAYJ_JAVA_OPTS:-} -Doverlayj.mountTrace=true" OVERLAYJ_MOUNT_TRACE=1 \
                  "$OJ" -o "lowerdir=$LOWER,upperdir=$d/u,workdir=$d/w" "$d/m" 2>> "$T/client-trace" \
                  && echo "launcher i=$i t0=$t0" >> "$T/client-trace"
              else
                "$OJ" -o "lowerdir=$LOWER,upperdir=$d/u,workdir=$d/w" "$d/m"
              fi ;;
    standalone) "$OJ" -o "lowerdir=$LOWER,upperdir=$d/u,workdir=$d/w,no_shared" "$d/m" ;;
    first) OVERLAYJ_RUNTIME_DIR="$T/run-$i" OVERLAYJ_LINGER=0 "$OJ" -o "lowerdir=$LOWER,upperdir=$d/u,workdir=$d/w" "$d/m" ;;
    fuse-overlayfs) fuse-overlayfs -o "lowerdir=$LOWER,upperdir=$d/u,workdir=$d/w" "$d/m" 2>>"$T/logs/fuse-overlayfs" ;;
  esac || { echo "mount-cost: $impl mount $i failed" >&2; exit 1; }
  t1=$(now_ms)
  [ "$(cat "$d/m/etc/conf")" = "conf 3" ] || { echo "mount-cost: $impl mount $i does not show the layers" >&2; exit 1; }
  echo $(( (t1 - t0) / 1000 ))
}
umount_one() {
  local t0 t1
  t0=$(now_ms); umount "$T/$1/$2/m" || exit 1; t1=$(now_ms)
  echo $(( (t1 - t0) / 1000 ))
}

declare -A FIRST REST UMOUNT RSS
"$OJ" --version > /dev/null 2>&1
for impl in overlayj fuse-overlayfs; do
  : > "$T/$impl.mount"
  for i in $(seq 1 "$N"); do mount_one "$impl" "$i" >> "$T/$impl.mount" || exit 1; done
  sleep 1                                      # idle: what the mounts hold when nothing happens
  case $impl in
    overlayj) RSS[$impl]=$(rss_mib "$T" org.overlayj) ;;
    *) RSS[$impl]=$(rss_mib "$T" fuse-overlayfs) ;;
  esac
  [ "$impl" = overlayj ] && { "$OJ" status | head -3; echo "  ..."; }
  : > "$T/$impl.umount"
  for i in $(seq 1 "$N"); do umount_one "$impl" "$i" >> "$T/$impl.umount"; done
  FIRST[$impl]=$(head -1 "$T/$impl.mount")
  REST[$impl]=$(tail -n +2 "$T/$impl.mount" | median)
  UMOUNT[$impl]=$(median < "$T/$impl.umount")
done
: > "$T/standalone.mount"; : > "$T/first.mount"
for i in $(seq 1 "$STANDALONE"); do
  mkdir -m 700 "$T/run-$i"
  mount_one first "$i" >> "$T/first.mount" || exit 1
  umount "$T/first/$i/m"
  mount_one standalone "$i" >> "$T/standalone.mount" || exit 1
  umount "$T/standalone/$i/m"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1fx", a / b; else print "-"}'; }
echo
echo "mount-cost: $N mounts of a 3-layer overlay each ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-34s %12s %16s %8s\n" "" overlayj fuse-overlayfs ratio
printf "%-34s %12s %16s %8s\n" "mount 1, ms" "${FIRST[overlayj]}" "${FIRST[fuse-overlayfs]}" "$(ratio "${FIRST[overlayj]}" "${FIRST[fuse-overlayfs]}")"
printf "%-34s %12s %16s %8s\n" "mounts 2..$N, median ms" "${REST[overlayj]}" "${REST[fuse-overlayfs]}" "$(ratio "${REST[overlayj]}" "${REST[fuse-overlayfs]}")"
printf "%-34s %12s %16s %8s\n" "umount, median ms" "${UMOUNT[overlayj]}" "${UMOUNT[fuse-overlayfs]}" "$(ratio "${UMOUNT[overlayj]}" "${UMOUNT[fuse-overlayfs]}")"
ro=$(awk -v s="${RSS[overlayj]}" -v n="$N" 'BEGIN {printf "%.1f", s / n}')
rf=$(awk -v s="${RSS[fuse-overlayfs]}" -v n="$N" 'BEGIN {printf "%.1f", s / n}')
printf "%-34s %12s %16s %8s\n" "RSS of all processes / $N, MiB" "$ro" "$rf" "$(ratio "$ro" "$rf")"
printf "%-34s %12s\n" "RSS of all processes, MiB" "${RSS[overlayj]} / ${RSS[fuse-overlayfs]}"
printf "%-34s %12s\n" "first mounts of a fresh server, ms" "$(tr '\n' ' ' < "$T/first.mount")(median $(median < "$T/first.mount"))"
printf "%-34s %12s\n" "standalone (-o no_shared) mounts, ms" "$(tr '\n' ' ' < "$T/standalone.mount")(median $(median < "$T/standalone.mount"))"

if [ -n "${PHASES:-}" ]; then
  echo
  echo "phases of mounts 2..$N (median microseconds: wall / the request thread's CPU; client: its own moments)"
  python3 - "$T/client-trace" "$T"/logs/overlayj_*.log <<'PY'
import re, statistics, sys
med = statistics.median
client, logs = sys.argv[1], sys.argv[2:]
lines = [l for f in logs for l in open(f, errors="replace") if "mount trace (us):" in l]
wall, cpu, order = {}, {}, []
for l in lines:
    for k, w, c in re.findall(r"(\S+)=(\d+)/(\d+)", l.split("(us):")[1]):
        if k not in wall: order.append(k); wall[k] = []; cpu[k] = []
        wall[k].append(int(w)); cpu[k].append(int(c))
for k in order:
    print("  %-22s %8.0f %8.0f" % (k, med(wall[k]), med(cpu[k])))
rows, cur = [], {}
for l in open(client):
    d = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", l)}
    if l.startswith("client trace"): cur = d
    elif l.startswith("launcher") and cur: d.update(cur); rows.append(d); cur = {}
if rows:
    print("  launcher start to client start %.0f; client start to request sent %.0f; sent to reply %.0f"
          % (med([r["start"] - r["t0"] for r in rows]), med([r["sent"] - r["start"] for r in rows]),
             med([r["reply"] - r["sent"] for r in rows])))
PY
fi

# busy: BUSY mounts at once, each creating CREATES files
echo
echo "busy: $BUSY mounts at once, $CREATES creates each (seconds per mount)"
for impl in overlayj fuse-overlayfs; do
  for i in $(seq 1 "$BUSY"); do mount_one "$impl" "b$i" > /dev/null || exit 1; done
  t0=$(now_ms)
  for i in $(seq 1 "$BUSY"); do
    python3 -c '
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t = time.monotonic()
for i in range(n):
    os.close(os.open(f"{d}/c{i}", os.O_CREAT | os.O_WRONLY, 0o644))
print(f"{time.monotonic() - t:.2f}")' "$T/$impl/b$i/m/usr" "$CREATES" > "$T/$impl.busy.$i" &
  done
  wait
  t1=$(now_ms)
  times=$(cat "$T/$impl".busy.* | sort -n | tr '\n' ' ')
  printf "%-15s all done in %.2f s; per mount: %s\n" "$impl" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e6}')" "$times"
  for i in $(seq 1 "$BUSY"); do
    [ "$(ls "$T/$impl/b$i/m/usr" | grep -c '^c')" = "$CREATES" ] || echo "mount-cost: $impl b$i lost creates" >&2
    umount "$T/$impl/b$i/m"
  done
done
