#!/usr/bin/env bash
# nfs-syscalls: the system calls a server makes per NFSv3 call, by kind of call: `strace -c -f -p SERVER` around
# phases of N identical calls (bench/nfs-ops.c: CREATE, LOOKUP, GETATTR, WRITE 1 MiB and 4 KiB, COMMIT, READ 1 MiB
# and 4 KiB, REMOVE), after two warm-up passes, then around bench/nfs-meta.c's create+stat+remove of N files.
# A count, not a timing: it holds on a loaded machine. Needs root, strace, libnfs-dev, gcc (and for ganesha what
# nfs-bench.sh installs).
#
#   bench/nfs-syscalls.sh overlayj OUTDIR [BUILD]   # BUILD: an overlayj checkout or copy (default: this one)
#   bench/nfs-syscalls.sh ganesha OUTDIR            # nfs-ganesha (FSAL_VFS) on a kernel overlay of the same layers
#   N=2000 MB=128 (defaults)
# Writes OUTDIR/IMPL.PHASE.txt (strace -c tables) and prints calls per NFS call for each phase.
# Runs inside `unshare -n -m` (loopback only, its own /run), as nfs-bench.sh does.
set -uo pipefail
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
IMPL=${1:?overlayj or ganesha} OUT=$(readlink -f "${2:?output directory}") BUILD=${3:-$REPO}
N=${N:-2000} MB=${MB:-128}
[ "$(id -u)" = 0 ] || { echo "nfs-syscalls: needs root" >&2; exit 1; }
if [ "${NFS_SYSCALLS_INSIDE:-}" != 1 ]; then
    exec env NFS_SYSCALLS_INSIDE=1 unshare -n -m --propagation private -- "$(readlink -f "$0")" "$IMPL" "$OUT" "$BUILD"
fi
ip link set lo up
findmnt -rn -o TARGET,FSTYPE | awk '$2 == "overlay" || $2 ~ /^fuse/ {print $1}' | sort -r |
    while read -r t; do umount -l "$(printf '%b' "$t")" 2> /dev/null; done
mount -t tmpfs nfs-syscalls-run /run
mkdir -p /run/ganesha /run/rpcbind "$OUT"
ROOT=$(mktemp -d /tmp/nfs-syscalls.XXXXXX)
L=$ROOT/lower U=$ROOT/upper W=$ROOT/work M=$ROOT/mnt
mkdir -p "$L/d" "$U" "$W" "$M"
for i in $(seq 50); do echo "lower $i" > "$L/d/l$i"; done
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
    mountpoint -q "$M" && umount "$M"
    rm -rf "$ROOT"
}
trap cleanup EXIT
gcc -O2 -o "$ROOT/nfs-ops" "$REPO/bench/nfs-ops.c" -lnfs && gcc -O2 -o "$ROOT/nfs-meta" "$REPO/bench/nfs-meta.c" -lnfs ||
    { echo "nfs-syscalls: cannot build the clients (gcc, libnfs-dev)" >&2; exit 1; }
if [ "$IMPL" = overlayj ]; then
    echo "/ 127.0.0.1(rw,no_root_squash,insecure)" > "$ROOT/exports"
    "$BUILD/bin/overlayj" serve -o "lowerdir=$L,upperdir=$U,workdir=$W" --listen 127.0.0.1:2050 \
        --exports "$ROOT/exports" --stats 0 --state-dir "$ROOT/nlm" > "$ROOT/serve.log" 2>&1 &
    PIDS+=($!)
    SPID=$!                                        # the launcher execs the JVM
    for _ in $(seq 600); do grep -q "serving NFSv3" "$ROOT/serve.log" && break; sleep 0.1; done
    URL="nfs://127.0.0.1/?version=3&nfsport=2050&mountport=2050"
else
    mount -t overlay overlay -o "lowerdir=$L,upperdir=$U,workdir=$W,index=on,nfs_export=on" "$M" || exit 1
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
    PIDS+=($!)
    SPID=$!
    URL="nfs://127.0.0.1$M?version=3&nfsport=2049&mountport=20048"
    for _ in $(seq 300); do nfs-ls "$URL" > /dev/null 2>&1 && break; sleep 0.2; done
fi

# per call: the strace -c table's counts divided by the phase's NFS calls
per_call() { # FILE CALLS
    awk -v n="$2" 'NR > 2 && /^ *[0-9]/ && $NF != "total" { c[$NF] = $4 }
        END { for (k in c) if (c[k] / n >= 0.05) printf " %s %.1f", k, c[k] / n; print "" }' "$1"
}
phases() { # DIR COUNT(0|1) PHASE...
    local dir=$1 count=$2 ph l sp
    shift 2
    coproc OPS { "$ROOT/nfs-ops" "$URL" "$dir" "$N" "$MB"; }
    read -r l <&"${OPS[0]}"
    [ "$l" = ready ] || { echo "nfs-syscalls: nfs-ops: $l" >&2; return 1; }
    for ph in "$@"; do
        if [ "$count" = 1 ]; then
            strace -c -f -p "$SPID" -o "$OUT/$IMPL.$ph.txt" 2> /dev/null &
            sp=$!
            sleep 2                                    # attached to every thread
        fi
        echo "$ph" >&"${OPS[1]}"
        read -r l <&"${OPS[0]}"
        [ "$l" = "done $ph" ] || echo "nfs-syscalls: phase $ph: $l" >&2
        if [ "$count" = 1 ]; then
            sleep 0.3
            kill -INT "$sp"
            wait "$sp"
            case $ph in write|read) calls=$MB ;; *) calls=$N ;; esac
            echo "$IMPL $ph (per call):$(per_call "$OUT/$IMPL.$ph.txt" "$calls")"
        fi
    done
    eval "exec ${OPS[1]}>&-"
    wait "$OPS_PID"
}
PH="create lookup getattr write smallwrite commit read smallread remove"
# shellcheck disable=SC2086
phases warm1 0 $PH && phases warm2 0 $PH && phases meas 1 $PH || exit 1
"$ROOT/nfs-meta" "$URL" files /metaw "$N" > /dev/null
strace -c -f -p "$SPID" -o "$OUT/$IMPL.meta.txt" 2> /dev/null &
sp=$!
sleep 2
"$ROOT/nfs-meta" "$URL" files /meta "$N" > /dev/null
sleep 0.3
kill -INT "$sp"
wait "$sp"
echo "$IMPL create+stat+remove (per file):$(per_call "$OUT/$IMPL.meta.txt" "$N")"
