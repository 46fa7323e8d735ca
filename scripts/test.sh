#!/usr/bin/env bash
# The whole test suite, after the set-up. Extra arguments go to Maven (e.g. -Dtest=LookupTest, -Doverlayj.seqs=2000).
set -euo pipefail
cd "$(dirname "$0")/.."
OVERLAYJ_SKIP_BUILD=1 ./scripts/setup.sh
source scripts/env.sh
# Maven's own exit status is the verdict (not the filter's): pipefail off so PIPESTATUS is the pipeline's.
# Every test of this run makes its layers and mount points under one directory of its own, so the clean-up below
# touches this run's leftovers only, never the mounts of another run going on at the same time on this machine.
RUN_ROOT=$(mktemp -d /tmp/overlayj-run.XXXXXX)
chmod 0755 "$RUN_ROOT"   # tests that act as other users must still reach their dirs below it (mktemp made it 0700)
set +e +o pipefail
mvn -B install -Doverlayj.testRoot="$RUN_ROOT" "$@" 2>&1 | grep -v '^WARNING'
status=${PIPESTATUS[0]}
set -e
# Whatever a crashed test left behind: our FUSE mounts and kernel overlays under this run's root.
awk -v root="$RUN_ROOT/" 'index($2, root) == 1 && ($3 ~ /^fuse\.overlayj/ || $3 == "overlay") {print $2}' /proc/mounts |
  while read -r m; do umount -l "$m" 2>/dev/null || true; done
rm -rf --one-file-system "$RUN_ROOT" 2>/dev/null || true
# The build above made the jars newer than the AOT caches setup.sh trained, and bin/overlayj ignores a stale cache:
# every overlayj started after a test run would load and interpret more (a fresh mount's cold walk of 20k entries
# took 1.08 of fuse-overlayfs' time so, 0.93 with the cache), and a benchmark taken next would measure that. Train
# them again here, as setup.sh does after its build (not in CI, whose machine goes away with the run).
if [ "${CI:-}" != true ] && [ "$(id -u)" -eq 0 ] && { [ ! -f cli/target/overlayj.aot ] ||
    [ -n "$(find cli/target -maxdepth 2 -name '*.jar' -newer cli/target/overlayj.aot -print -quit)" ]; }; then
  ./scripts/aot-train.sh > /dev/null 2>&1 ||
    echo "overlayj test: AOT cache training failed; overlayj runs without one (scripts/aot-train.sh)" >&2
fi
exit "$status"
