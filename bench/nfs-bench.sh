#!/usr/bin/env bash
# nfs-bench: the same NFSv3 workloads, through libnfs's nfs-cp, against `overlayj serve` and against nfs-ganesha
# (FSAL_VFS) exporting a kernel overlay mount (index=on,nfs_export=on) of the same lower tree. A measurement, not a
# test: it prints seconds and the ratio overlayj/ganesha, and asserts nothing.
#
#   bench/nfs-bench.sh                         # needs root; installs nfs-ganesha, nfs-ganesha-vfs, rpcbind if missing
#   FILES=2000 BIG_MB=64 bench/nfs-bench.sh    # quick run
#   bench/nfs-bench.sh --vm [BASE]            # and then the Linux kernel's NFS client, in a VM (below)
#
# Everything runs inside `unshare -n -m` (its own loopback-only network, so ganesha and rpcbind can have ports
# 111/2049; its own /run, so rpcbind's files do not leak): nothing listens outside it.
# Env: FILES (small lower files copied out, default 20000), BIG_MB (default 512), PAR (nfs-cp processes at once
#      for the tree copy, default 4), META (files created, stat'ed and removed one call at a time, default 5000),
#      WIDE (entries of a lower directory listed with READDIRPLUS, default 20000), LISTS (listings of it in one
#      process, default 1: ganesha answers a second one from its cache), META_GAP (seconds kept between the end of
#      one server's metadata row and the start of the next one's, default 36: see below), IMPLS (default "overlayj ganesha"),
#      TIMEOUT (seconds per workload, default 900), ROUNDS (default 3: each server measured ROUNDS times, in a rotated order; the table shows medians),
#      KEEP=1 keeps the tree. OJ_BASE=DIR: a second overlayj build (a checkout or a copy with bin/, cli/target/ and
#      its AOT caches) run as the implementation "overlayj-base", for a before/after in one interleaved run, e.g.
#      OJ_BASE=/tmp/oj-main IMPLS="overlayj-base overlayj ganesha"; the table then has an overlayj-base column too.
#      OJ_BASE_OPTS: JVM options for overlayj-base only (OVERLAYJ_JAVA_OPTS), for an A/B of one build's switches,
#      e.g. OJ_BASE=$PWD OJ_BASE_OPTS=-Doverlayj.nfs.dataInline=true.
#      Needs overlayj built: sudo ./scripts/setup.sh (which also trains serve's AOT cache).
#      The metadata rows use bench/nfs-meta.c (libnfs, one call at a time), built here with gcc and libnfs-dev.
# --vm: after the libnfs rounds, each server once more, driven by the Linux kernel's NFS client (vers=3, nolock) in
#      the itest VM (scripts/vm-assets.sh: Debian's kernel, busybox initramfs; qemu's user-mode network, through
#      which the guest reaches the servers as 10.0.2.2): similar workloads with plain tools (ojcheck big write +
#      fsync, cat, cp -r, touch/stat/rm, ls -l), timed in the guest, one run each. KVM when /dev/kvm boots a VM,
#      else TCG, whose figures measure the emulated guest more than the servers: compare them with nothing but
#      each other. VM_ACCEL=kvm|tcg forces one, VM_TIMEOUT (seconds per boot, default 1800).
# As in overlay-bench.sh (bench/README.md): no upper layer is deleted before the run ends, and 2 GiB are touched
# and freed before every workload, so that no server's workload lands on pages the VM has handed back to the host
# while another's lands on pages the previous one just freed.
# Repeatability (bench/README.md, "nfs-bench repeatable"): LAYERS=loop (default) puts the lower layer on a loop-mounted
#      ext4 of its own and each server's upper+work of each round on a fresh one (direct I/O to the image file, so
#      no second page cache), so no round inherits the previous one's writeback, deleted inodes or fragmentation;
#      LAYERS=dir keeps everything in directories under BASE as before (then META_GAP matters). Before every
#      timed workload: sync, and a wait until the machine's Dirty+Writeback pages are below 32 MiB. READ=warm
#      (default) reads the big lower file from the page cache (read once untimed before; both servers read the
#      same real inode's cache) into /dev/null: on this VM every page the kernel allocates for a cold read costs a
#      host-side fault whose price varies 10x from one second to the next, which made the cold row unrankable;
#      READ=cold evicts it first (as before), READ=both times both. The written file's source is kept in the page
#      cache for the same reason. The table prints each row's median, its min-max over rounds, and the server's
#      CPU time (utime+stime of the server's process, ms, median), which load changes little.
#      The rows are interleaved round by round (round_order); ROUNDS default 5.
# AWAKE=1: a SCHED_IDLE busy loop on every CPU during the run, so that no CPU halts between round trips (see
#      awake_start in bench/rounds.sh: on this VM a halted CPU's wake-up is tens of microseconds).
# WARMUP=1 (default): each server, once started, gets every workload once untimed before the timed ones (a write of
#      the big file to another name, WARM_FILES small files copied out, WARM_META files created+stat'ed+removed in
#      another directory, one listing of a directory other than the wide one, which ganesha would then answer from its
#      cache), so that the rows measure servers in their steady state, as a
#      long-running overlayj serve or ganesha is: a fresh overlayj's JVM spends ~140 ms of its first 512 MiB write in
#      the JIT compiler (bench/README.md, nfswrite), which no later write pays. Both servers get the same warm-up.
#      WARMUP=0 times a fresh server's first calls instead (a restart's cost, not a server's speed). WARMUP=N: N such
#      passes (each prints the server CPU it took: a JIT still compiling shows as a pass dearer than the one before).
set -uo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
VM=0
if [ "${1:-}" = --vm ]; then VM=1; shift; fi
source "$REPO/bench/rounds.sh"
source "$REPO/bench/nfs-servers.sh"
[ "$(id -u)" = 0 ] || { echo "nfs-bench: needs root (mount, unshare)" >&2; exit 1; }

if [ "${NFS_BENCH_INSIDE:-}" != 1 ]; then
    fresh_aot_caches "$REPO" ${OJ_BASE:+"$OJ_BASE"}  # (bench/rounds.sh: a stale cache would go unused)
    missing=()
    command -v ganesha.nfsd > /dev/null || missing+=(nfs-ganesha)
    [ -e /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so ] || missing+=(nfs-ganesha-vfs)
    command -v rpcbind > /dev/null || missing+=(rpcbind)
    command -v nfs-cp > /dev/null || missing+=(libnfs-utils)
    [ -e /usr/include/nfsc/libnfs.h ] || missing+=(libnfs-dev)
    command -v gcc > /dev/null || missing+=(gcc libc6-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "nfs-bench: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" > /dev/null ||
            { echo "nfs-bench: cannot install ${missing[*]}" >&2; exit 1; }
    fi
    if [ "$VM" = 1 ]; then
        # the kernel client's VM: Debian's kernel + busybox initramfs (the itest VM's), qemu; made or reused here
        "$REPO/scripts/vm-assets.sh" > "/tmp/nfs-bench-vm-assets.$$" ||
            { echo "nfs-bench: --vm: scripts/vm-assets.sh failed" >&2; exit 1; }
        export NFS_BENCH_VM_ASSETS=/tmp/nfs-bench-vm-assets.$$
    fi
    [ -f "$REPO/cli/target/overlayj-cli-0.1.0-SNAPSHOT.jar" ] ||
        { echo "nfs-bench: overlayj not built (mvn -q -B -DskipTests package)" >&2; exit 1; }
    [ "$VM" = 1 ] && set -- --vm "$@"
    exec env NFS_BENCH_INSIDE=1 unshare -n -m --propagation private -- "$(readlink -f "$0")" "$@"
fi

# --- inside our own network and mount namespaces ---------------------------------------------------------------------
ip link set lo up
# `unshare -m` copied every mount of the machine into this namespace, and a copy keeps its superblock alive until the
# namespace ends: another user's kernel overlay, unmounted meanwhile, would keep its upper dir "in use", and their
# next mount of it would fail with EBUSY for as long as this benchmark runs (seen: 3 of 200 sequences of the
# engine differential, run beside this script, failed so after 300 tries). Detach the copies of overlay and FUSE
# mounts here; in this namespace only, nobody else's mount is touched.
findmnt -rn -o TARGET,FSTYPE | awk '$2 == "overlay" || $2 ~ /^fuse/ {print $1}' | sort -r |
    while read -r t; do umount -l "$(printf '%b' "$t")" 2> /dev/null; done
mount -t tmpfs nfs-bench-run /run          # rpcbind's socket and lock, ganesha's state: gone with the namespace
mkdir -p /run/ganesha /run/rpcbind

FILES=${FILES:-20000}
BIG_MB=${BIG_MB:-512}
META=${META:-5000}
LAYERS=${LAYERS:-loop}
READ=${READ:-warm}
if [ "$LAYERS" = loop ]; then META_GAP=${META_GAP:-0}; else META_GAP=${META_GAP:-36}; fi
LAST_META=0
WIDE=${WIDE:-20000}
LISTS=${LISTS:-1}
PAR=${PAR:-4}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
WARM_FILES=${WARM_FILES:-200}
WARM_META=${WARM_META:-1000}
IMPLS=${IMPLS:-"overlayj ganesha"}
TIMEOUT=${TIMEOUT:-900}
BASE=$(readlink -f "${1:-/tmp}")
ROOT="$BASE/overlayj-nfs-bench.$$"
L="$ROOT/lower" M="$ROOT/mnt" OUT="$ROOT/out"
OJ_PORT=2050
PIDS=()
FSMOUNTS=()   # loop-mounted layer filesystems (LAYERS=loop), unmounted in reverse order at the end

trap nfs_cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# Cold runs evict only the pages of the files a workload reads (fdatasync, then POSIX_FADV_DONTNEED on each), not
# the whole machine's page cache: drop_caches would also throw away what other people's measurements on a shared
# machine have cached. It works for ganesha too: a kernel overlay file has no page cache of its own, reads go to
# the real (lower or upper) inode's, which is the one evicted here. Dentries and inodes stay cached, unlike with
# drop_caches; both servers find them so.
evict() { # evict FILE... (missing ones are skipped)
    python3 -c '
import os, sys
for p in sys.argv[1:]:
    try:
        fd = os.open(p, os.O_RDONLY)
    except FileNotFoundError:
        continue
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
' "$@"
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }

# layer_fs DIR MB: with LAYERS=loop a fresh ext4 of MB MiB mounted on DIR (loop_fs, bench/rounds.sh), else a plain
# directory
layer_fs() {
    if [ "$LAYERS" = loop ]; then loop_fs "$1" "$2"; else mkdir -p "$1"; fi
}

# --- the lower tree: FILES small files, 100 per leaf dir; one BIG_MB file; the file written in -----------------------
mkdir -p "$L" "$M" "$OUT"
layer_fs "$L" $((BIG_MB + FILES / 8 + WIDE / 16 + 256)) || { echo "nfs-bench: cannot make the lower filesystem" >&2; exit 1; }
echo "nfs-bench: building $FILES files + ${BIG_MB} MiB under $ROOT ..." >&2
line="lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore"
n=0 d=0
while [ $n -lt "$FILES" ]; do
    dir=$(printf "d%03d/s%d" $((d / 10)) $((d % 10)))
    mkdir -p "$L/$dir"
    for ((i = 0; i < 100 && n < FILES; i++, n++)); do
        printf "%s %d\n" "$line" $n > "$L/$dir/f$i"
        echo "$dir/f$i"
    done
    d=$((d + 1))
done > "$ROOT/files.txt"
mkdir "$L/wide"
(cd "$L/wide" && seq -f "entry-%06g" "$WIDE" | xargs touch)
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$L/big"
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$ROOT/src.big"
sync

gcc -O2 -o "$ROOT/nfs-meta" "$REPO/bench/nfs-meta.c" -lnfs || { echo "nfs-bench: cannot build nfs-meta" >&2; exit 1; }

# --- the servers ---------------------------------------------------------------------------------------------------
# URL for PATH (relative to the overlay root). libnfs splits a URL at its last '/' into the export to mount and the
# file, so both servers get the same MNT of a directory (overlayj: a directory below its "/" export; ganesha: below
# its $M export).
url() { # url IMPL PATH
    case $1 in
        # a file at the top of the "/" export is "//name" (else libnfs would MNT "")
        overlayj|overlayj-base) case $2 in */*) p=/$2 ;; *) p=//$2 ;; esac
                  echo "nfs://127.0.0.1$p?version=3&nfsport=$OJ_PORT&mountport=$OJ_PORT" ;;
        ganesha) echo "nfs://127.0.0.1$M/$2?version=3&nfsport=2049&mountport=20048" ;;
    esac
}

start_overlayj() { # UPPER WORK [BUILD]
    start_overlayj_serve "$1" "$2" "${3:-$REPO}"
}

start_overlayj-base() { # UPPER WORK
    [ -x "${OJ_BASE:-}/bin/overlayj" ] || { echo "nfs-bench: overlayj-base needs OJ_BASE (a build's directory)" >&2; return 1; }
    OVERLAYJ_JAVA_OPTS="${OJ_BASE_OPTS:-${OVERLAYJ_JAVA_OPTS:-}}" start_overlayj "$1" "$2" "$OJ_BASE"
}

start_ganesha() { # UPPER WORK
    # LAYERS=loop: lower and upper are two filesystems, and without xino a lower file would show the lower's st_dev,
    # which ganesha (FSAL_VFS) takes for another filesystem (NFS3ERR_XDEV); with xino=on every object has the overlay's
    local xino=; [ "$LAYERS" = loop ] && xino=,xino=on
    start_ganesha_overlay "$1" "$2" "$xino"
}

# --- one workload: prints its seconds, or "fail"; the server's CPU ms are added to C[IMPL,NAME] -------------------
declare -A C S
run() { # run NAME CMD...
    local t0 t1 rc c0 c1 s0
    settle
    c0=$(cpu_ms "$SERVER_PID")
    s0=$(steal_ms)
    t0=$(now)
    timeout "$TIMEOUT" "${@:2}" > "$ROOT/run.$IMPL.$1" 2>&1
    rc=$?
    t1=$(now)
    c1=$(cpu_ms "$SERVER_PID")
    C[$IMPL,$1]+="$((c1 - c0)) "
    S[$IMPL,$1]+="$(( $(steal_ms) - s0 )) "
    if [ $rc -ne 0 ]; then
        echo "nfs-bench: $IMPL/$1 failed (rc $rc): $(tail -c 300 "$ROOT/run.$IMPL.$1")" >&2
        T[$IMPL,$1]+="fail "
    else
        T[$IMPL,$1]+="$(secs "$t0" "$t1") "
    fi
}

copy_tree() { # IMPL: every small file out to $OUT/IMPL/..., PAR nfs-cp at once
    mkdir -p "$OUT/$1"
    (cd "$OUT/$1" && cut -d/ -f1-2 "$ROOT/files.txt" | sort -u | xargs mkdir -p)
    xargs -P "$PAR" -I{} bash -c 'nfs-cp "$(url "$0" "$1")" "$OUT/$0/$1" > /dev/null' "$1" {} < "$ROOT/files.txt"
}

# warm_up IMPL (WARMUP=1): every workload once, untimed, on other names than the timed ones use; failures are
# reported, since the timed workload would then fail too
warm_up() {
    local c0; c0=$(cpu_ms "$SERVER_PID")
    echo "nfs-bench: warm-up of $1 ..." >&2
    nfs-cp "$ROOT/src.big" "$(url "$1" warmw)" > /dev/null || echo "nfs-bench: $1: warm-up write failed" >&2
    mkdir -p "$OUT/warm-$1-$round"
    head -n "$WARM_FILES" "$ROOT/files.txt" | OUT=$OUT/warm-$1-$round bash -c '
        cut -d/ -f1-2 | sort -u | (cd "$OUT" && xargs mkdir -p)' 
    head -n "$WARM_FILES" "$ROOT/files.txt" |
        xargs -P "$PAR" -I{} bash -c 'nfs-cp "$(url "$0" "$1")" "$2/$1" > /dev/null' "$1" {} "$OUT/warm-$1-$round" ||
        echo "nfs-bench: $1: warm-up copy failed" >&2
    "$ROOT/nfs-meta" "$(root_url "$1")" files /warm-meta "$WARM_META" > /dev/null ||
        echo "nfs-bench: $1: warm-up metadata failed" >&2
    # a listing of another directory than the timed one: ganesha would answer that one from its cache (see LISTS)
    "$ROOT/nfs-meta" "$(root_url "$1")" list /d000 1 > /dev/null || echo "nfs-bench: $1: warm-up listing failed" >&2
    echo "nfs-bench: warm-up of $1: $(( $(cpu_ms "$SERVER_PID") - c0 )) ms of server CPU" >&2
}

# the export's root, for nfs-meta (one mount, paths below it)
root_url() { # root_url IMPL
    case $1 in
        overlayj|overlayj-base) echo "nfs://127.0.0.1/?version=3&nfsport=$OJ_PORT&mountport=$OJ_PORT" ;;
        ganesha) echo "nfs://127.0.0.1$M?version=3&nfsport=2049&mountport=20048" ;;
    esac
}

export -f url copy_tree evict
export M OJ_PORT OUT ROOT PAR

case $READ in
    cold) WORKLOADS=(write_big read_cold copy_tree meta_files list_wide) ;;
    both) WORKLOADS=(write_big read_big read_cold copy_tree meta_files list_wide) ;;
    *) WORKLOADS=(write_big read_big copy_tree meta_files list_wide) ;;
esac
declare -A LABEL=(
    [read_cold]="read ${BIG_MB} MiB lower file, cold (nfs-cat)"
    [meta_files]="create+stat+remove $META files (libnfs, 1 at a time)"
    [list_wide]="READDIRPLUS of $WIDE entries, $LISTS times"
    [write_big]="write ${BIG_MB} MiB (nfs-cp in)"
    [read_big]="read ${BIG_MB} MiB lower file, cached (nfs-cat)"
    [copy_tree]="copy $FILES files out (nfs-cp, $PAR at once)"
)
declare -A T

awake_start
for ((round = 0; round < ROUNDS; round++)); do
  # shellcheck disable=SC2086 # the implementations' names, one word each
  for IMPL in $(round_order "$round" $IMPLS); do
    layer_fs "$ROOT/layers-$IMPL-$round" $(((2 + (WARMUP > 0)) * BIG_MB + 512)) || { echo "nfs-bench: cannot make a layer filesystem" >&2; exit 1; }
    U="$ROOT/layers-$IMPL-$round/upper" W="$ROOT/layers-$IMPL-$round/work"
    mkdir -p "$U" "$W"
    echo "nfs-bench: round $((round + 1))/$ROUNDS: $IMPL ..." >&2
    if ! "start_$IMPL" "$U" "$W"; then
        for w in "${WORKLOADS[@]}"; do T[$IMPL,$w]+="no-server "; done
        stop_servers
        continue
    fi
    SERVER_PID=${PIDS[-1]}
    cat "$ROOT/src.big" > /dev/null            # the client's source in the page cache: its reads allocate nothing
    for ((pass = 0; pass < WARMUP; pass++)); do warm_up "$IMPL"; done
    warm_free_memory
    run write_big nfs-cp "$ROOT/src.big" "$(url "$IMPL" bigw)"
    cmp -s "$ROOT/src.big" "$U/bigw" || echo "nfs-bench: $IMPL: upper/bigw differs from what was written" >&2
    # the reads go to /dev/null (nfs-cat: 1 MiB READs, one at a time, as nfs-cp): the client's own page-cache
    # allocations would be the VM's noise (see the header). The data are compared first, untimed, in every round:
    # so every round's timed read is the server's second read of the file (a fresh overlayj's first 512 READs
    # were 27 ticks and 0.7-0.95 s, its next ones 15-23 ticks and 0.3-0.65 s: the JIT), and all rounds alike.
    nfs-cat "$(url "$IMPL" big)" | cmp -s - "$L/big" || echo "nfs-bench: $IMPL: the big file read back differs" >&2
    if [ "$READ" != cold ]; then
        cat "$L/big" > /dev/null
        run read_big bash -c 'nfs-cat "$0" > /dev/null' "$(url "$IMPL" big)"
    fi
    if [ "$READ" != warm ]; then
        evict "$L/big" "$U/big"
        warm_free_memory
        run read_cold bash -c 'nfs-cat "$0" > /dev/null' "$(url "$IMPL" big)"
    fi
    (cd "$L" && xargs -a "$ROOT/files.txt" bash -c 'evict "$@"' evict)
    warm_free_memory
    mkdir -p "$OUT/$round"
    run copy_tree bash -c 'OUT=$OUT/$1 copy_tree "$0"' "$IMPL" "$round"
    got=$(find "$OUT/$round/$IMPL" -type f | wc -l)
    [ "$got" = "$FILES" ] || echo "nfs-bench: $IMPL: copied $got files, expected $FILES" >&2
    diff -rq "$L/d000" "$OUT/$round/$IMPL/d000" > /dev/null || echo "nfs-bench: $IMPL: copied tree differs" >&2
    warm_free_memory
    # ext4 without a journal (this VM's root filesystem) does not hand out an inode freed less than 30 s ago (35 while
    # its block is dirty): every create scans past all of them in its block group (find_inode_bit, recently_deleted).
    # With LAYERS=dir the previous server's META removals are in the same groups (every upper dir is under $ROOT), and
    # made the next server's creates pay for them: half of that server's CPU in the row (perf), depending only on the
    # order of the run. With LAYERS=loop each server's round has a filesystem of its own and META_GAP is 0.
    sleep "$(awk -v l="$LAST_META" -v n="$(now)" -v g="$META_GAP" 'BEGIN { w = l + g - n; print (w > 0 ? w : 0) }')"
    run meta_files "$ROOT/nfs-meta" "$(root_url "$IMPL")" files /meta "$META"
    LAST_META=$(now)
    grep -q "^$META files" "$ROOT/run.$IMPL.meta_files" || echo "nfs-bench: $IMPL: metadata run incomplete" >&2
    run list_wide "$ROOT/nfs-meta" "$(root_url "$IMPL")" list /wide "$LISTS"
    grep -q "^$(( (WIDE + 2) * LISTS )) entries" "$ROOT/run.$IMPL.list_wide" ||
        echo "nfs-bench: $IMPL: listing gave $(cat "$ROOT/run.$IMPL.list_wide"), expected $(( (WIDE + 2) * LISTS ))" >&2
    stop_servers
  done
done

# --- the kernel client in a VM (--vm) --------------------------------------------------------------------------------
declare -A V
VM_WORKLOADS=(vm_write vm_read vm_copy vm_meta vm_list)
declare -A VM_LABEL=(
    [vm_write]="write ${BIG_MB} MiB + fsync"
    [vm_read]="read ${BIG_MB} MiB lower file, cold"
    [vm_copy]="cp -r of d000 (1,000 files at most), cold"
    [vm_meta]="touch+stat+rm $META files"
    [vm_list]="ls -l of $WIDE entries, cold"
)
vm_accel() {
    [ -n "${VM_ACCEL:-}" ] && { echo "$VM_ACCEL"; return; }
    [ -w /dev/kvm ] || { echo tcg; return; }
    timeout 30 qemu-system-x86_64 -machine q35,accel=kvm -cpu host -m 256 -smp 1 -nodefaults -no-reboot \
        -display none -monitor none -vga none -kernel "$VM_KERNEL" -initrd "$VM_INITRD" \
        -append "console=ttyS0 quiet panic=-1" -serial file:"$ROOT/kvm-probe.log" > /dev/null 2>&1
    if grep -q "@@VM poweroff" "$ROOT/kvm-probe.log" 2> /dev/null; then echo kvm; else echo tcg; fi
}
# The guest's script: mount, then each workload between two readings of /proc/uptime ("@@T name start end").
vm_script() { # SRC PORT MOUNTPORT
    cat << EOF
#!/bin/sh
M=/mnt C=/guest/ojcheck
t() { cut -d' ' -f1 /proc/uptime; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
\$C mount 10.0.2.2:$1 \$M "vers=3,proto=tcp,port=$2,mountport=$3,mountproto=tcp,addr=10.0.2.2,nolock,hard,timeo=100" || exit 0
a=\$(t); \$C big write \$M/vmbig $BIG_MB 7 > /dev/null; b=\$(t); echo "@@T vm_write \$a \$b"
drop; a=\$(t); cat \$M/big > /dev/null; b=\$(t); echo "@@T vm_read \$a \$b"
drop; a=\$(t); cp -r \$M/d000 /tmp/copy; b=\$(t); echo "@@T vm_copy \$a \$b"
mkdir \$M/vmmeta && cd \$M/vmmeta || exit 0
a=\$(t)
i=0; while [ \$i -lt $META ]; do touch f\$i; i=\$((i + 1)); done
i=0; while [ \$i -lt $META ]; do stat -c %s f\$i > /dev/null; i=\$((i + 1)); done
i=0; while [ \$i -lt $META ]; do rm f\$i; i=\$((i + 1)); done
b=\$(t); echo "@@T vm_meta \$a \$b"
cd / && rmdir \$M/vmmeta
drop; a=\$(t); n=\$(ls -l \$M/wide | wc -l); b=\$(t); echo "@@T vm_list \$a \$b \$n"
umount \$M
EOF
}
vm_run() { # IMPL: boots the guest against IMPL's server (running), fills V[IMPL,workload]
    local g="$ROOT/guest-$1" w
    rm -rf "$g"
    mkdir -p "$g/guest"
    cp "$ROOT/ojcheck" "$g/guest/"
    case $1 in
        overlayj|overlayj-base) vm_script / "$OJ_PORT" "$OJ_PORT" ;;
        ganesha) vm_script "$M" 2049 20048 ;;
    esac > "$g/guest/run.sh"
    chmod 0755 "$g/guest/run.sh"
    (cd "$g" && find . | sort | cpio -o -H newc --quiet | gzip -1) > "$g.cpio.gz"
    cat "$VM_INITRD" "$g.cpio.gz" > "$g.initrd"
    timeout "${VM_TIMEOUT:-1800}" qemu-system-x86_64 -machine "q35,accel=$VM_ACC" \
        -cpu "$([ "$VM_ACC" = kvm ] && echo host || echo max)" -m 1024 -smp 1 -nodefaults -no-reboot \
        -display none -monitor none -vga none -kernel "$VM_KERNEL" -initrd "$g.initrd" \
        -append "console=ttyS0 quiet panic=-1" -serial file:"$g.console" \
        -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= > "$g.qemu.out" 2>&1
    for w in "${VM_WORKLOADS[@]}"; do
        V[$1,$w]=$(tr -d '\r' < "$g.console" | awk -v w="$w" '$1 == "@@T" && $2 == w { printf "%.2f", $4 - $3 }')
        if [ -z "${V[$1,$w]}" ]; then
            V[$1,$w]=fail
            echo "nfs-bench: --vm $1/$w: no result; console: $(tail -c 400 "$g.console")" >&2
        fi
    done
    # ls -l prints a "total" line and one per entry
    n=$(tr -d '\r' < "$g.console" | awk '$2 == "vm_list" {print $5}')
    [ "$n" = $((WIDE + 1)) ] || echo "nfs-bench: --vm $1: ls -l printed ${n:-no} lines, expected $((WIDE + 1))" >&2
}
if [ "$VM" = 1 ]; then
    VM_KERNEL=$(awk '$1 == "kernel" {print $2}' "$NFS_BENCH_VM_ASSETS")
    VM_INITRD=$(awk '$1 == "initrd" {print $2}' "$NFS_BENCH_VM_ASSETS")
    gcc -static -O2 -o "$ROOT/ojcheck" "$REPO/itest/src/test/resources/vm/ojcheck.c" ||
        { echo "nfs-bench: --vm: cannot build ojcheck (gcc, libc6-dev)" >&2; exit 1; }
    VM_ACC=$(vm_accel)
    echo "nfs-bench: --vm: the kernel client in a VM under $VM_ACC" >&2
    OJ_LISTEN=0.0.0.0             # the guest's connections come from qemu's user-mode network, on loopback
    # shellcheck disable=SC2086 # the implementations' names, one word each
    for IMPL in $IMPLS; do
        U="$ROOT/upper-$IMPL-vm" W="$ROOT/work-$IMPL-vm"
        mkdir -p "$U" "$W"
        echo "nfs-bench: --vm: $IMPL ..." >&2
        if "start_$IMPL" "$U" "$W"; then
            evict "$L/big"
            (cd "$L" && xargs -a "$ROOT/files.txt" bash -c 'evict "$@"' evict)
            warm_free_memory
            vm_run "$IMPL"
            [ "$(stat -c %s "$U/vmbig" 2> /dev/null)" = $((BIG_MB * 1024 * 1024)) ] ||
                echo "nfs-bench: --vm $IMPL: the upper vmbig is not ${BIG_MB} MiB" >&2
        else
            for w in "${VM_WORKLOADS[@]}"; do V[$IMPL,$w]=no-server; done
        fi
        stop_servers
    done
fi

# --- the table -----------------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }
echo
echo "nfs-bench: $(uname -r), $(nproc) cores, layers on $(df --output=fstype "$BASE" | tail -1) ($BASE)," \
     "FILES=$FILES BIG_MB=$BIG_MB PAR=$PAR META=$META WIDE=$WIDE LISTS=$LISTS ROUNDS=$ROUNDS, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "ganesha: $(dpkg-query -W -f '${Version}' nfs-ganesha 2> /dev/null); libnfs: $(dpkg-query -W -f '${Version}' libnfs-utils 2> /dev/null);" \
     "overlayj: $(git -C "$REPO" rev-parse --short HEAD 2> /dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo +dirty)"
[ -n "${OJ_BASE:-}" ] && echo "overlayj-base: $OJ_BASE ($(cat "$OJ_BASE/COMMIT" 2> /dev/null || git -C "$OJ_BASE" rev-parse --short HEAD 2> /dev/null))"
echo "layers: $LAYERS; read row: $READ; medians of $ROUNDS rounds [min-max over rounds]; server CPU ms (median)${AWAKE:+; AWAKE=$AWAKE}"
range() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk 'NR == 1 {a = $1} {b = $1} END { if (NR) printf "%s-%s", a, b; else printf "-" }'; }
# shellcheck disable=SC2086 # the implementations' names, one word each
set -- $IMPLS
# table_head TITLE FORMAT: a table's header: TITLE, each server's name in FORMAT, each overlayj's ratio to ganesha
table_head() {
    local i
    printf '\n%-46s' "$1"
    for i in $IMPLS; do printf " $2" "$i"; done
    for i in $IMPLS; do [ "$i" = ganesha ] || printf ' %8s' "${i#overlayj-}/g"; done
    echo
}
table_head "median s [min-max] cpu-ms" "%-22s"
for w in "${WORKLOADS[@]}"; do
    printf '%-46s' "${LABEL[$w]}"
    for IMPL in "$@"; do
        printf ' %-22s' "$(echo "${T[$IMPL,$w]:-}" | median 2) [$(echo "${T[$IMPL,$w]:-}" | range)] $(echo "${C[$IMPL,$w]:-}" | median 0)"
    done
    g=$(echo "${T[ganesha,$w]:-}" | median 2)
    for IMPL in "$@"; do [ "$IMPL" = ganesha ] || printf ' %8s' "$(ratio "$(echo "${T[$IMPL,$w]:-}" | median 2)" "$g")"; done
    echo
done
if [ "$VM" = 1 ]; then
    printf '\n%-50s %10s %10s %16s\n' "kernel client in a VM ($VM_ACC), seconds" overlayj ganesha "overlayj/ganesha"
    for w in "${VM_WORKLOADS[@]}"; do
        o=${V[overlayj,$w]:-} g=${V[ganesha,$w]:-}
        printf '%-50s %10s %10s %16s\n' "${VM_LABEL[$w]}" "$o" "$g" "$(ratio "$o" "$g")"
    done
    [ "$VM_ACC" = tcg ] && echo "(TCG: an emulated guest; these figures are not comparable with a KVM run's)"
fi
echo "every run (seconds, then server CPU ms, then CPU ms the host took from this VM (steal), in round order):"
for w in "${WORKLOADS[@]}"; do
    for IMPL in $IMPLS; do
        printf '  %-10s %-13s %s / %s / %s\n' "$w" "$IMPL" "${T[$IMPL,$w]:-}" "${C[$IMPL,$w]:-}" "${S[$IMPL,$w]:-}"
    done
done
for w in "${WORKLOADS[@]}"; do
    for IMPL in $IMPLS; do steal_note "${LABEL[$w]}" "$IMPL" "${S[$IMPL,$w]:-}" "${T[$IMPL,$w]:-}"; done
done
# The medians again over the rounds the host took no CPU from (no NOTE above), where every server of the row has at
# least half the rounds (rounded up) left; "-" where one has fewer (overlay-bench prints the same table).
NEED=$(( (ROUNDS + 1) / 2 ))
table_head "median s, rounds without steal" "%10s"
for w in "${WORKLOADS[@]}"; do
    printf '%-46s' "${LABEL[$w]}"
    declare -A K=()
    for IMPL in "$@"; do
        runs=$(unstolen "${S[$IMPL,$w]:-}" "${T[$IMPL,$w]:-}")
        # shellcheck disable=SC2086 # numbers, one word each
        if [ "$(echo $runs | wc -w)" -ge "$NEED" ]; then K[$IMPL]=$(echo "$runs" | median 2); else K[$IMPL]=-; fi
        printf ' %10s' "${K[$IMPL]}"
    done
    for IMPL in "$@"; do [ "$IMPL" = ganesha ] || printf ' %8s' "$(ratio "${K[$IMPL]}" "${K[ganesha]:-}")"; done
    echo
    unset K
done
