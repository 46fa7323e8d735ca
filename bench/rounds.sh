# Sourced by the benchmarks: what makes their figures comparable between implementations on this kind of VM
# (bench/README.md says why each is needed).

# Touches 2 GiB (tmpfs pages are written as they are allocated) and frees them again, so that the workload that
# follows starts on pages the VM has not handed back to the host yet (free page reporting).
warm_free_memory() {
    local f="/dev/shm/overlayj-bench-warm.$$"
    dd if=/dev/zero of="$f" bs=1M count=2048 status=none 2>/dev/null; rm -f "$f"
}

# warm_page_cache FILE MB: reads FILE (made with MB MiB the first time) through the page cache and evicts it again,
# so that the cold read that follows gets page-cache pages this guest has just used. On this project's Firecracker VM a
# page-cache page the guest CPU has not touched lately costs ~4.5 us at its first touch (a host-side fault): 0.55-0.75 s
# of the reader's system time per 512 MiB, all of it in _copy_to_iter (perf). The kernel overlay's and
# fuse-overlayfs' copy-ups go through the cache and free 1 GiB of such pages right before a cold read of the copy;
# overlayj's O_DIRECT copy-up touches none, so without this its read paid the VM's cost alone (bench/README.md,
# issue 20). Pages touched in /dev/shm (warm_free_memory) did not help here: page-cache folios come from elsewhere.
warm_page_cache() {
    local f=$1 mb=$2
    [ "$(stat -c %s "$f" 2>/dev/null)" = $((mb * 1024 * 1024)) ] || {
        head -c $((mb * 1024 * 1024)) /dev/zero > "$f" && sync "$f"; }
    cat "$f" > /dev/null
    python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$f"
}

# slower_than_fuse_overlayfs LABEL OVERLAYJ_S FUSE_OVERLAYFS_S [NAME]: the guard of issue 20: a WARNING line when an
# overlayj figure is above fuse-overlayfs' (medians; nothing when either is missing).
slower_than_fuse_overlayfs() {
    awk -v w="$1" -v o="$2" -v f="$3" -v n="${4:-overlayj}" 'BEGIN{ if (o ~ /^[0-9.]+$/ && f ~ /^[0-9.]+$/ && o+0 > f+0)
        printf "WARNING: %s is slower than fuse-overlayfs on \"%s\": %s s against %s s (%.2fx)\n", n, w, o, f, o/f }'
}

# round_order ROUND IMPL...: the implementations in the order round ROUND runs them (rotated by one each round).
round_order() {
    local round=$1; shift
    local impls=("$@") k
    for ((k = 0; k < ${#impls[@]}; k++)); do echo "${impls[$(( (k + round) % ${#impls[@]} ))]}"; done
}

# median DECIMALS < "t1 t2 ...": the median of the numbers on stdin ("-" when there are none; "fail" and the like
# are skipped).
median() {
    tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk -v d="$1" '{a[NR]=$1} END{ if (NR) printf "%.*f", d,
        (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else printf "-" }'
}

# spread DECIMALS < "v1 v2 ...": "median [min-max]" of the numbers on stdin (others skipped)
spread() {
    local v; v=$(cat)
    printf '%s [%s-%s]' "$(echo "$v" | median "$1")" \
        "$(echo "$v" | tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | head -1)" \
        "$(echo "$v" | tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | tail -1)"
}

# unmount_and_remove MNT DIR: a benchmark's clean-up, also after a failure or ^C: MNT unmounted (lazily if busy),
# then its scratch tree DIR removed.
unmount_and_remove() {
    unmount_mnt "$1"
    rm -rf "$2"
}

# --- the variants of the A/B scripts (read-ab.sh, creates-ab.sh) -------------------------------------------------
# A variant is kernel | fuse-overlayfs | overlayj (this checkout, $REPO) | overlayj-base (the build in $OJ_BASE) |
# overlayj:OPTS or overlayj-base:OPTS, OPTS being JVM options for that build's server joined by '+'. Every overlayj
# variant gets a resident server of its own (its own runtime dir), kept between rounds, on the /dev/fuse loop.

# variant_index VARIANT: its place (1, 2, ...) in $VARIANTS, which names its layers' and runtime dirs
variant_index() { tr ' ' '\n' <<< "$VARIANTS" | grep -nxF -- "$1" | head -1 | cut -d: -f1; }

# variant_opts VARIANT: the JVM options of NAME:OPTS (the '+'s joining them made spaces); nothing without ':'
variant_opts() { [[ $1 == *:* ]] && { local o=${1#*:}; echo "${o//+/ }"; }; return 0; }

# mount_variant VARIANT OPTIONS MNT RUNTIME_DIR: mounts an overlay of OPTIONS (lowerdir=...,upperdir=...) at MNT
mount_variant() {
    local v=$1 o=$2 m=$3 rt=$4 build opts dir=$REPO
    case $v in
        kernel) mount -t overlay overlay -o "$o" "$m" ;;
        fuse-overlayfs) fuse-overlayfs -o "$o" "$m" ;;
        overlayj*)
            build=${v%%:*} opts=$(variant_opts "$v")
            if [ "$build" = overlayj-base ]; then
                [ -x "${OJ_BASE:-}/bin/overlayj" ] || { echo "overlayj-base needs OJ_BASE"; return 1; }
                dir=$OJ_BASE
            fi
            mkdir -p -m 0700 "$rt"
            OVERLAYJ_RUNTIME_DIR="$rt" OVERLAYJ_LINGER=3600 OVERLAYJ_JAVA_OPTS="$opts" \
                OVERLAYJ_FUSE_URING=off "$dir/bin/overlayj" -o "$o" "$m" ;;
        *) echo "unknown variant $v"; return 1 ;;
    esac
}

# variant_server VARIANT MNT RUNTIME_DIR: the pid of the server of the mount at MNT (nothing for the kernel):
# fuse-overlayfs by its command line, an overlayj variant by its runtime dir
variant_server() {
    local p
    case $1 in
        kernel) return ;;
        fuse-overlayfs) pgrep -f -- "^fuse-overlayfs .* $2\$" | head -1 ;;
        *) for p in $(pgrep -f 'org.overlayj|overlayj-cli'); do
               { tr '\0' '\n' < /proc/"$p"/environ; } 2>/dev/null | grep -qx "OVERLAYJ_RUNTIME_DIR=$3" && { echo "$p"; return; }
           done ;;
    esac
}

# steal_ms: the CPU time the host has taken from this VM's CPUs since boot (the steal column of /proc/stat), in
# ms. A round during which the host ran something else on our CPUs measures the host: the same build's 5,000-file
# NFS row took 4.55 s with 10 ms stolen and 9.92 s with 5,060 ms stolen minutes apart (bench/README.md, 2026-12-07).
steal_ms() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%d", $9 * 1000 / hz }' /proc/stat
}

# A round "stolen" from: the host took more than 5% of the VM's CPU time (wall time x CPUs) from it, and 50 ms at
# least (steal counts in 10 ms ticks). An awk condition on a[j] (ms stolen), b[j] (seconds) and n (CPUs), shared by
# steal_note and unstolen so that the NOTE lines and the second table agree on which rounds those are.
STOLEN='a[j] >= 50 && a[j] / 1000 > 0.05 * b[j] * n'

# steal_note LABEL IMPL "steal-ms ..." "seconds ...": a NOTE line for each round of a row that was stolen from
# (STOLEN), so that nobody ranks implementations on such a round
steal_note() {
    awk -v w="$1" -v i="$2" -v s="$3" -v t="$4" -v n="$(nproc)" 'BEGIN {
        k = split(s, a, " "); split(t, b, " ")
        for (j = 1; j <= k; j++) if (b[j] ~ /^[0-9.]+$/ && b[j] > 0 && '"$STOLEN"')
            printf "NOTE: the host took %d ms of CPU from this VM during %s \"%s\", round %d (%.0f%% of %.2f s x %d CPUs)\n",
                a[j], i, w, j, 100 * a[j] / 1000 / (b[j] * n), b[j], n }'
}

# unstolen "steal-ms ..." "seconds ...": the seconds of the rounds that were not stolen from (STOLEN), one line;
# for the table of medians without them (overlay-bench, nfs-bench), which a run with steal in some rounds still
# ranks by: the host's other work is no implementation's. A round whose steal is unknown ("-") counts as stolen.
unstolen() {
    awk -v s="$1" -v t="$2" -v n="$(nproc)" 'BEGIN {
        k = split(t, b, " "); split(s, a, " ")
        for (j = 1; j <= k; j++) if (b[j] ~ /^[0-9.]+$/ && a[j] ~ /^[0-9]+$/ && !('"$STOLEN"')) printf "%s ", b[j]
        print "" }'
}

# AWAKE=1 (overlay-bench, nfs-bench, creates-ab): a SCHED_IDLE busy loop on every CPU for the whole run, so that no
# CPU of the VM ever halts. On this project's VM (nested virtualization, the guest's halt polling off:
# haltpoll.guest_halt_poll_ns=0) waking a halted virtual CPU costs tens of microseconds, and a row of small round
# trips (FUSE creates, NFS create/stat/remove) then measures those wake-ups more than the servers: the 5,000-file NFS
# row took 5.6 s through overlayj with the CPUs halting and 1.5 s with a busy loop beside it (bench/README.md,
# 2026-12-07 15:10Z). SCHED_IDLE tasks run only when nothing else wants the CPU and leave it at once when something
# does; servers' CPU figures do not count them. Off by default: the figures of earlier runs were taken without.
awake_start() {
    [ "${AWAKE:-0}" = 1 ] || return 0
    local c
    for ((c = 0; c < $(nproc); c++)); do
        taskset -c "$c" chrt --idle 0 sh -c 'while :; do :; done' &
        AWAKE_PIDS+=($!)
    done
    echo "$(basename "$0"): AWAKE=1: ${#AWAKE_PIDS[@]} SCHED_IDLE busy loops keep the CPUs from halting" >&2
}
AWAKE_PIDS=()
# awake_stop: the busy loops of awake_start ended (every benchmark's EXIT trap calls it)
awake_stop() {
    [ ${#AWAKE_PIDS[@]} -gt 0 ] || return 0
    kill "${AWAKE_PIDS[@]}" 2> /dev/null
    wait "${AWAKE_PIDS[@]}" 2> /dev/null
    AWAKE_PIDS=()
}

# cpu_ns PID: the summed on-CPU ns of a process's threads (nothing for no pid)
cpu_ns() {
    [ -n "$1" ] && cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'
}

# unmount_mnt MNT: unmounts MNT (a FUSE or a kernel overlay), a few tries; true when it is no mount point any more
unmount_mnt() {
    local i
    for i in 1 2 3; do
        mountpoint -q "$1" 2>/dev/null || return 0
        umount "$1" 2>/dev/null || fusermount3 -u "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
        sleep 0.2
    done
    ! mountpoint -q "$1" 2>/dev/null
}

# --- for the NFS benchmarks (nfs-bench.sh, nfs-read-ab.sh) ---------------------------------------------------------

# loop_fs DIR MB: a fresh ext4 of MB MiB on a loop device with direct I/O (the image's pages are not cached twice),
# mounted at DIR (made if missing; the image is DIR.img) and appended to the caller's FSMOUNTS. The loop device is
# detached at once: it stays while mounted and goes with the mount (autoclear), also when the script is killed.
loop_fs() {
    local dir=$1 mb=$2 img="$1.img" dev
    mkdir -p "$dir"
    truncate -s "${mb}M" "$img" || return 1
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$img" || return 1
    dev=$(losetup -f --show --direct-io=on "$img") || return 1
    if ! mount -o noatime "$dev" "$dir"; then losetup -d "$dev"; return 1; fi
    FSMOUNTS+=("$dir")
    losetup -d "$dev"
}

# settle: before a timed workload, nobody's dirty pages still on their way to the disk (the last workload's above
# all): sync, then wait (up to 30 s) until Dirty+Writeback are under 32 MiB.
settle() {
    local i
    sync
    for i in $(seq 300); do
        awk '/^(Dirty|Writeback):/ { s += $2 } END { exit !(s < 32768) }' /proc/meminfo && return 0
        sleep 0.1
    done
}

# cpu_ms PID: utime+stime of PID's threads so far (ended ones too), in ms (0 when gone)
cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($12 + $13) * 1000 / hz }' "/proc/$1/stat" 2> /dev/null || echo 0
}

# fresh_aot_caches BUILD_DIR...: bin/overlayj uses its AOT caches only while they are newer than every jar (else the
# JVM starts without one: classes loaded from the jars, more to interpret and compile), and any `mvn package` -
# scripts/test.sh's too - makes the jars newer. A benchmark taken then measures a slower start than setup.sh gives
# (on 2026-12-07 one overlay-bench ran on a stale cache after a test run, unnoticed; its cold walk was 1.08 of
# fuse-overlayfs', 0.93 an hour before on a fresh one). So each build's caches are trained again when stale, and a
# failure is said, not hidden.
fresh_aot_caches() {
    local dir aot stale
    for dir in "$@"; do
        stale=
        for aot in "$dir/cli/target/overlayj.aot" "$dir/cli/target/overlayj-serve.aot"; do
            if [ ! -f "$aot" ] || [ -n "$(find "$dir/cli/target" -maxdepth 2 -name '*.jar' -newer "$aot" -print -quit)" ]
            then stale=1; fi
        done
        [ -z "$stale" ] && continue
        echo "bench: $dir: AOT caches missing or older than the jars; training them (scripts/aot-train.sh)" >&2
        "$dir/scripts/aot-train.sh" > /dev/null 2>&1 ||
            echo "WARNING: $dir: AOT cache training failed: overlayj runs without its AOT cache in this run" >&2
        [ -f "$dir/cli/target/overlayj.aot" ] ||
            echo "WARNING: $dir: no AOT cache: overlayj runs without one in this run" >&2
    done
}
