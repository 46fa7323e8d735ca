#!/usr/bin/env bash
# metacopy-bench: `chown -R` over a whole lower tree (the "chown in a Dockerfile" case) with and without metacopy=on,
# on the kernel overlay and overlayj (FUSE door), with fuse-overlayfs (no metacopy) for reference. Prints seconds and
# how much data the upper layer took. A measurement, not a test: it asserts nothing.
#
#   sudo bench/metacopy-bench.sh [DIR]          # DIR: where to build the layers (default /tmp); needs root
#   FILES=2000 BIG_MB=512 ROUNDS=3 (defaults)
set -uo pipefail
FILES=${FILES:-2000}
BIG_MB=${BIG_MB:-512}
ROUNDS=${ROUNDS:-3}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/lower-tree.sh"
source "$REPO/bench/rounds.sh"
BASE=$(readlink -f "${1:-/tmp}")
B="$BASE/overlayj-mc.$$"
L="$B/lower" M="$B/mnt"
[ "$(id -u)" = 0 ] || { echo "metacopy-bench: needs root" >&2; exit 1; }
trap 'unmount_and_remove "$M" "$B"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$L" "$M"
lower_tree "$L" "$FILES" "$BIG_MB"
IMPLS=(kernel kernel+metacopy fuse-overlayfs overlayj overlayj+metacopy)
mount_impl() { # IMPL UPPER WORK
    local o="lowerdir=$L,upperdir=$2,workdir=$3"
    case $1 in
        kernel) mount -t overlay overlay -o "$o" "$M" ;;
        kernel+metacopy) mount -t overlay overlay -o "$o,metacopy=on" "$M" ;;
        fuse-overlayfs) fuse-overlayfs -o "$o" "$M" 2>/dev/null ;;
        overlayj) OVERLAYJ_LOG_DIR="$B" "$REPO/bin/overlayj" -o "$o" "$M" ;;
        overlayj+metacopy) OVERLAYJ_LOG_DIR="$B" "$REPO/bin/overlayj" -o "$o,metacopy=on" "$M" ;;
    esac
}
declare -A T
for ((r = 0; r < ROUNDS; r++)); do
    for impl in $(round_order "$r" "${IMPLS[@]}"); do
        U="$B/u.$impl.$r" W="$B/w.$impl.$r"
        mkdir -p "$U" "$W"
        mount_impl "$impl" "$U" "$W" || { echo "metacopy-bench: $impl did not mount" >&2; continue; }
        sync; warm_free_memory; echo 3 > /proc/sys/vm/drop_caches
        t0=$(date +%s.%N)
        chown -R 1000:1000 "$M" && sync
        t1=$(date +%s.%N)
        umount "$M"
        T[$impl]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') "
        T[$impl.du]="$(du -sm "$U" | cut -f1)"
    done
done
printf '\nchown -R of %d files + %d MiB (with sync), medians of %d rounds:\n' "$FILES" "$BIG_MB" "$ROUNDS"
printf '  %-18s %8s  %s\n' implementation seconds "upper layer (MiB)  every round"
for impl in "${IMPLS[@]}"; do
    printf '  %-18s %8s  %-18s %s\n' "$impl" "$(median 3 <<< "${T[$impl]}")" "${T[$impl.du]}" "${T[$impl]}"
done
