#!/usr/bin/env bash
# Trains the JVM's AOT cache for bin/overlayj (JDK 25: -XX:AOTCacheOutput, JEP 514): one FUSE mount of a scratch
# overlay, served in the foreground by the launcher's own JVM settings, a workload of the kinds of requests a mount
# gets (walks, creates, writes, reads, copy-up, renames, xattrs, removals), then the unmount; the JVM writes the
# cache as it exits. Run by scripts/setup.sh after the build (needs root and /dev/fuse; otherwise it says so and
# leaves no cache, and overlayj runs without one). Nothing outside a temporary directory is touched.
# Then a second cache for `overlayj serve` (cli/target/overlayj-serve.aot, which the launcher uses for serve): one
# server on a free loopback port, driven by libnfs's tools (listings, reads, writes of small and large files), stopped
# with SIGTERM. A fresh server otherwise loads and interprets the NFS door's and oncrpc4j's code during its first
# thousands of calls: nfs-cp of 16 MiB into a just-started server took 3 s against 0.25 s for ganesha (loaded
# machine, 2026-12-06). Skipped (no serve cache) without libnfs-utils.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source "$ROOT/scripts/env.sh"
AOT="$ROOT/cli/target/overlayj.aot"
AOT_SERVE="$ROOT/cli/target/overlayj-serve.aot"
JAR="$ROOT/cli/target/overlayj-cli-0.1.0-SNAPSHOT.jar"
[ -f "$JAR" ] || { echo "overlayj aot-train: not built" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
  echo "overlayj aot-train: needs root and /dev/fuse; no AOT cache (overlayj starts a little slower)" >&2
  exit 0
fi
rm -f "$AOT" "$AOT_SERVE"
T=$(mktemp -d /tmp/overlayj-aot.XXXXXX)
M="$T/mnt"
server=
cleanup() {
  for m in "$T"/r*/m "$M"; do mountpoint -q "$m" 2>/dev/null && { umount "$m" 2>/dev/null || umount -l "$m"; }; done
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT
mkdir -p "$T"/{l1,l2,u,w,mnt}
for d in 0 1 2 3; do
  mkdir -p "$T/l2/d$d/s"
  for i in $(seq 0 49); do echo "lower file $d/$i" > "$T/l2/d$d/s/f$i"; done
done
echo top > "$T/l1/top"
mkdir -p "$T/l1/d0"
head -c $((16 << 20)) /dev/urandom > "$T/l2/big"
ln "$T/l2/d1/s/f1" "$T/l2/d1/s/hard"
ln -s top "$T/l1/link"

# The launcher's own JVM flags (a foreground mount serves in the launcher's JVM), plus the cache output. The
# training server also listens as a resident server would (in a runtime directory of its own, $T/run), and takes a
# few mounts through it below: the first background mount (the server's start) and every later one then run code
# the cache holds, loaded, linked and profiled.
mkdir -m 700 "$T/run"
export OVERLAYJ_JAVA_OPTS="-XX:AOTCacheOutput=$AOT -Xlog:aot=warning -Doverlayj.aotTrainingResident=$T/run"
export OVERLAYJ_RUNTIME_DIR="$T/run" OVERLAYJ_LINGER=0
"$ROOT/bin/overlayj" -f -o "lowerdir=$T/l1:$T/l2,upperdir=$T/u,workdir=$T/w,index=on" "$M" \
  > "$T/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do mountpoint -q "$M" && break; sleep 0.1; done
mountpoint -q "$M" || { echo "overlayj aot-train: the mount did not come up:" >&2; cat "$T/server.log" >&2; exit 1; }
# the first mount's READ rehearsal (fuse ReadRehearsal) runs once the mount is quiet: let it run to its end now, as
# after a real first mount, so that the cache holds what it loads and links (the launcher execs the JVM: same pid)
sleep 0.3
for _ in $(seq 100); do grep -qs fuse-rehearsal /proc/"$server"/task/*/comm || break; sleep 0.1; done
# mounts through the resident path (overlayj-client to the training server): a few of each kind, and a refused one
if [ -x "$ROOT/cli/target/overlayj-client" ]; then
  for i in 1 2 3 4 5 6; do
    mkdir -p "$T/r$i"/{u,w,m}
    case $i in 1|2) o=",index=on" ;; 3|4) o=",redirect_dir=on,metacopy=on" ;; *) o="" ;; esac
    "$ROOT/bin/overlayj" -o "lowerdir=$T/l1:$T/l2,upperdir=$T/r$i/u,workdir=$T/r$i/w$o" "$T/r$i/m"
    ls -lR "$T/r$i/m" > /dev/null; echo x > "$T/r$i/m/d0/s/f1"; cat "$T/r$i/m/top" > /dev/null
  done
  mkdir -p "$T/bad"
  "$ROOT/bin/overlayj" -o "lowerdir=$T/missing,upperdir=$T/r1/u,workdir=$T/r1/w" "$T/bad" 2>/dev/null || true
  "$ROOT/bin/overlayj" status > /dev/null
  for i in 1 2 3 4 5 6; do umount "$T/r$i/m"; done
fi

for round in 1 2 3; do
  find "$M" -printf '%i %s %m %n\n' > /dev/null
  ls -lR "$M" > /dev/null
  for i in $(seq 0 399); do echo "new $i" > "$M/d0/s/n$round-$i"; done
  cat "$M"/d*/s/f* > /dev/null
  for i in $(seq 0 49); do echo "more" >> "$M/d$((i % 4))/s/f$i"; done
  mkdir -p "$M/new$round/a/b"
  mv "$M/d$round/s/f2" "$M/new$round/a/moved"
  ln "$M/d1/s/hard" "$M/new$round/hard$round" 2>/dev/null || true
  ln -s ../top "$M/new$round/sym"
  setfattr -n user.k -v v "$M/new$round/a/moved"
  getfattr -d "$M/new$round/a/moved" > /dev/null 2>&1
  chmod 600 "$M/d2/s/f3"; touch -d @1000000000 "$M/d2/s/f4"; truncate -s 10 "$M/d2/s/f5"
  rm -f "$M/d3/s/f$((round + 10))" "$M"/d0/s/n$round-1*
  rm -rf "$M/new$round"
  stat "$M/link" "$M/top" > /dev/null; readlink "$M/link" > /dev/null
  df "$M" > /dev/null
done
dd if="$M/big" of=/dev/null bs=1M status=none
printf x >> "$M/big"
dd if="$M/big" of=/dev/null bs=1M status=none
sync

umount "$M"
wait "$server" || true
server=
unset OVERLAYJ_JAVA_OPTS OVERLAYJ_RUNTIME_DIR OVERLAYJ_LINGER
if [ -f "$AOT" ]; then
  echo "overlayj aot-train: AOT cache written ($(du -h "$AOT" | cut -f1))"
else
  echo "overlayj aot-train: no AOT cache was written:" >&2
  tail -5 "$T/server.log" >&2
fi

# --- the serve cache ---------------------------------------------------------------------------------------------
command -v nfs-cp > /dev/null || { echo "overlayj aot-train: no libnfs-utils: no serve cache" >&2; exit 0; }
mkdir -p "$T"/s/{u,w}
echo "/ 127.0.0.1(rw,no_root_squash,insecure)" > "$T/s/exports"
OVERLAYJ_JAVA_OPTS="-XX:AOTCacheOutput=$AOT_SERVE -Xlog:aot=warning" \
  "$ROOT/bin/overlayj" serve -o "lowerdir=$T/l1:$T/l2,upperdir=$T/s/u,workdir=$T/s/w" --listen 127.0.0.1:0 \
  --exports "$T/s/exports" --stats 0 --grace-period 0 --state-dir "$T/s/nlm" > "$T/serve.log" 2>&1 &
server=$!
port=
for _ in $(seq 300); do
  port=$(sed -n 's/^overlayj: serving NFSv3 on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/serve.log")
  [ -n "$port" ] && break
  kill -0 "$server" 2> /dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "overlayj aot-train: serve did not come up:" >&2; tail -5 "$T/serve.log" >&2; exit 1; }
q="?version=3&nfsport=$port&mountport=$port"
for round in 1 2 3; do
  nfs-ls -R "nfs://127.0.0.1/$q" > /dev/null
  for d in 0 1 2 3; do for i in $(seq 0 9); do nfs-cat "nfs://127.0.0.1/d$d/s/f$i$q" > /dev/null; done; done
  for i in $(seq 0 9); do nfs-cp "$T/l1/top" "nfs://127.0.0.1/d0/t$round-$i$q" > /dev/null; done
  nfs-cp "$T/l2/big" "nfs://127.0.0.1//big-in$round$q" > /dev/null
  nfs-cp "nfs://127.0.0.1//big$q" "$T/big.out$round" > /dev/null
done
kill -TERM "$server"
wait "$server" || true
server=
if [ -f "$AOT_SERVE" ]; then
  echo "overlayj aot-train: serve AOT cache written ($(du -h "$AOT_SERVE" | cut -f1))"
else
  echo "overlayj aot-train: no serve AOT cache was written:" >&2
  tail -5 "$T/serve.log" >&2
fi
