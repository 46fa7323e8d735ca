#!/usr/bin/env bash
# nfs-read-ab: an interleaved A/B of one row of nfs-bench, the cold read of the big *lower* file through NFS (nfs-cat,
# libnfs: 1 MiB READs, one at a time), for overlayj builds/switches and ganesha (issue 22 point 6, bench/README.md
# "nfsread"). A measurement, not a test: it asserts nothing.
#
#   sudo bench/nfs-read-ab.sh [DIR]                      # DIR: where the layers go (default /tmp); needs root
#   ROUNDS=8 OJ_BASE=/work/base-f29fc32 VARIANTS="overlayj overlayj:-Doverlayj.nfs.prefetchMib=0 overlayj-base ganesha" \
#       bench/nfs-read-ab.sh
#
# As nfs-bench does it (LAYERS=loop): the lower layer on a loop-mounted ext4 of its own (direct I/O to its image),
# the servers started as nfs-bench starts them, inside `unshare -n -m` (loopback only). Per round, each variant in
# turn (the order rotated by one each round): a fresh server on fresh upper/work dirs, the big file read once untimed
# and compared (as nfs-bench's rounds do: the timed read is the server's second read of it), the file evicted from the
# page cache (fdatasync + POSIX_FADV_DONTNEED), warm_free_memory (rounds.sh), sync and a wait for Dirty+Writeback
# under 32 MiB, then the timed `nfs-cat URL > /dev/null`; the server stopped. Round 0 is a warm-up, not counted.
# Printed per read, then medians [min-max] per variant:
#   wall     seconds of nfs-cat
#   srv_ms   the server's CPU (utime+stime of its process; ganesha's and overlayj's alike)
#   cli_ms   nfs-cat's own CPU (wait4's rusage): one READ at a time, so while nfs-cat is on a CPU no READ is
#            outstanding; wall - cli_ms is the time READs were (the server, the network, the disk)
#   busy     io_ticks of the lower layer's loop device during the read / wall: how much of the time the disk read
#   ra_mib   MiB read from that device during the read (the prefetch's extra reads show here)
# VARIANTS: overlayj (this checkout) | overlayj-base (the build in $OJ_BASE) | overlayj:OPTS, overlayj-base:OPTS (JVM
# options for that build's server, joined by '+') | ganesha. Other env: ROUNDS (counted rounds, default 6), BIG_MB
# (default 512), KEEP=1 keeps the tree.
set -uo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/rounds.sh"
source "$REPO/bench/nfs-servers.sh"
[ "$(id -u)" = 0 ] || { echo "nfs-read-ab: needs root (mount, unshare)" >&2; exit 1; }
if [ "${NFS_READ_AB_INSIDE:-}" != 1 ]; then
    for c in ganesha.nfsd rpcbind nfs-cat; do
        command -v $c > /dev/null || { echo "nfs-read-ab: $c missing (bench/nfs-bench.sh installs it)" >&2; exit 1; }
    done
    exec env NFS_READ_AB_INSIDE=1 unshare -n -m --propagation private -- "$(readlink -f "$0")" "$@"
fi

# --- inside our own network and mount namespaces (as nfs-bench.sh) ----------------------------------------------------
ip link set lo up
findmnt -rn -o TARGET,FSTYPE | awk '$2 == "overlay" || $2 ~ /^fuse/ {print $1}' | sort -r |
    while read -r t; do umount -l "$(printf '%b' "$t")" 2> /dev/null; done
mount -t tmpfs nfs-read-ab-run /run
mkdir -p /run/ganesha /run/rpcbind

ROUNDS=${ROUNDS:-6}
BIG_MB=${BIG_MB:-512}
VARIANTS=${VARIANTS:-"overlayj overlayj:-Doverlayj.nfs.prefetchMib=0 ganesha"}
BASE=$(readlink -f "${1:-/tmp}")
ROOT="$BASE/overlayj-nfs-read-ab.$$"
L="$ROOT/lower" M="$ROOT/mnt" UP="$ROOT/uppers"
OJ_PORT=2050
PIDS=()
FSMOUNTS=()

trap nfs_cleanup EXIT
trap 'exit 130' INT TERM

evict() {
    python3 -c '
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.fdatasync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"
}
mkdir -p "$L" "$M" "$UP"
loop_fs "$L" $((BIG_MB + 256)) || { echo "nfs-read-ab: cannot make the lower filesystem" >&2; exit 1; }
loop_fs "$UP" 1024 || { echo "nfs-read-ab: cannot make the upper filesystem" >&2; exit 1; }
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$L/big"
sync
LDEV=$(basename "$(findmnt -n -o SOURCE "$L")")
disk() { awk -v d="$LDEV" '$3 == d { print $13, $6 }' /proc/diskstats; }   # io_ticks ms, sectors read

url() { # url IMPL PATH
    case $1 in
        overlayj*) echo "nfs://127.0.0.1//$2?version=3&nfsport=$OJ_PORT&mountport=$OJ_PORT" ;;
        ganesha) echo "nfs://127.0.0.1$M/$2?version=3&nfsport=2049&mountport=20048" ;;
    esac
}

start_overlayj() { # UPPER WORK BUILD JAVA_OPTS
    OVERLAYJ_JAVA_OPTS="$4" start_overlayj_serve "$1" "$2" "$3"
}

start_ganesha() { # UPPER WORK (as nfs-bench.sh: a kernel overlay of the same layers, xino=on across the two filesystems)
    start_ganesha_overlay "$1" "$2" ,xino=on
}

# the timed reader: nfs-cat to /dev/null, its wall and its own CPU (wait4's rusage)
cat > "$ROOT/reader.py" << 'PY'
import os, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_WRONLY); os.dup2(fd, 1)
    os.execvp("nfs-cat", ["nfs-cat", sys.argv[1]])
_, status, ru = os.wait4(pid, 0)
t1 = time.monotonic()
print("%.3f %.0f %d" % (t1 - t0, (ru.ru_utime + ru.ru_stime) * 1000, os.waitstatus_to_exitcode(status)))
PY

declare -A WALL SRV CLI BUSY RA
echo "nfs-read-ab: lower device $LDEV; variants: $VARIANTS; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '%-5s %-50s %7s %7s %7s %5s %7s\n' round variant wall srv_ms cli_ms busy ra_mib
for ((round = 0; round <= ROUNDS; round++)); do
    # shellcheck disable=SC2086
    mapfile -t order < <(round_order "$round" $VARIANTS)
    for v in "${order[@]}"; do
        idx=$(variant_index "$v")
        U="$UP/u-$idx-$round" W="$UP/w-$idx-$round"
        mkdir -p "$U" "$W"
        impl=${v%%:*} opts=$(variant_opts "$v")
        case $impl in
            overlayj) start_overlayj "$U" "$W" "$REPO" "$opts" ;;
            overlayj-base) start_overlayj "$U" "$W" "${OJ_BASE:?OJ_BASE}" "$opts" ;;
            ganesha) start_ganesha "$U" "$W" ;;
            *) echo "nfs-read-ab: unknown variant $v" >&2; false ;;
        esac || { stop_servers; continue; }
        pid=${PIDS[-1]}
        nfs-cat "$(url "$impl" big)" | cmp -s - "$L/big" || echo "nfs-read-ab: $v: the big file read back differs" >&2
        evict "$L/big"
        warm_free_memory
        settle
        c0=$(cpu_ms "$pid"); read -r d0 s0 <<< "$(disk)"
        read -r wall cli rc <<< "$(python3 "$ROOT/reader.py" "$(url "$impl" big)")"
        read -r d1 s1 <<< "$(disk)"; c1=$(cpu_ms "$pid")
        stop_servers
        [ "$rc" = 0 ] || { echo "nfs-read-ab: $v: nfs-cat failed ($rc)" >&2; continue; }
        srv=$((c1 - c0))
        busy=$(awk -v a="$d0" -v b="$d1" -v w="$wall" 'BEGIN { if (w > 0) printf "%.2f", (b - a) / 1000 / w; else print "-" }')
        ra=$(( (s1 - s0) / 2048 ))
        printf '%-5s %-50s %7s %7s %7s %5s %7s\n' "$([ "$round" = 0 ] && echo warm || echo "$round")" "$v" "$wall" "$srv" "$cli" "$busy" "$ra"
        [ "$round" = 0 ] && continue
        WALL[$v]+="$wall " SRV[$v]+="$srv " CLI[$v]+="$cli " BUSY[$v]+="$busy " RA[$v]+="$ra "
    done
done

echo
echo "nfs-read-ab: $ROUNDS rounds, ${BIG_MB} MiB, $(git -C "$REPO" rev-parse --short HEAD 2> /dev/null), load at the end $(cut -d' ' -f1-3 /proc/loadavg); medians [min-max]"
for v in $VARIANTS; do
    echo "$v"
    echo "    wall $(echo "${WALL[$v]:-}" | spread 3)  srv_ms $(echo "${SRV[$v]:-}" | spread 0)  cli_ms $(echo "${CLI[$v]:-}" | spread 0)  busy $(echo "${BUSY[$v]:-}" | spread 2)  ra_mib $(echo "${RA[$v]:-}" | spread 0)"
done
