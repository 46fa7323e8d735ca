#!/usr/bin/env bash
# copyup-concurrency: how long other namespace operations wait while a large lower file is copied up, and how long
# an O_TRUNC open of that file takes, on fuse-overlayfs and overlayj (FUSE door), with the kernel overlay's O_TRUNC
# open for reference. A measurement, not a test: it prints milliseconds and asserts nothing.
#
#   sudo bench/copyup-concurrency.sh [DIR]      # DIR: where to build the layers (default /tmp); needs root
#   BIG_MB=512 ROUNDS=3 (defaults)
set -uo pipefail
BIG_MB=${BIG_MB:-512}
ROUNDS=${ROUNDS:-3}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/rounds.sh"
BASE=$(readlink -f "${1:-/tmp}")
B="$BASE/overlayj-cc.$$"
M="$B/mnt"
[ "$(id -u)" = 0 ] || { echo "copyup-concurrency: needs root" >&2; exit 1; }
trap 'unmount_and_remove "$M" "$B"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$B/lower/d" "$M"
head -c $((BIG_MB << 20)) /dev/urandom > "$B/lower/big"
ms() { echo $(( ($2 - $1) / 1000000 )); }
mount_impl() { # IMPL UPPER WORK
    local o="lowerdir=$B/lower,upperdir=$2,workdir=$3"
    case $1 in
        kernel) mount -t overlay overlay -o "$o" "$M" ;;
        fuse-overlayfs) fuse-overlayfs -o "$o" "$M" 2>/dev/null ;;
        overlayj) OVERLAYJ_LOG_DIR="$B" "$REPO/bin/overlayj" -o "$o" "$M" ;;
    esac
}
fresh() { U="$B/u.$1.$2" W="$B/w.$1.$2"; mkdir -p "$U" "$W"; mount_impl "$1" "$U" "$W"; ls -l "$M" > /dev/null; }
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
for impl in fuse-overlayfs overlayj; do
    for ((r = 0; r < ROUNDS; r++)); do
        fresh "$impl" "c$r"; cold
        t0=$(date +%s%N)
        (printf x >> "$M/big"; echo "$(date +%s%N)" > "$B/done") &
        sleep 0.1
        t1=$(date +%s%N); touch "$M/d/new"; mkdir "$M/d/dir"; mv "$M/d/new" "$M/d/moved"; t2=$(date +%s%N)
        wait
        echo "$impl: copy-up of ${BIG_MB} MiB took $(ms "$t0" "$(cat "$B/done")") ms;" \
             "a create+mkdir+rename begun 100 ms in took $(ms "$t1" "$t2") ms"
        umount "$M"
    done
done
for impl in kernel fuse-overlayfs overlayj; do
    for ((r = 0; r < ROUNDS; r++)); do
        fresh "$impl" "t$r"; cold
        t0=$(date +%s%N); : > "$M/big"; t1=$(date +%s%N)
        echo "$impl: O_TRUNC open of the ${BIG_MB} MiB lower file took $(ms "$t0" "$t1") ms"
        umount "$M"
    done
done
