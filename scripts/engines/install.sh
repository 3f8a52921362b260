#!/usr/bin/env bash
# Install the REAL dependency servers the engine tests (tests/engines) start:
#   redis     redis-server                      Debian package (apt)
#   postgres  PostgreSQL server                 Debian package (apt)
#   kafka     Apache Kafka KRaft broker         jars from Maven Central (scripts/engines/kafka/pom.xml)
#   questdb   QuestDB server                    jar from Maven Central
#   neo4j     Neo4j Community server            jars from Maven Central (scripts/engines/neo4j/pom.xml)
#   minio     MinIO server                      built from its Go module (Go module proxy)
#   mc        MinIO client                      built from its Go module (Go module proxy)
# plus what they need to run and to be installed: a JDK (java + javac), Maven, Go (checked, never
# downloaded: an older Go only makes minio/mc fail with the reason).
#
# Usage: scripts/engines/install.sh [ENGINE...]      (default: all of the above)
#
# Every version comes from pyproject.toml [tool.qmtl-stack.engines] (read by scripts/qmtl_stack/pins.py).
# Idempotent: each engine leaves a stamp in .tools/engines/stamps/ (git-ignored) and is skipped when its
# stamp and files are there, so a second run takes seconds. An engine that fails leaves
# .tools/engines/failed/<engine> (the reason, shown by the test fixtures when they skip) and its log in
# .tools/engines/logs/. The script goes on with the other engines; it exits non-zero on a failure only
# when QMTL_REQUIRE_ENGINES=1 (CI), where a missing engine is an error.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOLS="${QMTL_ENGINES_DIR:-$ROOT/.tools/engines}"
ALL_ENGINES=(redis postgres kafka questdb neo4j minio mc)

eval "$(python3 "$ROOT/scripts/qmtl_stack/pins.py" env tool.qmtl-stack.engines PIN_)"

mkdir -p "$TOOLS/stamps" "$TOOLS/logs" "$TOOLS/failed"

# One install at a time per tools folder (pytest-xdist workers or a parallel setup.sh may call us).
exec 9>"$TOOLS/.install.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

log() { printf '[engines] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

APT_UPDATED=0
apt_update() {  # once per engine (each engine runs in its own subshell)
  if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    echo "need root or sudo for apt-get (to install $*)" >&2
    return 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
}

apt_install() {
  apt_update "$@"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

apt_has() { apt_update "$1" >/dev/null && apt-cache show "$1" >/dev/null 2>&1; }

stamp_ok() { [ -f "$TOOLS/stamps/$1" ]; }
stamp() { date -u +%Y-%m-%dT%H:%M:%SZ >"$TOOLS/stamps/$1"; }
# cached KEY TEST PATH: KEY's stamp is there and `test TEST PATH` holds for what it installed (prints "cached")
cached() { stamp_ok "$1" && test "$2" "$3" && echo "cached"; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# ---------------------------------------------------------------------------------------------- Java
java_major() {  # java_major /path/to/java -> 17
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\)\(\.[0-9]*\)*.*".*/\1/p' | head -n1 |
    sed 's/^1$/8/'
}

find_jdk() {  # prints a JAVA_HOME with java >= PIN_JAVA_MIN and javac, or nothing
  local candidates=() j home
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for j in /usr/lib/jvm/*/bin/java; do [ -x "$j" ] && candidates+=("$(dirname "$(dirname "$j")")"); done
  for home in "${candidates[@]}"; do
    if [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ]; then
      local major
      major="$(java_major "$home/bin/java")"
      if [ -n "$major" ] && [ "$major" -ge "$PIN_JAVA_MIN" ]; then
        echo "$home"
        return 0
      fi
    fi
  done
}

ensure_java() {
  local home
  home="$(find_jdk || true)"
  if [ -z "$home" ]; then
    local pkg=""
    for cand in "openjdk-${PIN_JAVA_MIN}-jdk-headless" openjdk-21-jdk-headless openjdk-25-jdk-headless \
                default-jdk-headless; do
      if apt_has "$cand"; then pkg="$cand"; break; fi
    done
    [ -n "$pkg" ] || { echo "no JDK >= $PIN_JAVA_MIN found and none in apt" >&2; return 1; }
    log "installing $pkg (a JDK >= $PIN_JAVA_MIN)"
    apt_install "$pkg"
    home="$(find_jdk || true)"
    [ -n "$home" ] || { echo "installed $pkg but found no java >= $PIN_JAVA_MIN with javac" >&2; return 1; }
  fi
  echo "$home" >"$TOOLS/java_home"   # the fixtures run the same JVM
  export JAVA_HOME="$home"
  if ! command -v mvn >/dev/null 2>&1; then
    log "installing maven"
    apt_install maven
  fi
}

MVN_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:${PIN_MAVEN_DEPENDENCY_PLUGIN}"

# runtime_jars POM LIBDIR [-Dproperty=value...]: the runtime dependencies of POM (built with those
# properties) copied from Maven Central into LIBDIR
runtime_jars() {
  local pom="$1" lib="$2"
  shift 2
  mvn -B -q -f "$pom" "$MVN_PLUGIN:copy-dependencies" "$@" -DincludeScope=runtime -DoutputDirectory="$lib"
}

# ---------------------------------------------------------------------------------------------- engines
install_redis() {
  local bin="" have=""
  bin="$(command -v redis-server || true)"
  if [ -z "$bin" ]; then
    apt_install "$PIN_REDIS_DEB"
    bin="$(command -v redis-server)"
  fi
  have="$("$bin" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')"
  case "$have" in
    "$PIN_REDIS_SERIES".*) ;;
    *) echo "redis-server $have at $bin is not the pinned series $PIN_REDIS_SERIES" >&2; return 1 ;;
  esac
  echo "redis-server $have ($bin)"
}

install_postgres() {
  local bindir="/usr/lib/postgresql/$PIN_POSTGRES_SERIES/bin" have
  if [ ! -x "$bindir/postgres" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/psql" ]; then
    apt_install "$PIN_POSTGRES_DEB"
  fi
  have="$("$bindir/postgres" --version | sed -n 's/.*(PostgreSQL) \([0-9.]*\).*/\1/p')"
  case "$have" in
    "$PIN_POSTGRES_SERIES"|"$PIN_POSTGRES_SERIES".*) ;;
    *) echo "postgres $have in $bindir is not the pinned series $PIN_POSTGRES_SERIES" >&2; return 1 ;;
  esac
  echo "postgres $have ($bindir)"
}

install_kafka() {
  local dir="$TOOLS/kafka-$PIN_KAFKA" key="kafka-$PIN_KAFKA-slf4j-$PIN_SLF4J"
  cached "$key" -f "$dir/lib/kafka_2.13-$PIN_KAFKA.jar" && return 0
  ensure_java
  rm -rf "$dir" && mkdir -p "$dir"
  runtime_jars "$HERE/kafka/pom.xml" "$dir/lib" -Dkafka.version="$PIN_KAFKA" -Dslf4j.version="$PIN_SLF4J"
  # the broker, the storage formatter and the admin tools must all be on that classpath
  "$JAVA_HOME/bin/java" -cp "$dir/lib/*" kafka.tools.StorageTool random-uuid >/dev/null
  "$JAVA_HOME/bin/javap" -cp "$dir/lib/*" kafka.Kafka org.apache.kafka.tools.AclCommand \
    org.apache.kafka.metadata.authorizer.StandardAuthorizer >/dev/null
  stamp "$key"
  echo "kafka $PIN_KAFKA ($(find "$dir/lib" -name '*.jar' | wc -l) jars)"
}

install_questdb() {
  local dir="$TOOLS/questdb-$PIN_QUESTDB" key="questdb-$PIN_QUESTDB"
  cached "$key" -f "$dir/questdb-$PIN_QUESTDB.jar" && return 0
  ensure_java
  rm -rf "$dir" && mkdir -p "$dir"
  # org.questdb:questdb has no runtime dependencies: the one jar carries its native libraries
  mvn -B -q "$MVN_PLUGIN:copy" -Dartifact="org.questdb:questdb:$PIN_QUESTDB" -DoutputDirectory="$dir"
  [ -f "$dir/questdb-$PIN_QUESTDB.jar" ] || { echo "questdb jar not copied" >&2; return 1; }
  stamp "$key"
  echo "questdb $PIN_QUESTDB"
}

install_neo4j() {
  local dir="$TOOLS/neo4j-$PIN_NEO4J" key="neo4j-$PIN_NEO4J"
  cached "$key" -f "$dir/classes/Neo4jCommunity.class" && return 0
  ensure_java
  rm -rf "$dir" && mkdir -p "$dir/classes"
  runtime_jars "$HERE/neo4j/pom.xml" "$dir/lib" -Dneo4j.version="$PIN_NEO4J"
  "$JAVA_HOME/bin/javac" -nowarn -cp "$dir/lib/*" -d "$dir/classes" "$HERE/neo4j/Neo4jCommunity.java"
  stamp "$key"
  echo "neo4j $PIN_NEO4J ($(find "$dir/lib" -name '*.jar' | wc -l) jars)"
}

go_install() {  # go_install NAME MODULE VERSION
  local name="$1" module="$2" version="$3"
  local dir="$TOOLS/$name-$version" key="$name-$version"
  cached "$key" -x "$dir/bin/$name" && return 0
  command -v go >/dev/null 2>&1 || {
    echo "no Go toolchain: $name is built from its Go module and needs go >= $PIN_GO_MIN" >&2; return 1; }
  local have
  have="$(go env GOVERSION | sed 's/^go//')"
  version_ge "$have" "$PIN_GO_MIN" || {
    echo "go $have is older than $PIN_GO_MIN, which $module needs (no toolchain download here)" >&2
    return 1; }
  rm -rf "$dir" && mkdir -p "$dir/bin"
  # GOTOOLCHAIN=local: never fetch another Go; -trimpath -s -w: a smaller binary.
  GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false" GOBIN="$dir/bin" \
    go install -trimpath -ldflags='-s -w' "$module@$version"
  "$dir/bin/$name" --version >/dev/null
  stamp "$key"
  echo "$name $version"
}

install_minio() { go_install minio github.com/minio/minio "$PIN_MINIO"; }
install_mc() { go_install mc github.com/minio/mc "$PIN_MC"; }

# ---------------------------------------------------------------------------------------------- main
engines=("$@")
[ "${#engines[@]}" -gt 0 ] || engines=("${ALL_ENGINES[@]}")
failed=()
t_all=$SECONDS
for engine in "${engines[@]}"; do
  if ! declare -F "install_$engine" >/dev/null; then
    log "unknown engine '$engine' (known: ${ALL_ENGINES[*]})"
    exit 2
  fi
  t0=$SECONDS
  logfile="$TOOLS/logs/$engine.log"
  set +e
  ( set -euo pipefail; "install_$engine" ) >"$logfile" 2>&1
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    rm -f "$TOOLS/failed/$engine"
    log "ok      $engine: $(tail -n1 "$logfile" | sed 's/\x1b\[[0-9;]*m//g') [$((SECONDS - t0))s]"
  else
    failed+=("$engine")
    reason="$(sed 's/\x1b\[[0-9;]*m//g' "$logfile" | grep -v '^\s*$' | tail -n1 | cut -c1-300)"
    printf '%s (log: %s)\n' "$reason" "$logfile" >"$TOOLS/failed/$engine"
    log "FAILED  $engine [$((SECONDS - t0))s]: last lines of $logfile:"
    tail -n 15 "$logfile" | sed 's/^/[engines]   | /' >&2
  fi
done
log "done in $((SECONDS - t_all))s; installed under $TOOLS"
if [ "${#failed[@]}" -gt 0 ]; then
  log "not available: ${failed[*]} (their fixtures skip, or fail under QMTL_REQUIRE_ENGINES=1)"
  if [ "${QMTL_REQUIRE_ENGINES:-0}" = 1 ]; then exit 1; fi
fi
exit 0
