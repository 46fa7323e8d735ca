# Sourced by the benchmarks: what makes their figures comparable between implementations on this kind of VM
# (bench/README.md says why each is needed).

# Touches 2 GiB (tmpfs pages are written as they are allocated) and frees them again, so that the workload that
# follows starts on pages the VM has not handed back to the host yet (free page reporting).
warm_free_memory() {
    local f="/dev/shm/overlayj-bench-warm.$$"
    dd if=/dev/zero of="$f" bs=1M count=2048 status=none 2>/dev/null; rm -f "$f"
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

# unmount_and_remove MNT DIR: a benchmark's clean-up, also after a failure or ^C: MNT unmounted (lazily if busy),
# then its scratch tree DIR removed.
unmount_and_remove() {
    local i
    for i in 1 2 3; do mountpoint -q "$1" 2>/dev/null || break; umount "$1" 2>/dev/null || umount -l "$1"; sleep 0.2; done
    rm -rf "$2"
}
