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
#   cli_csw  the client's voluntary context switches (wait4's rusage): how often it slept for a reply or a part of one
#   busy     io_ticks of the lower layer's loop device during the read / wall: how much of the time the disk read
#   ra_mib   MiB read from that device during the read (the prefetch's extra reads show here)
# VARIANTS: overlayj (this checkout) | overlayj-base (the build in $OJ_BASE) | overlayj:OPTS, overlayj-base:OPTS (JVM
# options for that build's server, joined by '+') | ganesha. Other env: ROUNDS (counted rounds, default 6), BIG_MB
# (default 512), KEEP=1 keeps the tree. READ=warm: nfs-bench's cached row instead (the file read with cat just
# before, not evicted; no warm_free_memory). REPEAT=N: N timed reads per server (each printed and counted).
# WORK=meta: nfs-bench's metadata row instead of a read (bench/nfs-meta.c: create, stat and remove META files, default
# 5000, one call at a time; an untimed pass first, on a fresh server); cli_ms is then nfs-meta's CPU.
# PIN=same|diff: every thread of the server on CPU 1, and the client on CPU 1 too (same) or on CPU 0 (diff): on a
# VM whose idle CPUs halt, a wake-up across CPUs costs an IPI, and where the scheduler put the two decided the
# cached read's time (bench/README.md, "The cached read's spread").
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
READ=${READ:-cold}
WORK=${WORK:-read}
META=${META:-5000}
REPEAT=${REPEAT:-1}
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

root_url() { # root_url IMPL: the export's root, for nfs-meta
    case $1 in
        overlayj*) echo "nfs://127.0.0.1/?version=3&nfsport=$OJ_PORT&mountport=$OJ_PORT" ;;
        ganesha) echo "nfs://127.0.0.1$M?version=3&nfsport=2049&mountport=20048" ;;
    esac
}
if [ "$WORK" = meta ]; then
    gcc -O2 -o "$ROOT/nfs-meta" "$REPO/bench/nfs-meta.c" -lnfs || { echo "nfs-read-ab: cannot build nfs-meta (libnfs-dev)" >&2; exit 1; }
fi

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
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
t1 = time.monotonic()
print("%.3f %.0f %d %d" % (t1 - t0, (ru.ru_utime + ru.ru_stime) * 1000, os.waitstatus_to_exitcode(status), ru.ru_nvcsw))
PY

declare -A WALL SRV CLI CSW BUSY RA
echo "nfs-read-ab: lower device $LDEV; variants: $VARIANTS; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '%-5s %-50s %7s %7s %7s %7s %5s %7s\n' round variant wall srv_ms cli_ms cli_csw busy ra_mib
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
        [ -n "${PIN:-}" ] && taskset -a -p -c 1 "$pid" > /dev/null   # every thread; the ones made later inherit it
        if [ "$WORK" = meta ]; then
            "$ROOT/nfs-meta" "$(root_url "$impl")" files /warm "$META" > /dev/null || echo "nfs-read-ab: $v: warm-up failed" >&2
        else
            nfs-cat "$(url "$impl" big)" | cmp -s - "$L/big" || echo "nfs-read-ab: $v: the big file read back differs" >&2
        fi
        for ((rep = 1; rep <= REPEAT; rep++)); do
        if [ "$WORK" = meta ]; then
            :
        elif [ "$READ" = warm ]; then
            cat "$L/big" > /dev/null        # as nfs-bench's cached row: the pages cached and touched by a reader
        else
            evict "$L/big"
            warm_free_memory
        fi
        settle
        c0=$(cpu_ms "$pid"); read -r d0 s0 <<< "$(disk)"
        case ${PIN:-} in same) cpus=1 ;; diff) cpus=0 ;; *) cpus=0-$(($(nproc) - 1)) ;; esac
        if [ "$WORK" = meta ]; then
            read -r wall cli rc csw <<< "$(taskset -c "$cpus" python3 "$ROOT/reader.py" "$ROOT/nfs-meta" "$(root_url "$impl")" files "/meta$rep" "$META")"
        else
            read -r wall cli rc csw <<< "$(taskset -c "$cpus" python3 "$ROOT/reader.py" nfs-cat "$(url "$impl" big)")"
        fi
        read -r d1 s1 <<< "$(disk)"; c1=$(cpu_ms "$pid")
        [ "$rc" = 0 ] || { echo "nfs-read-ab: $v: nfs-cat failed ($rc)" >&2; continue; }
        srv=$((c1 - c0))
        busy=$(awk -v a="$d0" -v b="$d1" -v w="$wall" 'BEGIN { if (w > 0) printf "%.2f", (b - a) / 1000 / w; else print "-" }')
        ra=$(( (s1 - s0) / 2048 ))
        printf '%-5s %-50s %7s %7s %7s %7s %5s %7s\n' "$([ "$round" = 0 ] && echo warm || echo "$round")" "$v" "$wall" "$srv" "$cli" "$csw" "$busy" "$ra"
        [ "$round" = 0 ] && continue
        WALL[$v]+="$wall " SRV[$v]+="$srv " CLI[$v]+="$cli " CSW[$v]+="$csw " BUSY[$v]+="$busy " RA[$v]+="$ra "
        done
        stop_servers
    done
done

echo
echo "nfs-read-ab: $ROUNDS rounds, ${BIG_MB} MiB, $(git -C "$REPO" rev-parse --short HEAD 2> /dev/null), load at the end $(cut -d' ' -f1-3 /proc/loadavg); medians [min-max]"
for v in $VARIANTS; do
    echo "$v"
    echo "    wall $(echo "${WALL[$v]:-}" | spread 3)  srv_ms $(echo "${SRV[$v]:-}" | spread 0)  cli_ms $(echo "${CLI[$v]:-}" | spread 0)  cli_csw $(echo "${CSW[$v]:-}" | spread 0)  busy $(echo "${BUSY[$v]:-}" | spread 2)  ra_mib $(echo "${RA[$v]:-}" | spread 0)"
done
