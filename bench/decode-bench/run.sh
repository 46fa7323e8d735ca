#!/usr/bin/env bash
# decode-bench: JMH benchmark of Overlay.decodeHandle (issue 4). A measurement, not a test; not built by CI.
#
#   sudo bench/decode-bench/run.sh [JMH ARGS...]
#   sudo bench/decode-bench/run.sh -p indexEntries=10000        # skip the 1M index (quick)
#   sudo bench/decode-bench/run.sh -wi 1 -i 2 -r 1                # shorter iterations
#   sudo bench/decode-bench/run.sh -e "cold|changed"              # warm only
#
# Builds core with the reactor (package, never install), fetches the JMH jars with `mvn dependency:copy` into
# bench/out/lib, compiles the benchmark with javac (JMH's annotation processor generates the harness), runs it and
# prints decodes/s. The fixture (layers with a 10k and a 1M-entry W/index) lives under $OVERLAYJ_BENCH_DIR
# (default /tmp/overlayj-bench-decode) and is removed at the end unless KEEP=1. Needs root (trusted.* xattrs).
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT="$REPO/bench/out"
JMH=1.37
source "$REPO/scripts/env.sh"
[ "$(id -u)" = 0 ] || { echo "decode-bench: needs root (trusted.overlay.* xattrs, open_by_handle_at)" >&2; exit 1; }
export OVERLAYJ_BENCH_DIR=${OVERLAYJ_BENCH_DIR:-/tmp/overlayj-bench-decode}
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$OVERLAYJ_BENCH_DIR"; }
trap cleanup EXIT

(cd "$REPO" && mvn -q -B -pl core -am package -DskipTests)

mkdir -p "$OUT/lib" "$OUT/classes"
for a in org.openjdk.jmh:jmh-core:$JMH org.openjdk.jmh:jmh-generator-annprocess:$JMH net.sf.jopt-simple:jopt-simple:5.0.4 \
         org.apache.commons:commons-math3:3.6.1 org.slf4j:slf4j-api:2.0.17 org.slf4j:slf4j-nop:2.0.17; do
    IFS=: read -r g n v <<< "$a"
    [ -f "$OUT/lib/$n-$v.jar" ] || mvn -q -B dependency:copy -Dartifact="$a" -DoutputDirectory="$OUT/lib" -Dmdep.overWriteIfNewer=false
done

# core/target/test-classes: the engine seam BenchHooks calls (EngineSeam; package compiles it, -DskipTests runs nothing)
CP="$REPO/core/target/classes:$REPO/core/target/test-classes:$REPO/native/target/classes:$(ls "$OUT"/lib/*.jar | grep -v annprocess | tr '\n' ':')"
rm -rf "$OUT/classes" && mkdir -p "$OUT/classes"
javac --release 25 -proc:full -d "$OUT/classes" -cp "$CP" \
    -processorpath "$OUT/lib/jmh-generator-annprocess-$JMH.jar:$OUT/lib/jmh-core-$JMH.jar" \
    $(find "$HERE/src" -name '*.java')

java --enable-native-access=ALL-UNNAMED -cp "$OUT/classes:$CP" org.openjdk.jmh.Main DecodeBench -rf text \
    -rff "$OUT/decode-bench.txt" "$@" | tee "$OUT/decode-bench.log"

# decodes/s: one row per handle kind, warm, changed and cold, W/index of 10k and 1M entries.
echo
echo "decode-bench: decodes/s ($(uname -r), $(nproc) cores, index=on,nfs_export=on, one thread, $(date -u +%Y-%m-%dT%H:%MZ))"
awk '/^DecodeBench\./ {
        split($1, b, "."); mode = b[2]; idx = $2; kind = $3
        if ($(NF-2) == "±") { score = $(NF-3); err = $(NF-1) } else { score = $(NF-1); err = 0 }
        v[kind, mode, idx] = sprintf("%.0f ± %.0f", score, err); kinds[kind] = 1
     }
     END {
        printf "%-12s", "handle"
        m = split("warm changed cold", modes, " ")
        for (j = 1; j <= m; j++) printf " %22s %22s", modes[j] ", 10k index", modes[j] ", 1M index"
        printf "\n"
        n = split("lower copiedup dir copiedupdir", order, " ")
        for (i = 1; i <= n; i++) {
            k = order[i]; if (!(k in kinds)) continue
            printf "%-12s", k
            for (j = 1; j <= m; j++) printf " %22s %22s", v[k, modes[j], "10000"], v[k, modes[j], "1000000"]
            printf "\n"
        }
     }' "$OUT/decode-bench.txt"
