#!/usr/bin/env bash
# creates-ab: an interleaved A/B of one row, overlay-bench's small-file creates (issue 20), for the kernel overlay,
# fuse-overlayfs and overlayj builds/switches. A measurement, not a test: it asserts nothing.
#
#   sudo bench/creates-ab.sh                                  # needs root (loop devices, mounts, tracefs)
#   OJ_BASE=/work/base-63f8a19 ROUNDS=8 VARIANTS="fuse-overlayfs overlayj-base overlayj \
#       overlayj:-Doverlayj.fuse.spinMicros=0" bench/creates-ab.sh
#
# AWAKE=1: a SCHED_IDLE busy loop on every CPU during the run, so that no CPU halts between round trips (see
#      awake_start in bench/rounds.sh: on this VM a halted CPU's wake-up is tens of microseconds).
# Per round, each variant in turn (the order rotated by one each round): a fresh ext4 filesystem without a journal
# on a loop device of its own (ext4 skips inodes freed in the last ~30 s when it allocates one, so a filesystem where
# anything was deleted lately makes every create slower: bench/README.md), a lower directory of 50 files, a mount of
# it with fresh upper/work dirs, a listing of the directory (overlay-bench's walk has listed it too), then CREATES
# times `echo ... > DIR/newN` from one shell, as overlay-bench does; then unmount. Printed per round, then as medians
# [min-max] per variant:
#   us/create  the shell's wall time per create
#   srv_us     the server's CPU per create (sum of its threads' schedstat; "-" for the kernel): the serving work
#              plus any spinning for the next request
#   cross      the share of the shell's FUSE requests whose reply was written on another CPU than the one the
#              request was sent from (tracefs fuse:fuse_request_send/_end of the mount's connection): such a reply
#              wakes the shell on a CPU that went idle meanwhile, which on this VM costs ~15-20 us per request
#              (a halted virtual CPU's wake-up); a same-CPU round trip costs ~4 us (bench/README.md, creates sections)
#   reqs       the shell's FUSE requests per create
# Load moves where the scheduler puts the shell and the server, and so the wall figures, more than any code change
# here: compare srv_us and cross first, and rank nothing by one round's wall time.
#
# VARIANTS (default "fuse-overlayfs overlayj"): kernel | fuse-overlayfs | overlayj (this checkout) | overlayj-base
# (the build in $OJ_BASE) | overlayj:OPTS or overlayj-base:OPTS, OPTS being JVM options for that build's server
# joined by '+'. Every overlayj variant gets a resident server of its own (its own OVERLAYJ_RUNTIME_DIR), kept
# between rounds and stopped at the end; the /dev/fuse loop (OVERLAYJ_FUSE_URING=off). Other env: ROUNDS (default 6),
# CREATES (default 2000), KEEP=1 keeps the work directory.
set -uo pipefail

ROUNDS=${ROUNDS:-6}
CREATES=${CREATES:-2000}
VARIANTS=${VARIANTS:-"fuse-overlayfs overlayj"}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/rounds.sh"
[ "$(id -u)" = 0 ] || { echo "creates-ab: needs root (loop devices, mounts, tracefs)" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/overlayj-creates-ab.XXXXXX)
FS="$ROOT/fs" M="$ROOT/mnt" INST=/sys/kernel/tracing/instances/overlayj-creates-ab.$$
SERVERS=()

cleanup() {
    local i p
    awake_stop
    unmount_mnt "$M"
    for p in "${SERVERS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for i in $(seq 30); do mountpoint -q "$FS" 2>/dev/null || break; umount "$FS" 2>/dev/null || sleep 0.2; done
    mountpoint -q "$FS" 2>/dev/null && umount -l "$FS"
    [ -d "$INST" ] && { echo 0 > "$INST/tracing_on"; rmdir "$INST" 2>/dev/null; }
    if [ "${KEEP:-0}" = 1 ]; then echo "creates-ab: kept $ROOT" >&2; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$FS" "$M"
[ -d /sys/kernel/tracing/instances ] || mount -t tracefs nodev /sys/kernel/tracing
mkdir "$INST" || { echo "creates-ab: no tracefs instance ($INST)" >&2; exit 1; }
echo 0 > "$INST/tracing_on"
echo 16384 > "$INST/buffer_size_kb"

# the shell's requests on the connection: "requests cross-CPU-replies" from the trace of the last run
count_requests() { # count_requests SHELL_PID
    awk -v sh="$1" '
        /fuse_request_send:/ { match($0, /-[0-9]+ +\[/); p = substr($0, RSTART + 1, RLENGTH - 1) + 0
            if (p != sh) next; match($0, /\[[0-9]+\]/); c = substr($0, RSTART + 1, RLENGTH - 2) + 0
            match($0, /req [0-9]+/); sent[substr($0, RSTART + 4, RLENGTH - 4)] = c; n++ }
        /fuse_request_end:/ { match($0, /req [0-9]+/); u = substr($0, RSTART + 4, RLENGTH - 4)
            if (!(u in sent)) next; match($0, /\[[0-9]+\]/); c = substr($0, RSTART + 1, RLENGTH - 2) + 0
            if (c != sent[u]) x++; delete sent[u] }
        END { printf "%d %d\n", n, x }' "$INST/trace"
}

declare -A R
awake_start
for ((round = 0; round < ROUNDS; round++)); do
  idx=0
  # shellcheck disable=SC2086 # the variants' names, one word each
  for v in $(round_order "$round" $VARIANTS); do
    idx=$(variant_index "$v")
    rm -f "$ROOT/fs.img"; truncate -s 512M "$ROOT/fs.img"
    mkfs.ext4 -q -F -O ^has_journal "$ROOT/fs.img" && mount -o loop "$ROOT/fs.img" "$FS" || exit 1
    mkdir -p "$FS/l/d" "$FS/u" "$FS/w"
    for i in $(seq 50); do echo "$i" > "$FS/l/d/f$i"; done
    if ! mount_variant "$v" "lowerdir=$FS/l,upperdir=$FS/u,workdir=$FS/w" "$M" "$ROOT/rt-$idx" > "$ROOT/mount.log" 2>&1 || ! mountpoint -q "$M"; then
        echo "creates-ab: $v: MOUNT FAILED: $(tail -c 300 "$ROOT/mount.log")" >&2; umount "$FS"; continue
    fi
    pid=$(variant_server "$v" "$M" "$ROOT/rt-$idx")
    [ -n "$pid" ] && [[ " ${SERVERS[*]} " != *" $pid "* ]] && [ "$v" != fuse-overlayfs ] && SERVERS+=("$pid")
    ls -l "$M/d" > /dev/null
    sync; sleep 0.3
    conn=$(stat -c %d "$M")
    echo > "$INST/trace"
    for e in fuse_request_send fuse_request_end; do
        echo "connection == $conn" > "$INST/events/fuse/$e/filter"; echo 1 > "$INST/events/fuse/$e/enable"
    done
    echo 1 > "$INST/tracing_on"
    c0=$(cpu_ns "$pid")
    out=$(bash -c 'echo $$; t0=$(date +%s%N); for ((i = 0; i < $2; i++)); do echo "new file $i" > "$1/new$i" || exit 1; done
                   echo $(( $(date +%s%N) - t0 ))' _ "$M/d" "$CREATES") || echo "creates-ab: $v: a create failed" >&2
    c1=$(cpu_ns "$pid")
    echo 0 > "$INST/tracing_on"
    sh=$(head -1 <<< "$out") ns=$(tail -1 <<< "$out")
    read -r nreq ncross < <(count_requests "$sh")
    us=$(awk -v n="$ns" -v c="$CREATES" 'BEGIN { printf "%.0f", n / 1000 / c }')
    srv=$( [ -n "$c0" ] && awk -v a="$c0" -v b="$c1" -v c="$CREATES" 'BEGIN { printf "%.0f", (b - a) / 1000 / c }' || echo -)
    cross=$( [ "$nreq" -gt 0 ] && awk -v x="$ncross" -v n="$nreq" 'BEGIN { printf "%.0f%%", 100 * x / n }' || echo -)
    reqs=$(awk -v n="$nreq" -v c="$CREATES" 'BEGIN { printf "%.1f", n / c }')
    printf 'round %d  %-40s us/create %4s  srv_us %4s  cross %4s  reqs %s\n' $((round + 1)) "$v" "$us" "$srv" "$cross" "$reqs"
    R[$v,us]+="$us " R[$v,srv]+="$srv " R[$v,cross]+="${cross%\%} "
    umount "$M" || umount -l "$M"
    for i in $(seq 50); do umount "$FS" 2>/dev/null && break; sleep 0.1; done
    mountpoint -q "$FS" && { echo "creates-ab: $FS still busy after $v" >&2; exit 1; }
  done
done

med() { tr ' ' '\n' <<< "$1" | grep -E '^[0-9.]+$' | sort -n | awk '{a[NR] = $1} END {
    if (NR) printf "%s [%s-%s]", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR]; else printf "-" }'; }
echo
echo "creates-ab: $CREATES creates x $ROUNDS rounds, $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); medians [min-max]${AWAKE:+; AWAKE=$AWAKE}"
for v in $VARIANTS; do
    printf '%-40s us/create %-18s srv_us %-16s cross%% %s\n' "$v" "$(med "${R[$v,us]:-}")" "$(med "${R[$v,srv]:-}")" \
        "$(med "${R[$v,cross]:-}")"
done
