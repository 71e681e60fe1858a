#!/usr/bin/env bash
# Apache Kafka for the tests and benchmarks: fetches the pinned broker through Maven once, and
# runs one KRaft node (broker and controller in one process) in the foreground. The shared
# single broker of scripts/test.sh, the 3-broker cluster of the fault tests and the SASL_SSL
# broker of the security tests are all started through `node`, so there is one way to run Kafka.
#
#   scripts/kafka.sh fetch
#       puts the broker's jars in $ORDERBUS_KAFKA_HOME (default ~/.cache/orderbus/kafka-<version>)
#       and prints that directory; installs Java 17 and Maven from Debian's packages if missing
#   scripts/kafka.sh node --dir DIR --id N --port P --controller-port C [options]
#       writes DIR/server.properties, formats DIR/data on the first start, then becomes the broker
#       process (exec), logging to DIR/broker.log; a restart with the same DIR keeps its data
#     --voters 1@127.0.0.1:C1,2@...   static controller quorum (default: this node alone)
#     --cluster-id ID                 the same for every node of a cluster (default: a fixed one)
#     --listener NAME:PROTOCOL:PORT   another listener on 127.0.0.1 (e.g. SASL_SSL:SASL_SSL:9094)
#     --prop KEY=VALUE                any broker property (last one wins)
#     --scram MECHANISM=[name=U,password=P]   a SCRAM user created at format time
#     --heap SIZE                     maximum heap (default 768m)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
KAFKA_HOME_DIR="${ORDERBUS_KAFKA_HOME:-$HOME/.cache/orderbus/kafka-$KAFKA_VERSION}"

log() { printf '[kafka] %s\n' "$*" >&2; }

apt_install() {
  log "installing $* from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

ensure_java_and_maven() {
  if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
    apt_install openjdk-17-jre-headless
  fi
  if ! command -v mvn >/dev/null; then apt_install maven; fi
}

fetch() {
  if [ -f "$KAFKA_HOME_DIR/.complete" ]; then
    echo "$KAFKA_HOME_DIR"
    return 0
  fi
  ensure_java_and_maven
  log "fetching Apache Kafka $KAFKA_VERSION through Maven into $KAFKA_HOME_DIR (once)"
  rm -rf "$KAFKA_HOME_DIR"
  mkdir -p "$KAFKA_HOME_DIR"
  mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME_DIR/libs" >&2
  touch "$KAFKA_HOME_DIR/.complete"
  echo "$KAFKA_HOME_DIR"
}

write_log_config() { # file
  cat >"$1" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

node() {
  local dir="" id="" port="" cport="" voters="" cluster_id="orderbus-test-kafka-0"
  local heap="768m" listeners=() props=() scram=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2 ;;
      --id) id=$2 ;;
      --port) port=$2 ;;
      --controller-port) cport=$2 ;;
      --voters) voters=$2 ;;
      --cluster-id) cluster_id=$2 ;;
      --listener) listeners+=("$2") ;;
      --prop) props+=("$2") ;;
      --scram) scram+=(--add-scram "$2") ;;
      --heap) heap=$2 ;;
      *) log "unknown option $1"; return 2 ;;
    esac
    shift 2
  done
  if [ -z "$dir" ] || [ -z "$id" ] || [ -z "$port" ] || [ -z "$cport" ]; then
    log "node needs --dir, --id, --port and --controller-port"; return 2
  fi
  local home; home="$(fetch)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"

  local listen="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  local l name proto lport
  for l in ${listeners[@]+"${listeners[@]}"}; do
    IFS=: read -r name proto lport <<<"$l"
    listen+=",$name://127.0.0.1:$lport"
    advertised+=",$name://127.0.0.1:$lport"
    protocols+=",$name:$proto"
  done
  local quorum
  if [ -n "$voters" ]; then
    quorum="controller.quorum.voters=$voters"
  else
    quorum="controller.quorum.bootstrap.servers=127.0.0.1:$cport"
  fi

  {
    echo "process.roles=broker,controller"
    echo "node.id=$id"
    echo "$quorum"
    echo "listeners=$listen"
    echo "advertised.listeners=$advertised"
    echo "listener.security.protocol.map=$protocols"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "log.dirs=$dir/data"
    # Test settings: a group forms at once, and nothing appears that a test did not create.
    echo "group.initial.rebalance.delay.ms=0"
    echo "auto.create.topics.enable=false"
    echo "offsets.topic.replication.factor=1"
    echo "transaction.state.log.replication.factor=1"
    echo "transaction.state.log.min.isr=1"
    echo "share.coordinator.state.topic.replication.factor=1"
    echo "share.coordinator.state.topic.min.isr=1"
    local p
    for p in ${props[@]+"${props[@]}"}; do echo "$p"; done
  } >"$dir/server.properties"
  write_log_config "$dir/log4j2.properties"

  local cp="$home/libs/*"
  if [ ! -f "$dir/data/meta.properties" ]; then
    local how=(--standalone)
    if [ -n "$voters" ]; then how=(); fi
    java -Xmx256m -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$cp" \
      kafka.tools.StorageTool format --ignore-formatted --cluster-id="$(cluster_uuid "$cluster_id")" \
      -c "$dir/server.properties" ${how[@]+"${how[@]}"} ${scram[@]+"${scram[@]}"} \
      >>"$dir/broker.log" 2>&1
  fi
  exec java -Xms128m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$cp" \
    kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1
}

# A KRaft cluster id is 16 bytes in URL-safe base64; derive it from the name so every node of
# one cluster agrees without passing a generated one around.
cluster_uuid() { # name
  python3 -c 'import base64, hashlib, sys
print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()[:16]).decode().rstrip("="))' "$1"
}

case "${1:-}" in
  fetch) shift; fetch "$@" ;;
  node) shift; node "$@" ;;
  version) echo "$KAFKA_VERSION" ;;
  *) log "usage: kafka.sh fetch | node --dir DIR --id N --port P --controller-port C [...]"; exit 2 ;;
esac
