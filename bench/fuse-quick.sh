#!/usr/bin/env bash
# fuse-quick: overlay-bench's creates, big-file reads (lower, then copied up) and copy-up on fuse-overlayfs and
# overlayj only, ROUNDS times each, medians and ratios, and a WARNING line for each overlayj median above
# fuse-overlayfs'. For a shared machine: it never drops caches system-wide and never mounts the kernel
# overlay; a cold read evicts just the big file's pages (the layers' copies and the mount's own cache) with
# posix_fadvise(DONTNEED).
#
#   sudo bench/fuse-quick.sh                       # ROUNDS=5 FILES=20000 BIG_MB=512 CREATES=2000
#   IMPLS=overlayj ROUNDS=3 bench/fuse-quick.sh
#   BASE_OPTS=-Doverlayj.fuse.readaheadKib=128 IMPLS="fuse-overlayfs overlayj-base overlayj" bench/fuse-quick.sh
#                                              # overlayj-base: overlayj with BASE_OPTS as extra JVM options
#
# Each round is a fresh mount on fresh upper/work dirs over one lower tree (built once and kept in
# $BASE/fusebench.lower unless FRESH=1): a warm stat walk of the tree first (as overlay-bench's walks come before
# its creates, and it warms the JIT), then creates, copy-up, cold read, warm read.
set -uo pipefail

ROUNDS=${ROUNDS:-5}
FILES=${FILES:-20000}
BIG_MB=${BIG_MB:-512}
CREATES=${CREATES:-2000}
IMPLS=${IMPLS:-"fuse-overlayfs overlayj"}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/lower-tree.sh"
source "$REPO/bench/rounds.sh"
BASE=$(readlink -f "${BASE:-/tmp}")
L="$BASE/fusebench.lower"
ROOT="$BASE/fusebench.$$"
M="$ROOT/mnt"

[ "$(id -u)" = 0 ] || { echo "fuse-quick: needs root" >&2; exit 1; }
fresh_aot_caches "$REPO"  # (bench/rounds.sh: a stale cache would go unused)

cleanup() {
    unmount_mnt "$M"
    mountpoint -q "$M" 2>/dev/null && echo "fuse-quick: could not unmount $M" >&2
    [ "${KEEP:-0}" = 1 ] || rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
evict() { python3 -c '
import os, sys
for p in sys.argv[1:]:
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:
        continue
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)' "$@"; }

[ "${FRESH:-0}" = 1 ] && rm -rf "$L"
if [ ! -f "$L/.done-$FILES-$BIG_MB" ]; then
    rm -rf "$L"; mkdir -p "$L"
    echo "fuse-quick: building $FILES files + $BIG_MB MiB in $L ..." >&2
    lower_tree "$L" "$FILES" "$BIG_MB"
    touch "$L/.done-$FILES-$BIG_MB"
fi
mkdir -p "$M"

timed() { # timed CMD... : prints seconds, or "fail"
    local t0 t1
    t0=$(now)
    if "$@" > "$ROOT/out" 2>&1; then
        t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'
    else
        echo "fuse-quick: $* failed: $(tail -c 300 "$ROOT/out")" >&2
        echo fail
    fi
}
creates() { local i; for ((i = 0; i < $2; i++)); do echo "new file $i" > "$1/new$i" || return 1; done; }
copyup() { # the append (the copy-up) and the sync, apart: the split goes to $ROOT/split
    local t0 t1 t2
    t0=$(now); printf x >> "$1/big" || return 1; t1=$(now); sync; t2=$(now)
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "%.3f+%.3f", b-a, c-b}' > "$ROOT/split"
}
readbig() { dd if="$1/big" of=/dev/null bs=1M status=none; }

mount_impl() { # IMPL UPPER WORK
    local opts="lowerdir=$L,upperdir=$2,workdir=$3"
    case $1 in
        fuse-overlayfs) fuse-overlayfs -o "$opts" "$M" ;;
        overlayj) OVERLAYJ_LOG_DIR="$ROOT" "$REPO/bin/overlayj" -o "$opts" "$M" ;;
        overlayj-base) OVERLAYJ_JAVA_OPTS="${OVERLAYJ_JAVA_OPTS:-} ${BASE_OPTS:-}" OVERLAYJ_LOG_DIR="$ROOT" \
            "$REPO/bin/overlayj" -o "$opts" "$M" ;;
    esac
}

WORKLOADS=(creates read_lower copy_up read_cold read_warm)
declare -A T
LOAD_START=$(load)
for ((r = 0; r < ROUNDS; r++)); do
    for IMPL in $IMPLS; do
        # Fresh dirs, none deleted before the run ends: ext4 without a journal scans past inodes freed in the last
        # ~30 s at every create, so creates right after a deletion measure the deletion (bench/README.md).
        U="$ROOT/upper-$IMPL-$r" W="$ROOT/work-$IMPL-$r"
        mkdir -p "$U" "$W"
        if ! mount_impl "$IMPL" "$U" "$W" > "$ROOT/mount.$IMPL" 2>&1 || ! mountpoint -q "$M"; then
            echo "fuse-quick: $IMPL: mount failed: $(tail -c 500 "$ROOT/mount.$IMPL")" >&2
            exit 1
        fi
        find "$M" -printf '%i %s %m %n\n' > /dev/null
        t_cr=$(timed creates "$M/d000/s0" "$CREATES")
        evict "$L/big" "$M/big"
        warm_page_cache "$ROOT/warm" "$BIG_MB"
        t_rl=$(timed readbig "$M")         # still a lower file: READ requests on overlayj
        evict "$L/big" "$M/big"
        t_cu=$(timed copyup "$M")
        evict "$L/big" "$U/big" "$M/big"
        warm_page_cache "$ROOT/warm" "$BIG_MB"   # every read lands on pages this guest just used (rounds.sh)
        t_rc=$(timed readbig "$M")
        t_rw=$(timed readbig "$M")
        T[$IMPL,creates]+="$t_cr " T[$IMPL,read_lower]+="$t_rl " T[$IMPL,copy_up]+="$t_cu " T[$IMPL,read_cold]+="$t_rc " T[$IMPL,read_warm]+="$t_rw "
        echo "fuse-quick: round $r $IMPL: creates $t_cr read_lower $t_rl copy_up $t_cu ($(cat "$ROOT/split") append+sync) read_cold $t_rc read_warm $t_rw (load $(load))" >&2
        umount "$M" || { sleep 1; umount "$M"; } || { echo "fuse-quick: $IMPL: umount failed" >&2; exit 1; }
        for i in 1 2 3 4 5; do mountpoint -q "$M" || break; sleep 0.5; done
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }
echo
echo "fuse-quick: $(uname -r), $(nproc) cores, FILES=$FILES BIG_MB=$BIG_MB CREATES=$CREATES ROUNDS=$ROUNDS," \
     "overlayj $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo +dirty)," \
     "$(date -u +%H:%MZ)"
echo "load average: $LOAD_START at start, $(load) at end${OVERLAYJ_JAVA_OPTS:+; OVERLAYJ_JAVA_OPTS=$OVERLAYJ_JAVA_OPTS}${BASE_OPTS:+; BASE_OPTS=$BASE_OPTS}"
printf '%-10s' "median s"
for IMPL in $IMPLS; do printf ' %15s' "$IMPL"; done
for IMPL in $IMPLS; do [ "$IMPL" = fuse-overlayfs ] || printf ' %15s' "$IMPL/fo"; done
echo
for w in "${WORKLOADS[@]}"; do
    printf '%-10s' "$w"
    f=$(echo "${T[fuse-overlayfs,$w]:-}" | median 3)
    for IMPL in $IMPLS; do printf ' %15s' "$(echo "${T[$IMPL,$w]:-}" | median 3)"; done
    for IMPL in $IMPLS; do
        [ "$IMPL" = fuse-overlayfs ] || printf ' %15s' "$(ratio "$(echo "${T[$IMPL,$w]:-}" | median 3)" "$f")"
    done
    echo
done
for w in "${WORKLOADS[@]}"; do
    f=$(echo "${T[fuse-overlayfs,$w]:-}" | median 3)
    for IMPL in $IMPLS; do
        [ "$IMPL" = fuse-overlayfs ] || slower_than_fuse_overlayfs "$w" "$(echo "${T[$IMPL,$w]:-}" | median 3)" "$f" "$IMPL"
    done
done
echo "runs:"
for IMPL in $IMPLS; do for w in "${WORKLOADS[@]}"; do echo "  $IMPL $w: ${T[$IMPL,$w]:-}"; done; done
