#!/usr/bin/env bash
# nfs-copy-ab: the server's cost of nfs-bench's small-file copy row (one nfs-cp per file: MNT connection + NFS
# connection each), for an A/B of two overlayj builds and ganesha, by what load changes little: the server's CPU
# (utime+stime of its process, /proc/PID/stat) per file, and with STRACE=1 its system calls per file (strace -c -f).
# All servers run at once on their own layers (a few hundred 16-byte lower files, as nfs-bench's small files), each
# warmed by WARM nfs-cp; then ROUNDS rounds, each copying the FILES files out of every server in turn (rotated
# order), PAR nfs-cp at once (xargs -P, as nfs-bench). Prints one line per server and round, then medians.
#
#   bench/nfs-copy-ab.sh BASE_BUILD [OJ_OPTS_FOR_NEW]     # IMPLS="base new ganesha" (default "base new")
#   FILES=300 ROUNDS=6 WARM=20 PAR=4 STRACE=0 PERF=0 EVICT=0 (defaults; EVICT=1 drops the lower files' pages
#   before each round, as nfs-bench's copy row does); LOWERFS=loop puts the lower layer on a loop-mounted ext4
#   of its own (ganesha's overlay then with xino=on), as nfs-bench's layers are
#   IMPLS may hold more overlayj servers of this build named new*, each with the JVM options of $OPTS_<name>
#   (e.g. IMPLS="base new new2" OPTS_new2=-Doverlayj.nfs.nativeReads=false)
#   PERF=1: perf record -g of each overlayj server over the rounds (-XX:+PreserveFramePointer), reports in OUT
# Runs inside `unshare -n -m` (loopback only, own /run). Needs root, libnfs-utils (and nfs-ganesha for "ganesha").
set -uo pipefail
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
BASE=${1:?base build directory} NEWOPTS=${2:-}
FILES=${FILES:-300} ROUNDS=${ROUNDS:-6} WARM=${WARM:-20} PAR=${PAR:-4} STRACE=${STRACE:-0} PERF=${PERF:-0}
IMPLS=${IMPLS:-base new}
[ "$(id -u)" = 0 ] || { echo "nfs-copy-ab: needs root" >&2; exit 1; }
if [ "${NFS_COPY_AB_INSIDE:-}" != 1 ]; then
    exec env NFS_COPY_AB_INSIDE=1 unshare -n -m --propagation private -- "$(readlink -f "$0")" "$@"
fi
ip link set lo up
mount -t tmpfs nfs-copy-ab-run /run
mkdir -p /run/ganesha /run/rpcbind
ROOT=$(mktemp -d /tmp/nfs-copy-ab.XXXXXX)
OUT=${OUT:-$ROOT/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/summary.txt")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
    mountpoint -q "$ROOT/m" && umount "$ROOT/m"
    mountpoint -q "$ROOT/lower" && umount "$ROOT/lower"
    if [ "${KEEP:-0}" != 1 ]; then
        case $OUT in "$ROOT"/*) find "$ROOT" -mindepth 1 -maxdepth 1 ! -path "$OUT" -exec rm -rf {} + ;; *) rm -rf "$ROOT" ;; esac
    fi
}
trap cleanup EXIT
L=$ROOT/lower
mkdir -p "$L"
# LOWERFS=loop: the lower layer on a loop-mounted ext4 of its own, as nfs-bench's (LAYERS=loop) lower and upper are
# two filesystems (ganesha's overlay then needs xino=on); default: everything on the filesystem of /tmp
if [ "${LOWERFS:-}" = loop ]; then
    truncate -s 256M "$ROOT/lower.img" && mkfs.ext4 -q -F "$ROOT/lower.img" && mount -o loop "$ROOT/lower.img" "$L" || exit 1
    XINO=,xino=on
fi
mkdir -p "$L/t/d1" "$L/t/d2"
for i in $(seq "$FILES"); do
    d=d$((i % 2 + 1)); printf 'small file %05d\n' "$i" > "$L/t/$d/f$i"; echo "t/$d/f$i"
done > "$ROOT/files.txt"

declare -A PID URLF
port=2050
for impl in $IMPLS; do
    mkdir -p "$ROOT/$impl/u" "$ROOT/$impl/w"
    case $impl in
        base|new*)
            build=$REPO opts=$NEWOPTS
            [ "$impl" = base ] && build=$BASE opts=
            v=OPTS_$impl; [ -n "${!v:-}" ] && opts=${!v}
            [ "$PERF" = 1 ] && opts="$opts -XX:+PreserveFramePointer"
            echo "/ 127.0.0.1(rw,no_root_squash,insecure)" > "$ROOT/$impl/exports"
            OVERLAYJ_JAVA_OPTS="$opts" "$build/bin/overlayj" serve -o "lowerdir=$L,upperdir=$ROOT/$impl/u,workdir=$ROOT/$impl/w" \
                --listen "127.0.0.1:$port" --exports "$ROOT/$impl/exports" --stats 0 --state-dir "$ROOT/$impl/nlm" \
                > "$ROOT/$impl/serve.log" 2>&1 &
            PIDS+=($!) PID[$impl]=$!
            for _ in $(seq 600); do grep -q "serving NFSv3" "$ROOT/$impl/serve.log" && break; sleep 0.1; done
            grep -q "serving NFSv3" "$ROOT/$impl/serve.log" || { echo "$impl did not start" >&2; cat "$ROOT/$impl/serve.log"; exit 1; }
            URLF[$impl]="nfs://127.0.0.1/%s?version=3&nfsport=$port&mountport=$port"
            port=$((port + 1)) ;;
        ganesha)
            M=$ROOT/m; mkdir -p "$M"
            mount -t overlay overlay -o "lowerdir=$L,upperdir=$ROOT/$impl/u,workdir=$ROOT/$impl/w,index=on,nfs_export=on${XINO:-}" "$M" || exit 1
            cat > "$ROOT/ganesha.conf" << EOC
NFS_CORE_PARAM { Protocols = 3; NFS_Port = 2049; MNT_Port = 20048; Enable_NLM = false; Enable_RQUOTA = false; }
NFSV4 { Graceless = true; }
EXPORT { Export_Id = 1; Path = $M; Pseudo = $M; Access_Type = RW; Squash = No_Root_Squash; Protocols = 3;
  Transports = TCP; SecType = sys; FSAL { Name = VFS; } }
LOG { Default_Log_Level = WARN; }
EOC
            rpcbind -f -w > /dev/null 2>&1 &
            PIDS+=($!)
            sleep 0.5
            ganesha.nfsd -F -f "$ROOT/ganesha.conf" -L "$ROOT/ganesha.log" -p /run/ganesha/ganesha.pid &
            PIDS+=($!) PID[$impl]=$!
            URLF[$impl]="nfs://127.0.0.1$M/%s?version=3&nfsport=2049&mountport=20048"
            for _ in $(seq 100); do nfs-ls "$(printf "${URLF[$impl]}" "")" > /dev/null 2>&1 && break; sleep 0.2; done ;;
    esac
done
export ROOT
copy() { # IMPL N
    mkdir -p "$ROOT/copies/$1/t/d1" "$ROOT/copies/$1/t/d2"
    head -n "$2" "$ROOT/files.txt" |
        xargs -P "$PAR" -I{} sh -c 'nfs-cp "$(printf "$1" "$2")" "$ROOT/copies/$0/$2" > /dev/null || echo "nfs-cp $2 failed" >&2' \
            "$1" "${URLF[$1]}" {}
    rm -rf "$ROOT/copies/$1"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# context switches of all the process's threads (threads that ended meanwhile are not counted)
switches() { cat /proc/$1/task/*/status 2> /dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
for impl in $IMPLS; do copy "$impl" "$WARM"; done
declare -A R
set -- $IMPLS
for r in $(seq "$ROUNDS"); do
    order=("$@")
    [ $((r % 2)) = 0 ] && order=($(printf '%s\n' "$@" | tac))
    for impl in "${order[@]}"; do
        p=${PID[$impl]}
        [ "$impl" = ganesha ] || p=$(pgrep -P "$p" java || echo "$p")
        sp=
        if [ "$STRACE" = 1 ]; then strace -c -f -p "$p" -o "$OUT/$impl.strace.$r" 2> /dev/null & sp=$!; sleep 1; fi
        if [ "$PERF" = 1 ]; then
            perf record -F 2000 -g -p "$p" -o "$OUT/$impl.perf.$r" > /dev/null 2>&1 & sp=$!; sleep 1
        fi
        # EVICT=1: the lower files' pages dropped first, as nfs-bench's copy row does (its READs then go to the disk)
        [ "${EVICT:-0}" = 1 ] && (cd "$L" && python3 -c '
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
' $(cat "$ROOT/files.txt"))
        c0=$(ticks "$p"); s0=$(switches "$p"); t0=$(date +%s.%N)
        copy "$impl" "$FILES"
        t1=$(date +%s.%N); c1=$(ticks "$p"); s1=$(switches "$p")
        [ -n "$sp" ] && { kill -INT "$sp"; wait "$sp"; }
        ms=$(( (c1 - c0) * 10 ))
        R[$impl]+="$ms "
        printf '%-8s round %d: %5d ms CPU, %.3f ms/file, %.1f switches/file, wall %.2f s\n' "$impl" "$r" "$ms" \
            "$(echo "$ms / $FILES" | bc -l)" "$(echo "($s1 - $s0) / $FILES" | bc -l)" "$(echo "$t1 - $t0" | bc -l)"
    done
done
if [ "$PERF" = 1 ]; then
    for impl in $IMPLS; do
        [ "$impl" = ganesha ] && continue
        p=$(pgrep -P "${PID[$impl]}" java || echo "${PID[$impl]}")
        jcmd "$p" Compiler.perfmap > /dev/null 2>&1 || echo "no perf map for $impl" >&2
    done
fi
for impl in $IMPLS; do
    med=$(printf '%s\n' ${R[$impl]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-8s CPU ms per round: %s median %d (%.3f ms/file)\n' "$impl" "${R[$impl]}" "$med" "$(echo "$med / $FILES" | bc -l)"
done
if [ "$STRACE" = 1 ]; then
    for impl in $IMPLS; do
        for f in "$OUT/$impl".strace.*; do
            awk -v n="$FILES" -v f="$(basename "$f")" '$NF=="total"{t=$(NF-2)} / futex$/{fu=$4} END {printf "%s: %.1f calls/file, futex %.1f/file\n", f, t/n, fu/n}' "$f"
        done
    done
fi
echo "out: $OUT"
