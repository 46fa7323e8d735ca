#!/usr/bin/env bash
# read-ab: an interleaved A/B of one row, the cold read of a big *lower* file on a writable overlay (issue 20), for
# the kernel overlay, fuse-overlayfs and overlayj builds/switches. A measurement, not a test: it asserts nothing.
#
#   sudo bench/read-ab.sh [DIR]                      # DIR: where the layers go (default /tmp); needs root
#   OJ_BASE=/work/base-63f8a19 ROUNDS=8 VARIANTS="kernel fuse-overlayfs overlayj-base overlayj \
#       overlayj:-Doverlayj.fuse.prefetchMib=0 overlayj:-Doverlayj.fuse.prefetchMib=0@raw" bench/read-ab.sh
#
# Per round, each variant in turn (the order rotated by one each round): a fresh mount of lowerdir=L,upperdir=U
# (fresh upper/work dirs), drop_caches and the page-cache warm-up exactly as overlay-bench.sh does them, then the
# reader (dd's loop: read(2) of 1 MiB into one buffer to the end of MNT/big, in python so that it can read its own
# schedstat), then unmount. Round 0 is a warm-up and is not counted (every overlayj server has read the file once, so
# no row pays for the JIT). Printed per read, then as medians [min-max] per variant:
#   wall     the reader's seconds
#   ddsys    the reader's system time (the FUSE mount's page cache: allocation and copy-out happen in the reader)
#   blocked  ms the reader was neither on a CPU nor waiting for one: waiting for data (the disk, or READs)
#   srv_ms   the server's CPU in ms during the read (sum of its threads' schedstat; "-" for the kernel)
#   busy     the disk's busy fraction during the read: io_ticks of the layers' disk (/proc/diskstats; other
#            processes' I/O on that disk counts too) / wall
#   reads    FUSE READ requests of this mount (tracefs, fuse:fuse_request_send filtered on the mount's connection)
#   noread   ms of the reader's span with no READ of this mount outstanding (the reader between windows)
# blocked, reads, noread and srv_ms change less under load; wall does: on a loaded machine rank nothing by wall alone.
#
# VARIANTS (default "kernel fuse-overlayfs overlayj-base overlayj"): kernel | fuse-overlayfs | overlayj (this
# checkout) | overlayj-base (the build in $OJ_BASE) | overlayj:OPTS or overlayj-base:OPTS, OPTS being JVM options for
# that build's server joined by '+' (e.g. overlayj:-Doverlayj.fuse.prefetchMib=0+-Dx=y). Every overlayj variant
# gets a resident server of its own (its own OVERLAYJ_RUNTIME_DIR), kept between rounds (OVERLAYJ_LINGER) and
# stopped (SIGTERM, by pid) at the end. Other env: ROUNDS (counted rounds, default 6), BIG_MB (default 512),
# LOWER=cached: the lower file is read into the page cache before each read (only the mount's cache is cold: what
# the FUSE path costs without the disk), KEEP=1 keeps the layers, PRIO=N (e.g. -10): the reader and every thread of
# the server run at nice N during the read (all variants alike), so that other work on a loaded machine delays them
# less; threads the server starts meanwhile inherit it. A variant named NAME@raw reads with a raw dd of the lower
# file alongside (the most any prefetch of the lower file could give).
# Clean-up (trap, also on ^C): the mount, the tracefs instance, the servers this script started, the layers (after a
# SIGKILL the idle servers exit on their own after OVERLAYJ_LINGER, an hour).
set -uo pipefail

ROUNDS=${ROUNDS:-6}
BIG_MB=${BIG_MB:-512}
VARIANTS=${VARIANTS:-"kernel fuse-overlayfs overlayj-base overlayj"}
LOWER=${LOWER:-cold}
PRIO=${PRIO:-}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/rounds.sh"
BASE=$(readlink -f "${1:-/tmp}")
ROOT="$BASE/overlayj-read-ab.$$"
L="$ROOT/lower" M="$ROOT/mnt"
TR=/sys/kernel/tracing
[ -d $TR/events ] || TR=/sys/kernel/debug/tracing
INST="$TR/instances/overlayj-read-ab.$$"

[ "$(id -u)" = 0 ] || { echo "read-ab: needs root (mount, drop_caches, tracefs)" >&2; exit 1; }

SERVERS=()      # pids of the resident servers this script's mounts started
cleanup() {
    local p
    unmount_mnt "$M"
    [ -d "$INST" ] && rmdir "$INST" 2>/dev/null
    for p in "${SERVERS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    if mountpoint -q "$M" 2>/dev/null; then echo "read-ab: could not unmount $M" >&2; return; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "read-ab: kept $ROOT" >&2; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop_caches() { sync; warm_free_memory; echo 3 > /proc/sys/vm/drop_caches; }

mkdir -p "$L" "$M"
echo "read-ab: ${BIG_MB} MiB lower file under $ROOT ..." >&2
head -c $((BIG_MB << 20)) /dev/urandom > "$L/big" && sync
DISK=$(lsblk -no PKNAME "$(df --output=source "$L" | tail -1)" 2>/dev/null)
[ -n "$DISK" ] || DISK=$(basename "$(df --output=source "$L" | tail -1)")
io_ticks() { awk -v d="$DISK" '$3 == d { print $13 }' /proc/diskstats; }

mkdir "$INST" || { echo "read-ab: no tracefs instance ($INST)" >&2; exit 1; }
echo 0 > "$INST/tracing_on"
echo 4096 > "$INST/buffer_size_kb"

# a variant named NAME@raw reads with a raw dd of the lower file running alongside (started with the reader): the
# lower file is read ahead as fast as the disk goes, the most any prefetch of the lower file could give.
# (mount_variant, variant_server and cpu_ns come from rounds.sh)

# trace: READs of the connection; prints "reads noread_ms" for the span between the two markers
trace_start() { # trace_start CONNECTION
    echo > "$INST/trace"
    echo "connection == $1 && opcode == 15" > "$INST/events/fuse/fuse_request_send/filter"
    echo "connection == $1" > "$INST/events/fuse/fuse_request_end/filter"
    echo 1 > "$INST/events/fuse/fuse_request_send/enable"
    echo 1 > "$INST/events/fuse/fuse_request_end/enable"
    echo 1 > "$INST/tracing_on"
}
trace_stop() {
    echo 0 > "$INST/tracing_on"
    echo 0 > "$INST/events/fuse/fuse_request_send/enable"
    echo 0 > "$INST/events/fuse/fuse_request_end/enable"
    awk '
        { t = -1; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { t = substr($i, 1, length($i) - 1); break } }
        t < 0 { next }
        /read-ab-start/ { start = t; last = t; next }
        /read-ab-end/ { if (n == 0) idle += t - last; end = t; next }
        /fuse_request_send:/ { match($0, /req [0-9]+/); u = substr($0, RSTART + 4, RLENGTH - 4)
            if (n == 0) idle += t - last; open[u] = 1; n++; reads++; next }
        /fuse_request_end:/ { match($0, /req [0-9]+/); u = substr($0, RSTART + 4, RLENGTH - 4)
            if (u in open) { delete open[u]; n--; if (n == 0) last = t } }
        END { printf "%d %.1f", reads, idle * 1000 }' "$INST/trace"
}

# The reader: dd's loop (read(2) of 1 MiB into one buffer, to the end), in python so that it can report its own
# schedstat: wall, system time, and the time it was blocked (neither on a CPU nor waiting for one): waiting for data.
cat > "$ROOT/reader.py" <<'PY'
import os, sys, time
def sched():
    with open("/proc/thread-self/schedstat") as f:
        on, wait, _ = f.read().split()
    return int(on), int(wait)
# the trace markers (argv[2], the tracefs instance's trace_marker, or "-") bound the span the READs are looked at in
mark = open(sys.argv[2], "w", buffering=1) if sys.argv[2] != "-" else None
fd = os.open(sys.argv[1], os.O_RDONLY)
buf = bytearray(1 << 20)
if mark: mark.write("read-ab-start\n")
on0, w0 = sched(); t0 = time.monotonic(); s0 = os.times().system
while os.readv(fd, [buf]) > 0:
    pass
t1 = time.monotonic(); on1, w1 = sched(); s1 = os.times().system
if mark: mark.write("read-ab-end\n"); mark.close()
os.close(fd)
wall = t1 - t0
print("%.3f %.3f %.1f" % (wall, s1 - s0, max(0.0, wall - (on1 - on0) / 1e9 - (w1 - w0) / 1e9) * 1000))
PY
declare -A WALL DDSYS SRV BUSY READS NOREAD BLOCKED
echo "read-ab: disk $DISK; variants: $VARIANTS; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '%-5s %-60s %7s %6s %7s %7s %5s %6s %7s\n' round variant wall ddsys blocked srv_ms busy reads noread
for ((round = 0; round <= ROUNDS; round++)); do
    # shellcheck disable=SC2086
    mapfile -t order < <(round_order "$round" $VARIANTS)
    for v in "${order[@]}"; do
        idx=$(variant_index "$v")
        U="$ROOT/upper-$idx-$round" W="$ROOT/work-$idx-$round"
        mkdir -p "$U" "$W"
        if ! mount_variant "${v%@raw}" "lowerdir=$L,upperdir=$U,workdir=$W" "$M" "$ROOT/rt-$idx" > "$ROOT/mount.log" 2>&1 || ! mountpoint -q "$M"; then
            echo "read-ab: $v: MOUNT FAILED: $(tail -c 400 "$ROOT/mount.log")" >&2; continue
        fi
        stat "$M/big" > /dev/null      # (FUSE: INIT answered, the readahead window set)
        pid=$(variant_server "${v%@raw}" "$M" "$ROOT/rt-$idx")
        if [[ $v == overlayj* ]] && [ -n "$pid" ] && [[ " ${SERVERS[*]} " != *" $pid "* ]]; then SERVERS+=("$pid"); fi
        conn=$(mountpoint -d "$M" | awk -F: '{ print $1 * 1048576 + $2 }')
        drop_caches
        warm_page_cache "$ROOT/warm" "$BIG_MB"
        [ "$LOWER" = cached ] && cat "$L/big" > /dev/null
        if [ -n "$PRIO" ] && [ -n "$pid" ]; then renice -n "$PRIO" -p $(ls /proc/"$pid"/task) > /dev/null 2>&1; fi
        c0=$(cpu_ns "$pid"); d0=$(io_ticks)
        [ "${v%@raw}" != kernel ] && trace_start "$conn"
        rawpid=
        if [[ $v == *@raw ]]; then dd if="$L/big" of=/dev/null bs=1M status=none & rawpid=$!; fi
        out=$(${PRIO:+nice -n "$PRIO"} python3 "$ROOT/reader.py" "$M/big" "$([ "${v%@raw}" != kernel ] && echo "$INST/trace_marker" || echo -)")
        d1=$(io_ticks); c1=$(cpu_ns "$pid")
        [ -n "$rawpid" ] && wait "$rawpid"
        tr="- -"; [ "${v%@raw}" != kernel ] && tr=$(trace_stop)
        umount "$M" || { sleep 1; umount "$M"; } || echo "read-ab: $v: umount failed" >&2
        for i in 1 2 3 4 5; do mountpoint -q "$M" || break; sleep 0.3; done
        read -r wall ddsys blocked <<< "$out"
        srv=-; [ -n "$pid" ] && srv=$(( (c1 - c0) / 1000000 ))
        busy=$(awk -v a="$d0" -v b="$d1" -v w="$wall" 'BEGIN { if (w > 0) printf "%.2f", (b - a) / 1000 / w; else print "-" }')
        read -r reads noread <<< "$tr"
        printf '%-5s %-60s %7s %6s %7s %7s %5s %6s %7s\n' "$([ "$round" = 0 ] && echo warm || echo "$round")" "$v" \
            "$wall" "$ddsys" "$blocked" "$srv" "$busy" "$reads" "$noread"
        [ "$round" = 0 ] && continue
        WALL[$v]+="$wall " DDSYS[$v]+="$ddsys " BLOCKED[$v]+="$blocked " SRV[$v]+="$srv " BUSY[$v]+="$busy " READS[$v]+="$reads " NOREAD[$v]+="$noread "
    done
done

echo
echo "read-ab: $ROUNDS rounds, ${BIG_MB} MiB, lower $LOWER, load at the end $(cut -d' ' -f1-3 /proc/loadavg); medians [min-max]"
for v in $VARIANTS; do
    echo "$v"
    echo "    wall $(echo "${WALL[$v]:-}" | spread 3)  ddsys $(echo "${DDSYS[$v]:-}" | spread 2)  blocked_ms $(echo "${BLOCKED[$v]:-}" | spread 0)  srv_ms $(echo "${SRV[$v]:-}" | spread 0)"
    echo "    busy $(echo "${BUSY[$v]:-}" | spread 2)  reads $(echo "${READS[$v]:-}" | spread 0)  noread_ms $(echo "${NOREAD[$v]:-}" | spread 1)"
done
