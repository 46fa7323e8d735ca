# Sourced by every project script: selects the JDK (Java 25, Temurin under /usr/lib/jvm).
pick_jdk() {
  local cand
  for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-* /usr/lib/jvm/temurin-2[5-9]* /usr/lib/jvm/*; do
    [ -n "$cand" ] && [ -x "$cand/bin/javac" ] || continue
    local v
    # The JDK's release file names its version; asking java itself costs a JVM start on every overlayj command.
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$cand/release" 2>/dev/null)
    [ -n "$v" ] || v=$("$cand/bin/java" -XshowSettings:properties -version 2>&1 |
                       awk -F'= ' '/java.specification.version/ {print $2}')
    if [ -n "$v" ] && [ "${v%%.*}" -ge 25 ] 2>/dev/null; then echo "$cand"; return 0; fi
  done
  return 1
}
if ! JAVA_HOME=$(pick_jdk); then
  echo "overlayj: no JDK >= 25 found under /usr/lib/jvm (need Temurin 25; set JAVA_HOME to one)" >&2
  exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
