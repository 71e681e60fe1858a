# shellcheck shell=bash
# Sourced by scripts/test.sh: make sure the real services the tests talk to
# are there, starting or installing what is missing, and export where they are.
#   KAFKA_BOOTSTRAP_SERVERS  kept if set (e.g. the docker-compose Kafka); else an Apache Kafka
#                            broker (KRaft, scripts/kafka.sh) started here on free 127.0.0.1
#                            ports with its data in a temp dir, stopped and removed on exit
#   DATABASE_URL, REDIS_URL  kept if set; else the local PostgreSQL and Redis, started or
#                            installed from Debian's packages when missing

ORDERBUS_STARTED_PIDS=()
ORDERBUS_STARTED_DIRS=()

log() { printf '[services] %s\n' "$*" >&2; }

wait_for_port() { # host port seconds
  local host=$1 port=$2 deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.2
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

apt_install() {
  log "installing $* from Debian's packages"
  if [ -z "${ORDERBUS_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    ORDERBUS_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

start_broker() {
  # The broker's jars are fetched even when another Kafka is given: the fault and security
  # tests start brokers of their own from them.
  scripts/kafka.sh fetch >/dev/null
  if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    log "using the broker at $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS)"
    return 0
  fi
  local port cport dir
  port=$(free_port)
  cport=$(free_port)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/orderbus-kafka-XXXXXX")
  scripts/kafka.sh node --dir "$dir" --id 1 --port "$port" --controller-port "$cport" \
    --heap "${ORDERBUS_KAFKA_HEAP:-1g}" &
  ORDERBUS_STARTED_PIDS+=($!)
  ORDERBUS_STARTED_DIRS+=("$dir")
  local pid=$! deadline=$((SECONDS + 120))
  until grep -q "Kafka Server started" "$dir/broker.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      log "Apache Kafka did not start; its log:"; tail -40 "$dir/broker.log" >&2; return 1
    fi
    sleep 0.2
  done
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port"
  log "started Apache Kafka $(scripts/kafka.sh version) (KRaft, one node) at $KAFKA_BOOTSTRAP_SERVERS (log: $dir/broker.log)"
}

ensure_postgres() {
  if [ -z "${DATABASE_URL:-}" ]; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
      if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql postgresql-client; fi
      local version; version=$(ls /etc/postgresql | sort -V | tail -1)
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
      local deadline=$((SECONDS + 60))
      until pg_isready -q -h 127.0.0.1 -p 5432; do
        if ((SECONDS >= deadline)); then log "PostgreSQL did not start"; return 1; fi
        sleep 0.5
      done
      # A fresh Debian install asks for passwords on TCP; give the superuser a known one.
      su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >&2 || true
    fi
    psql "postgres://postgres:postgres@127.0.0.1:5432/postgres" -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'orderbus_test'" | grep -q 1 ||
      psql "postgres://postgres:postgres@127.0.0.1:5432/postgres" -qc "CREATE DATABASE orderbus_test" >&2
    export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/orderbus_test"
  fi
  log "PostgreSQL at ${DATABASE_URL%%@*}@*** (DATABASE_URL)"
}

ensure_redis() {
  if [ -z "${REDIS_URL:-}" ]; then
    if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
      if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
      mkdir -p /var/lib/redis /var/log/redis
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/orderbus.log >&2
      local deadline=$((SECONDS + 30))
      until redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; do
        if ((SECONDS >= deadline)); then log "Redis did not start"; return 1; fi
        sleep 0.2
      done
    fi
    export REDIS_URL="redis://127.0.0.1:6379"
  fi
  log "Redis at $REDIS_URL (REDIS_URL)"
}

stop_started() {
  local pid
  for pid in "${ORDERBUS_STARTED_PIDS[@]}"; do
    # A broker stopped by SIGTERM exits 143; that is not the suite's status.
    kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
  done
  ORDERBUS_STARTED_PIDS=()
  local dir
  for dir in "${ORDERBUS_STARTED_DIRS[@]}"; do rm -rf "$dir"; done
  ORDERBUS_STARTED_DIRS=()
}
