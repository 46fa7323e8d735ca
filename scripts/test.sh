#!/usr/bin/env bash
# The whole test suite, after the set-up. Extra arguments go to Maven (e.g. -Dtest=LookupTest, -Doverlayj.seqs=2000).
set -euo pipefail
cd "$(dirname "$0")/.."
OVERLAYJ_SKIP_BUILD=1 ./scripts/setup.sh
source scripts/env.sh
# Maven's own exit status is the verdict (not the filter's): pipefail off so PIPESTATUS is the pipeline's.
set +e +o pipefail
mvn -B install "$@" 2>&1 | grep -v '^WARNING'
status=${PIPESTATUS[0]}
set -e
# Whatever a crashed test left behind: FUSE mounts and kernel overlays under the test temp roots (/tmp/overlayj-test-*),
# and nothing else: the machine may be shared, and a benchmark's or a running server's mount is not ours to drop.
awk '($3 ~ /^fuse\.overlayj/ || $3 == "overlay") && $2 ~ /overlayj-test/ {print $2}' /proc/mounts | while read -r m; do
  umount -l "$m" 2>/dev/null || true
done
exit "$status"
