#!/usr/bin/env bash
# overlay-bench: the same workloads on the kernel overlay, fuse-overlayfs and overlayj (FUSE door), one lower tree,
# one filesystem, one run. A measurement, not a test: it prints seconds and ratios and asserts nothing. The last row
# reads the big lower file once more through a read-only overlay of the same tree (no upper layer) on a mount of its own.
#
#   sudo bench/overlay-bench.sh [DIR]        # DIR: where to build the tree (default /tmp); needs root
#   FILES=2000 BIG_MB=64 ROUNDS=1 bench/overlay-bench.sh   # quick run
#
# Env: FILES (small lower files, default 20000), BIG_MB (big lower file, default 512), CREATES (default 2000),
#      ROUNDS (default 3: every implementation measured ROUNDS times, in a rotated order; the table shows medians),
#      IMPLS (default "kernel fuse-overlayfs overlayj"), TIMEOUT (seconds per workload, default 300),
#      KEEP=1 keeps the tree afterwards, OVERLAYJ_JAVA_OPTS reaches overlayj's JVM (bin/overlayj).
#      OJ_BASE=DIR: a second overlayj build (a copy of a checkout with bin/, cli/target/ and its own AOT caches, made
#      by scripts/aot-train.sh there) run as the implementation "overlayj-base", for a before/after taken in one
#      interleaved run on the same load, e.g. OJ_BASE=/tmp/oj-main IMPLS="overlayj-base overlayj fuse-overlayfs"
#      (the two builds' jars differ, so each gets its own resident server). OJ_BASE_OPTS: JVM options for
#      overlayj-base only (a copy of the same build in another directory then A/Bs one of its switches, e.g.
#      OJ_BASE_OPTS=-Doverlayj.fuse.spinMicros=0).
#      Needs overlayj built: sudo ./scripts/setup.sh (it also trains the launcher's AOT cache)
#
# Two things of this machine would otherwise decide the figures more than the implementations do (bench/README.md):
#  - ext4 without a journal does not reuse an inode freed in the last ~30 s and scans past each such inode when it
#    allocates: creates run right after another implementation's upper layer was deleted took 2-4x as long. So no
#    upper layer is deleted until the run ends: each implementation and round gets fresh upper/work dirs.
#  - the VM returns guest pages that stay free for ~2 s to the host (free page reporting), and touching them again
#    costs host page faults: a 512 MiB copy took 0.13 s with the page cache freed just before and 1.0 s with it
#    freed 5 s before. So before every drop_caches, 2 GiB are touched and freed (warm_free_memory): whatever ran
#    before, a cold workload then starts on pages the host still backs.
# AWAKE=1: a SCHED_IDLE busy loop on every CPU during the run, so that no CPU halts between round trips (see
#      awake_start in bench/rounds.sh: on this VM a halted CPU's wake-up is tens of microseconds).
set -uo pipefail

FILES=${FILES:-20000}
BIG_MB=${BIG_MB:-512}
CREATES=${CREATES:-2000}
ROUNDS=${ROUNDS:-3}
IMPLS=${IMPLS:-"kernel fuse-overlayfs overlayj"}
TIMEOUT=${TIMEOUT:-300}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/lower-tree.sh"
source "$REPO/bench/rounds.sh"
BASE=$(readlink -f "${1:-/tmp}")
ROOT="$BASE/overlayj-bench.$$"
L="$ROOT/lower" M="$ROOT/mnt"

[ "$(id -u)" = 0 ] || { echo "overlay-bench: needs root (mount, drop_caches)" >&2; exit 1; }
fresh_aot_caches "$REPO" ${OJ_BASE:+"$OJ_BASE"}  # (bench/rounds.sh: a stale cache would go unused)

# --- cleanup: every mount we made, even on failure or ^C -----------------------------------------------------------
cleanup() {
    awake_stop
    unmount_mnt "$M"
    if mountpoint -q "$M" 2>/dev/null; then echo "overlay-bench: could not unmount $M" >&2; return; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "overlay-bench: kept $ROOT" >&2; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
drop_caches() { sync; warm_free_memory; echo 3 > /proc/sys/vm/drop_caches; }

# --- the lower tree: FILES small files, 100 per leaf dir, 10 leaves per top dir; one BIG_MB file -------------------
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(load)
mkdir -p "$L" "$M"
echo "overlay-bench: building $FILES files + ${BIG_MB} MiB under $ROOT ..." >&2
t0=$(now)
lower_tree "$L" "$FILES" "$BIG_MB"
ENTRIES=$(find "$L" | wc -l)
echo "overlay-bench: tree built in $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s" >&2

# --- one workload: prints its seconds, or "fail" -------------------------------------------------------------------
# The server's CPU during each workload (utime+stime of /proc/PID/stat: threads that ended meanwhile, such as JIT
# compiler threads, count too), in ms, to $ROOT/cpu.IMPL.NAME: where a FUSE row's time goes besides the caller.
server_pids() {
    case $IMPL in
        kernel) ;;
        fuse-overlayfs) pgrep -f -- "^fuse-overlayfs .* $M\$" ;;
        *) pgrep -f 'org.overlayj|overlayj-cli' ;;
    esac
}
server_ticks() { local p; for p in "$@"; do cut -d' ' -f14,15 /proc/"$p"/stat 2>/dev/null; done | awk '{s += $1 + $2} END {print s + 0}'; }
run() { # run NAME CMD...
    local t0 t1 rc pids c0 s0
    pids=$(server_pids)
    # shellcheck disable=SC2086 # pids, one word each
    c0=$(server_ticks $pids)
    s0=$(steal_ms)
    t0=$(now)
    timeout "$TIMEOUT" "${@:2}" > "$ROOT/out.$1" 2>&1
    rc=$?
    t1=$(now)
    echo "$(( $(steal_ms) - s0 ))" >> "$ROOT/steal.$IMPL.$1"
    # shellcheck disable=SC2086
    [ -n "$pids" ] && echo "$(( ($(server_ticks $pids) - c0) * 1000 / $(getconf CLK_TCK) ))" >> "$ROOT/cpu.$IMPL.$1"
    if [ $rc -ne 0 ]; then
        echo "overlay-bench: $IMPL/$1 failed (rc $rc): $(tail -c 300 "$ROOT/out.$1")" >&2
        echo fail
    else
        awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'
    fi
}

walk() { find "$1" -printf '%i %s %m %n\n' > /dev/null; }
creates() { local i; for ((i = 0; i < $2; i++)); do echo "new file $i" > "$1/new$i" || return 1; done; }
copyup() { # the append (the copy-up) and the sync, apart: the split goes to $2
    local t0 t1 t2
    t0=$(date +%s.%N); printf x >> "$1/big" || return 1; t1=$(date +%s.%N); sync; t2=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "%.3f+%.3f ", b-a, c-b}' >> "$2"
}
readbig() { dd if="$1/big" of=/dev/null bs=1M status=none; }
export -f walk creates copyup readbig

WORKLOADS=(cold_walk warm_walk creates read_lower copy_up read_cold read_warm read_ro)
declare -A LABEL=(
    [cold_walk]="stat walk, cold ($ENTRIES entries)"
    [warm_walk]="stat walk, warm"
    [creates]="$CREATES small file creates"
    [read_lower]="read ${BIG_MB} MiB lower file, cold"
    [copy_up]="copy-up ${BIG_MB} MiB (append 1 B + sync)"
    [read_cold]="read ${BIG_MB} MiB copied up, cold"
    [read_warm]="read ${BIG_MB} MiB, warm cache"
    [read_ro]="read ${BIG_MB} MiB lower, cold, read-only"
)
declare -A T

mount_impl() { # mount_impl IMPL UPPER WORK; UPPER "-": a read-only overlay of an empty layer over the lower tree
    local opts="lowerdir=$L,upperdir=$2,workdir=$3"
    [ "$2" = - ] && opts="lowerdir=$ROOT/ro-top:$L"    # (no upper layer: the kernel wants two lower layers then)
    case $1 in
        kernel) mount -t overlay overlay -o "$opts" "$M" ;;
        fuse-overlayfs) fuse-overlayfs -o "$opts" "$M" ;;
        overlayj) OVERLAYJ_LOG_DIR="$ROOT" "$REPO/bin/overlayj" -o "$opts" "$M" ;;
        overlayj-base)
            [ -x "${OJ_BASE:-}/bin/overlayj" ] || { echo "overlayj-base needs OJ_BASE (a build's directory)"; return 1; }
            OVERLAYJ_JAVA_OPTS="${OJ_BASE_OPTS:-${OVERLAYJ_JAVA_OPTS:-}}" OVERLAYJ_LOG_DIR="$ROOT" \
                "$OJ_BASE/bin/overlayj" -o "$opts" "$M" ;;
    esac
}

# --- FUSE over io_uring: a third overlayj column, overlayj-uring (issue 20 point 3) ---------------------------------
# overlayj-uring is overlayj mounted while the fuse module's enable_uring is on (turned on for that mount only and put
# back; it is global, so mounts others make at that moment may negotiate io_uring too); the overlayj column then
# always means the /dev/fuse loop (OVERLAYJ_FUSE_URING=off), whatever the parameter says. Added to the default IMPLS
# when the parameter exists (Linux >= 6.14 with CONFIG_FUSE_IO_URING); IMPLS="... overlayj-uring" asks for it. The
# parameter is set and put back under the lock file FuseUringTest takes, so that neither undoes the other's setting.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
[ "$IMPLS" = "kernel fuse-overlayfs overlayj" ] && [ -w "$URING_PARAM" ] && IMPLS="$IMPLS overlayj-uring"
URING_WINDOW=
trap '[ -n "$URING_WINDOW" ] && echo "$URING_SAVED" > "$URING_PARAM"; cleanup' EXIT
eval "$(declare -f mount_impl | sed '1s/^mount_impl /mount_impl_base /')"
mount_impl() { # as mount_impl_base, with the two overlayj transports told apart
    local rc p lock
    case $1 in
        overlayj|overlayj-base) OVERLAYJ_FUSE_URING=off mount_impl_base "$@" ;;
        overlayj-uring)
            [ -w "$URING_PARAM" ] || { echo "no $URING_PARAM: the fuse module has no io_uring"; return 1; }
            exec {lock}> /tmp/overlayj-enable_uring.lock && flock "$lock"
            URING_SAVED=$(cat "$URING_PARAM") URING_WINDOW=1
            echo Y > "$URING_PARAM"
            # the server must not inherit the lock's fd (it would hold the lock as long as it runs)
            OVERLAYJ_FUSE_URING=on mount_impl_base overlayj "$2" "$3" {lock}>&-; rc=$?
            echo "$URING_SAVED" > "$URING_PARAM"
            URING_WINDOW=
            exec {lock}>&-
            [ $rc = 0 ] || return $rc
            # the server serves through the rings when it has its fuse-ring-Q-I threads
            for p in $(pgrep -f -- " $M\$"); do grep -qs '^fuse-ring-' /proc/"$p"/task/*/comm && return 0; done
            echo "overlay-bench: overlayj-uring: the server has no fuse-ring threads (kernel refused io_uring?)" >&2 ;;
        *) mount_impl_base "$@" ;;
    esac
}
# --- end of the FUSE over io_uring block ----------------------------------------------------------------------------

awake_start
for ((round = 0; round < ROUNDS; round++)); do
  # shellcheck disable=SC2086 # the implementations' names, one word each
  for IMPL in $(round_order "$round" $IMPLS); do
    U="$ROOT/upper-$IMPL-$round" W="$ROOT/work-$IMPL-$round"
    mkdir -p "$U" "$W"
    echo "overlay-bench: round $((round + 1))/$ROUNDS: $IMPL ..." >&2
    if ! mount_impl "$IMPL" "$U" "$W" > "$ROOT/mount.$IMPL" 2>&1 || ! mountpoint -q "$M"; then
        echo "overlay-bench: $IMPL: MOUNT FAILED: $(tail -c 500 "$ROOT/mount.$IMPL")" >&2
        for w in "${WORKLOADS[@]}"; do T[$IMPL,$w]+="no-mount "; echo - >> "$ROOT/steal.$IMPL.$w"; done
        continue
    fi
    # Cold: fresh mount (no daemon caches) and no kernel caches (dentries, inodes, pages of the lower fs).
    drop_caches
    T[$IMPL,cold_walk]+="$(run cold_walk bash -c 'walk "$0"' "$M") "
    T[$IMPL,warm_walk]+="$(run warm_walk bash -c 'walk "$0"' "$M") "
    T[$IMPL,creates]+="$(run creates bash -c 'creates "$0" "$1"' "$M/d000/s0" "$CREATES") "
    # The big file while it is still a lower file (through READ requests on overlayj: no passthrough for lower files)
    drop_caches
    warm_page_cache "$ROOT/warm" "$BIG_MB"
    T[$IMPL,read_lower]+="$(run read_lower bash -c 'readbig "$0"' "$M") "
    drop_caches
    T[$IMPL,copy_up]+="$(run copy_up bash -c 'copyup "$0" "$1"' "$M" "$ROOT/split.$IMPL") "
    drop_caches
    warm_page_cache "$ROOT/warm" "$BIG_MB"   # every read lands on pages this guest just used (rounds.sh)
    T[$IMPL,read_cold]+="$(run read_cold bash -c 'readbig "$0"' "$M") "
    T[$IMPL,read_warm]+="$(run read_warm bash -c 'readbig "$0"' "$M") "
    # Sanity: the copy-up really landed in the upper layer with the extra byte.
    want=$((BIG_MB * 1024 * 1024 + 1))
    got=$(stat -c %s "$U/big" 2>/dev/null || echo missing)
    [ "$got" = "$want" ] || echo "overlay-bench: $IMPL: upper/big has size $got, expected $want" >&2
    umount "$M" || { sleep 1; umount "$M"; } || echo "overlay-bench: $IMPL: umount failed" >&2
    for i in 1 2 3 4 5; do mountpoint -q "$M" || break; sleep 0.5; done
    # The lower file once more, on a read-only overlay (lower layers only): nothing can be copied up there, so
    # overlayj makes its lower files FUSE passthrough files (bench/README.md, issue 20, fuseread)
    mkdir -p "$ROOT/ro-top"
    if mount_impl "$IMPL" - - > "$ROOT/mount.$IMPL.ro" 2>&1 && mountpoint -q "$M"; then
        drop_caches
        warm_page_cache "$ROOT/warm" "$BIG_MB"
        T[$IMPL,read_ro]+="$(run read_ro bash -c 'readbig "$0"' "$M") "
        umount "$M" || { sleep 1; umount "$M"; } || echo "overlay-bench: $IMPL: umount (read-only) failed" >&2
        for i in 1 2 3 4 5; do mountpoint -q "$M" || break; sleep 0.5; done
    else
        echo "overlay-bench: $IMPL: read-only MOUNT FAILED: $(tail -c 300 "$ROOT/mount.$IMPL.ro")" >&2
        T[$IMPL,read_ro]+="no-mount "; echo - >> "$ROOT/steal.$IMPL.read_ro"
    fi
  done
done

# --- the table -----------------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }
echo
echo "overlay-bench: $(uname -r), $(nproc) cores, tree on $(df --output=fstype "$BASE" | tail -1) ($BASE)," \
     "FILES=$FILES BIG_MB=$BIG_MB CREATES=$CREATES ROUNDS=$ROUNDS, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "fuse-overlayfs: $(fuse-overlayfs --version 2>&1 | grep -m1 'fuse-overlayfs'); overlayj: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo +dirty)"
# The machine may be shared: a workload run under a high load average is worth running again.
echo "load average (1/5/15 min): $LOAD_START at start, $(load) at end${AWAKE:+; AWAKE=$AWAKE}${OVERLAYJ_JAVA_OPTS:+; OVERLAYJ_JAVA_OPTS=$OVERLAYJ_JAVA_OPTS}"
printf '\n%-40s %10s %15s %10s %12s %12s\n' "median seconds" kernel fuse-overlayfs overlayj "oj/fuse-ovl" "oj/kernel"
WARNINGS=
for w in "${WORKLOADS[@]}"; do
    k=$(echo "${T[kernel,$w]:-}" | median 3) f=$(echo "${T[fuse-overlayfs,$w]:-}" | median 3)
    o=$(echo "${T[overlayj,$w]:-}" | median 3)
    printf '%-40s %10s %15s %10s %12s %12s\n' "${LABEL[$w]}" "$k" "$f" "$o" "$(ratio "$o" "$f")" "$(ratio "$o" "$k")"
    WARNINGS+=$(slower_than_fuse_overlayfs "${LABEL[$w]}" "$o" "$f")$'\n'
done
printf '%s' "$WARNINGS" | grep . || true
echo "every run (seconds, in round order):"
for w in "${WORKLOADS[@]}"; do
    for IMPL in $IMPLS; do printf '  %-12s %-15s %s\n' "$w" "$IMPL" "${T[$IMPL,$w]:-}"; done
done
for IMPL in $IMPLS; do printf '  %-12s %-15s %s\n' "append+sync" "$IMPL" "$(cat "$ROOT/split.$IMPL" 2>/dev/null)"; done
# per_run TITLE NAME: TITLE, then what each run wrote to $ROOT/NAME.IMPL.WORKLOAD, a line per workload and implementation
per_run() {
    local w i
    echo "$1"
    for w in "${WORKLOADS[@]}"; do
        for i in $IMPLS; do
            [ -s "$ROOT/$2.$i.$w" ] && printf '  %-12s %-15s %s\n' "$w" "$i" "$(tr '\n' ' ' < "$ROOT/$2.$i.$w")"
        done
    done
}
per_run "CPU ms the host took from this VM (steal) per run (in round order):" steal
for w in "${WORKLOADS[@]}"; do
    for IMPL in $IMPLS; do
        steal_note "${LABEL[$w]}" "$IMPL" "$(tr '\n' ' ' < "$ROOT/steal.$IMPL.$w" 2>/dev/null)" "${T[$IMPL,$w]:-}"
    done
done
# The same medians over the rounds the host did not take CPU from (no NOTE above), when every column of the row has
# at least half the rounds (rounded up) left; "-" where one has fewer. Both tables stand: this one ranks the
# implementations, not the host's other work, on a run with steal in some rounds.
NEED=$(( (ROUNDS + 1) / 2 ))
CLEAN_IMPLS="kernel fuse-overlayfs overlayj"
[[ " $IMPLS " == *" overlayj-uring "* ]] && CLEAN_IMPLS+=" overlayj-uring"
# shellcheck disable=SC2086 # the implementations' names, one word each
printf '\n%-40s %10s %15s %10s %10s %12s %12s %12s\n' "median s, rounds without steal" kernel fuse-overlayfs overlayj \
    "$([[ $CLEAN_IMPLS == *uring ]] && echo oj-uring)" "oj/fuse-ovl" "oj/kernel" "$([[ $CLEAN_IMPLS == *uring ]] && echo uring/f-ovl)"
for w in "${WORKLOADS[@]}"; do
    declare -A C=()
    for IMPL in $CLEAN_IMPLS; do
        runs=$(unstolen "$(tr '\n' ' ' < "$ROOT/steal.$IMPL.$w" 2>/dev/null)" "${T[$IMPL,$w]:-}")
        # shellcheck disable=SC2086
        if [ "$(echo $runs | wc -w)" -ge "$NEED" ]; then C[$IMPL]=$(echo "$runs" | median 3); else C[$IMPL]=-; fi
    done
    printf '%-40s %10s %15s %10s %10s %12s %12s %12s\n' "${LABEL[$w]}" "${C[kernel]}" "${C[fuse-overlayfs]}" \
        "${C[overlayj]}" "${C[overlayj-uring]:-}" "$(ratio "${C[overlayj]}" "${C[fuse-overlayfs]}")" \
        "$(ratio "${C[overlayj]}" "${C[kernel]}")" \
        "$([ -n "${C[overlayj-uring]:-}" ] && ratio "${C[overlayj-uring]}" "${C[fuse-overlayfs]}")"
    unset C
done
echo
per_run "server CPU ms per run (FUSE servers; in round order):" cpu

# --- before/after: the overlayj-base column (OJ_BASE), taken interleaved with overlayj --------------------------------
if [[ " $IMPLS " == *" overlayj-base "* ]]; then
    echo "overlayj-base: $OJ_BASE ($(cat "$OJ_BASE/COMMIT" 2> /dev/null || git -C "$OJ_BASE" rev-parse --short HEAD 2> /dev/null))"
    printf '\n%-40s %12s %10s %12s %12s\n' "median seconds" "oj-base" "overlayj" "oj/base" "base/fuse-ovl"
    for w in "${WORKLOADS[@]}"; do
        b=$(echo "${T[overlayj-base,$w]:-}" | median 3) o=$(echo "${T[overlayj,$w]:-}" | median 3)
        f=$(echo "${T[fuse-overlayfs,$w]:-}" | median 3)
        printf '%-40s %12s %10s %12s %12s\n' "${LABEL[$w]}" "$b" "$o" "$(ratio "$o" "$b")" "$(ratio "$b" "$f")"
    done
fi

# --- FUSE over io_uring: the overlayj-uring column against the others (issue 20 point 3) --------------------------
if [[ " $IMPLS " == *" overlayj-uring "* ]]; then
    printf '\n%-40s %10s %12s %12s %12s\n' "median seconds" "oj-uring" "uring/oj" "uring/fuse-ovl" "uring/kernel"
    for w in "${WORKLOADS[@]}"; do
        u=$(echo "${T[overlayj-uring,$w]:-}" | median 3) o=$(echo "${T[overlayj,$w]:-}" | median 3)
        k=$(echo "${T[kernel,$w]:-}" | median 3) f=$(echo "${T[fuse-overlayfs,$w]:-}" | median 3)
        printf '%-40s %10s %12s %12s %12s\n' "${LABEL[$w]}" "$u" "$(ratio "$u" "$o")" "$(ratio "$u" "$f")" \
            "$(ratio "$u" "$k")"
    done
fi
