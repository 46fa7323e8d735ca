# Sourced by the NFS benchmarks (nfs-bench.sh, nfs-read-ab.sh): starting and stopping the two servers they compare,
# the same way in each. The caller sets L (the lower dir), M (where ganesha's kernel overlay is mounted), ROOT (its
# scratch dir), OJ_PORT, PIDS=() and url IMPL PATH (the nfs:// URL of PATH on IMPL's export), and runs inside its own
# network namespace (ganesha and rpcbind take the standard ports). Messages start with "$(basename "$0"): ".

# wait_ready TRIES PAUSE CMD...: true as soon as CMD succeeds (tried up to TRIES times, PAUSE seconds apart); false
# when it never did, or when the server just started (the last of PIDS) exited meanwhile
wait_ready() {
    local tries=$1 pause=$2
    shift 2
    for _ in $(seq "$tries"); do
        "$@" && return 0
        kill -0 "${PIDS[-1]}" 2> /dev/null || return 1
        sleep "$pause"
    done
    return 1
}

ganesha_answers() { nfs-ls "$(url ganesha "")" > /dev/null 2>&1; }

# start_overlayj_serve UPPER WORK BUILD: `overlayj serve` of BUILD (a checkout or a copy with bin/ and cli/target/)
# over L, UPPER and WORK, exporting "/" to 127.0.0.1 on ${OJ_LISTEN:-127.0.0.1}:OJ_PORT (OVERLAYJ_JAVA_OPTS as the
# caller set it); its pid is the last of PIDS. Fails when it does not say it serves within a minute.
start_overlayj_serve() {
    echo "/ 127.0.0.1(rw,no_root_squash,insecure)" > "$ROOT/exports"
    "$3/bin/overlayj" serve -o "lowerdir=$L,upperdir=$1,workdir=$2" --listen "${OJ_LISTEN:-127.0.0.1}:$OJ_PORT" \
        --exports "$ROOT/exports" --stats 0 --state-dir "$1.nlm" > "$ROOT/serve.log" 2>&1 &
    PIDS+=($!)
    wait_ready 600 0.1 grep -q "serving NFSv3" "$ROOT/serve.log" && return 0
    echo "$(basename "$0"): overlayj serve did not start: $(tail -c 500 "$ROOT/serve.log")" >&2
    return 1
}

# start_ganesha_overlay UPPER WORK [EXTRA]: nfs-ganesha (FSAL_VFS, NFSv3 over TCP, no NLM) exporting a kernel overlay
# of L, UPPER and WORK mounted at M with index=on,nfs_export=on (and EXTRA options, e.g. ",xino=on"), with an rpcbind
# of its own; their pids go to PIDS. Fails when the export does not answer within a minute.
start_ganesha_overlay() {
    mount -t overlay overlay -o "lowerdir=$L,upperdir=$1,workdir=$2,index=on,nfs_export=on${3:-}" "$M" || return 1
    cat > "$ROOT/ganesha.conf" << CONF
NFS_CORE_PARAM {
    Protocols = 3;
    NFS_Port = 2049;
    MNT_Port = 20048;
    Enable_NLM = false;
    Enable_RQUOTA = false;
}
NFSV4 { Graceless = true; }
EXPORT {
    Export_Id = 1;
    Path = $M;
    Pseudo = $M;
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = 3;
    Transports = TCP;
    SecType = sys;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = WARN; }
CONF
    rpcbind -f -w > "$ROOT/rpcbind.log" 2>&1 &
    PIDS+=($!)
    sleep 0.5
    ganesha.nfsd -F -f "$ROOT/ganesha.conf" -L "$ROOT/ganesha.log" -p /run/ganesha/ganesha.pid &
    PIDS+=($!)
    wait_ready 300 0.2 ganesha_answers && return 0
    echo "$(basename "$0"): ganesha did not start: $(grep -E 'CRIT|FATAL' "$ROOT/ganesha.log" | tail -5)" >&2
    return 1
}

# stop_servers: every server in PIDS stopped and waited for, and ganesha's overlay unmounted
stop_servers() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
    PIDS=()
    mountpoint -q "$M" && umount "$M"
}

# nfs_cleanup: the EXIT trap of an NFS benchmark: its servers stopped, ganesha's overlay unmounted, then the loop
# filesystems of FSMOUNTS in reverse order (each loop device was detached right after its mount, autoclear: the
# unmount frees it), and ROOT removed unless KEEP=1.
nfs_cleanup() {
    local p i
    awake_stop
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
    mountpoint -q "$M" 2> /dev/null && { umount "$M" 2> /dev/null || umount -l "$M"; }
    for ((i = ${#FSMOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${FSMOUNTS[$i]}" 2> /dev/null || umount -l "${FSMOUNTS[$i]}" 2> /dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "$(basename "$0"): kept $ROOT" >&2; else rm -rf "$ROOT"; fi
}
