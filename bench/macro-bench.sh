#!/usr/bin/env bash
# macro-bench: what users run on an overlay of a root filesystem, on the kernel overlay, fuse-overlayfs and overlayj
# (FUSE door). The lower layer is a Debian root filesystem made by `debootstrap --variant=minbase`, cached as a tar
# outside the repository and built when missing (needs a Debian mirror once; without one, a tar of this machine's
# /usr stands in, and the table says so). A measurement, not a test: it prints seconds and ratios, asserts nothing.
#
#   sudo bench/macro-bench.sh [DIR]          # DIR: where to unpack the layers (default /tmp); needs root
#   ROUNDS=1 IMPLS="fuse-overlayfs overlayj" sudo bench/macro-bench.sh
#
# Env: ROUNDS (default 3, rotated order, medians), IMPLS (default "kernel fuse-overlayfs overlayj"), TIMEOUT (s per
#      workload, default 600), SUITE (default bookworm), MIRROR (default http://deb.debian.org/debian),
#      ROOTFS_TAR (default /var/cache/overlayj-bench/rootfs-$SUITE-minbase.tar), KEEP=1 keeps the layers.
#
# Workloads, each on the same fresh mount in this order, caches dropped before each (sync, then drop_caches after
# touching 2 GiB, as overlay-bench does, so no implementation starts on pages the VM handed back to the host):
#   untar    tar -x of a second copy of the rootfs into /second (all new upper files), then sync
#   stat     find | xargs stat over the whole mount (both copies)
#   tar-c    tar -c of the whole mount, piped to /dev/null through cat (GNU tar skips file data when it writes
#            to /dev/null itself)
#   du       du -s of the whole mount
#   chown    chown -R of the lower copy's /usr: a copy-up of every file and directory in it, then sync
#   rm       rm -rf of /second/usr/share and /usr/share: 63% of the entries of a minbase tree (4263 of 6768 each),
#            half of them upper-only files, half copied-up lower files, each of which leaves a whiteout
#
# LAYERS=loop (default): each implementation's upper and work dirs, in each round, on an ext4 of their own (a fresh
#      1 GiB loop filesystem, with a journal, as users' filesystems have). The rm workload deletes ~8,500 entries, and
#      on an ext4 without a journal (this project's VM's root) inodes freed in the last 30 s are skipped, one by one,
#      by every inode allocation after them: the next implementation's copy-ups spent 38% of their server's CPU in
#      ext4's recently_deleted (perf, 2026-12-07). LAYERS=dir puts them in directories under DIR, as before.
set -uo pipefail

ROUNDS=${ROUNDS:-3}
LAYERS=${LAYERS:-loop}
FSMOUNTS=()
IMPLS=${IMPLS:-"kernel fuse-overlayfs overlayj"}
TIMEOUT=${TIMEOUT:-600}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=/var/cache/overlayj-bench
ROOTFS_TAR=${ROOTFS_TAR:-$CACHE/rootfs-$SUITE-minbase.tar}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
source "$REPO/bench/rounds.sh"
BASE=$(readlink -f "${1:-/tmp}")
ROOT="$BASE/overlayj-macro.$$"
L="$ROOT/lower" M="$ROOT/mnt"

[ "$(id -u)" = 0 ] || { echo "macro-bench: needs root (debootstrap, mount, drop_caches)" >&2; exit 1; }
fresh_aot_caches "$REPO"  # (bench/rounds.sh: a stale cache would go unused)

cleanup() {
    local i
    unmount_mnt "$M"
    if mountpoint -q "$M" 2>/dev/null; then echo "macro-bench: could not unmount $M" >&2; return; fi
    for ((i = ${#FSMOUNTS[@]} - 1; i >= 0; i--)); do
        mountpoint -q "${FSMOUNTS[$i]}" && { umount "${FSMOUNTS[$i]}" 2> /dev/null || umount -l "${FSMOUNTS[$i]}"; }
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "macro-bench: kept $ROOT" >&2; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the root filesystem tar: debootstrap once, or this machine's /usr when no mirror answers -----------------------
ROOTFS_KIND="debootstrap --variant=minbase $SUITE"
build_rootfs() {
    local tmp="$CACHE/rootfs.build.$$"
    mkdir -p "$CACHE"
    if command -v debootstrap > /dev/null; then
        echo "macro-bench: building $ROOTFS_TAR with debootstrap --variant=minbase $SUITE $MIRROR ..." >&2
        if debootstrap --variant=minbase "$SUITE" "$tmp" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1; then
            tar -C "$tmp" --numeric-owner -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
            rm -rf "$tmp"
            return 0
        fi
        echo "macro-bench: debootstrap failed (log: $CACHE/debootstrap.log)" >&2
        rm -rf "$tmp"
    else
        echo "macro-bench: no debootstrap (scripts/setup.sh installs it)" >&2
    fi
    return 1
}
if [ ! -f "$ROOTFS_TAR" ] && ! build_rootfs; then
    ROOTFS_TAR="$CACHE/usr-of-this-machine.tar"
    ROOTFS_KIND="FALLBACK: a tar of this machine's /usr (no Debian mirror reached)"
    echo "macro-bench: $ROOTFS_KIND" >&2
    [ -f "$ROOTFS_TAR" ] || tar -C / --numeric-owner --one-file-system -cf "$ROOTFS_TAR" usr 2>/dev/null
fi

now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
drop_caches() { sync; warm_free_memory; echo 3 > /proc/sys/vm/drop_caches; }
LOAD_START=$(load)
mkdir -p "$L" "$M"
tar -C "$L" --numeric-owner -xf "$ROOTFS_TAR"
FILES=$(find "$L" | wc -l)
MB=$(du -sm "$L" | cut -f1)
echo "macro-bench: lower layer: $ROOTFS_KIND, $FILES entries, $MB MiB" >&2

run() { # run NAME CMD...: prints its seconds, or "fail"
    local t0 t1 rc
    t0=$(now)
    timeout "$TIMEOUT" "${@:2}" > "$ROOT/out.$1" 2>&1
    rc=$?
    t1=$(now)
    if [ $rc -ne 0 ]; then
        echo "macro-bench: $IMPL/$1 failed (rc $rc): $(tail -c 300 "$ROOT/out.$1")" >&2
        echo fail
    else
        awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'
    fi
}
untar() { mkdir "$1/second" && tar -C "$1/second" --numeric-owner -xf "$2" && sync; }
statall() { cd "$1" && find . -print0 | xargs -0 stat > /dev/null; }
tarc() { tar -C "$1" -cf - . | cat > /dev/null; }
dus() { du -s "$1" > /dev/null; }
chownusr() { chown -R 4321:4321 "$1/usr" && sync; }
rmhalf() { rm -rf "$1/second/usr/share" "$1/usr/share" && sync; }
export -f untar statall tarc dus chownusr rmhalf

WORKLOADS=(untar stat tarc du chown rm)
declare -A LABEL=(
    [untar]="tar -x of a 2nd copy + sync"
    [stat]="find | xargs stat (both copies)"
    [tarc]="tar -c of everything | cat"
    [du]="du -s"
    [chown]="chown -R /usr (copy-up) + sync"
    [rm]="rm -rf of both /usr/share + sync"
)
declare -A T

mount_impl() { # mount_impl IMPL UPPER WORK
    local opts="lowerdir=$L,upperdir=$2,workdir=$3"
    case $1 in
        kernel) mount -t overlay overlay -o "$opts" "$M" ;;
        fuse-overlayfs) fuse-overlayfs -o "$opts" "$M" ;;
        overlayj) OVERLAYJ_LOG_DIR="$ROOT" "$REPO/bin/overlayj" -o "$opts" "$M" ;;
    esac
}

for ((round = 0; round < ROUNDS; round++)); do
  # shellcheck disable=SC2086 # the implementations' names, one word each
  for IMPL in $(round_order "$round" $IMPLS); do
    LFS="$ROOT/layers-$IMPL-$round"
    if [ "$LAYERS" = loop ]; then
        loop_fs "$LFS" 1024 || { echo "macro-bench: cannot make a layer filesystem" >&2; exit 1; }
    fi
    U="$LFS/upper" W="$LFS/work"
    mkdir -p "$U" "$W"
    echo "macro-bench: round $((round + 1))/$ROUNDS: $IMPL ..." >&2
    if ! mount_impl "$IMPL" "$U" "$W" > "$ROOT/mount.$IMPL" 2>&1 || ! mountpoint -q "$M"; then
        echo "macro-bench: $IMPL: MOUNT FAILED: $(tail -c 500 "$ROOT/mount.$IMPL")" >&2
        for w in "${WORKLOADS[@]}"; do T[$IMPL,$w]+="no-mount "; done
        continue
    fi
    drop_caches; T[$IMPL,untar]+="$(run untar bash -c 'untar "$0" "$1"' "$M" "$ROOTFS_TAR") "
    drop_caches; T[$IMPL,stat]+="$(run stat bash -c 'statall "$0"' "$M") "
    drop_caches; T[$IMPL,tarc]+="$(run tarc bash -c 'tarc "$0"' "$M") "
    drop_caches; T[$IMPL,du]+="$(run du bash -c 'dus "$0"' "$M") "
    drop_caches; T[$IMPL,chown]+="$(run chown bash -c 'chownusr "$0"' "$M") "
    drop_caches; T[$IMPL,rm]+="$(run rm bash -c 'rmhalf "$0"' "$M") "
    # Sanity: the copy-up and the removal reached the upper layer.
    [ -c "$U/usr/share" ] || echo "macro-bench: $IMPL: no whiteout for /usr/share in the upper layer" >&2
    umount "$M" || { sleep 1; umount "$M"; } || echo "macro-bench: $IMPL: umount failed" >&2
    for i in 1 2 3 4 5; do mountpoint -q "$M" || break; sleep 0.5; done
    # the layer filesystem is done with: unmounted (the loop device goes with it) and its image removed
    if [ "$LAYERS" = loop ] && ! mountpoint -q "$M" && umount "$LFS"; then rm -f "$LFS.img"; fi
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }
echo
echo "macro-bench: $(uname -r), $(nproc) cores, layers on $(df --output=fstype "$BASE" | tail -1) ($BASE)," \
     "ROUNDS=$ROUNDS, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "lower layer: $ROOTFS_KIND: $FILES entries, $MB MiB ($ROOTFS_TAR); upper layers: $([ "$LAYERS" = loop ] && echo "a 1 GiB ext4 (journal) per implementation and round" || echo "directories in $BASE")"
echo "fuse-overlayfs: $(fuse-overlayfs --version 2>&1 | grep -m1 'fuse-overlayfs'); overlayj: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo +dirty)"
echo "load average (1/5/15 min): $LOAD_START at start, $(load) at end${OVERLAYJ_JAVA_OPTS:+; OVERLAYJ_JAVA_OPTS=$OVERLAYJ_JAVA_OPTS}"
printf '\n%-36s %10s %15s %10s %12s %12s\n' "median seconds" kernel fuse-overlayfs overlayj "oj/fuse-ovl" "oj/kernel"
WARNINGS=
for w in "${WORKLOADS[@]}"; do
    k=$(echo "${T[kernel,$w]:-}" | median 3) f=$(echo "${T[fuse-overlayfs,$w]:-}" | median 3)
    o=$(echo "${T[overlayj,$w]:-}" | median 3)
    printf '%-36s %10s %15s %10s %12s %12s\n' "${LABEL[$w]}" "$k" "$f" "$o" "$(ratio "$o" "$f")" "$(ratio "$o" "$k")"
    WARNINGS+=$(slower_than_fuse_overlayfs "${LABEL[$w]}" "$o" "$f")$'\n'
done
printf '%s' "$WARNINGS" | grep . || true
echo "every run (seconds, in round order):"
for w in "${WORKLOADS[@]}"; do
    for IMPL in $IMPLS; do printf '  %-8s %-15s %s\n' "$w" "$IMPL" "${T[$IMPL,$w]:-}"; done
done
