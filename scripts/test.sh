#!/usr/bin/env bash
# Runs every check and test of orderbus against real services. The README's test command and
# what CI runs (.ci/run). Works on a fresh machine: it installs and starts what is missing.
#
#   scripts/test.sh            format, lints, then the whole test suite
#   KAFKA_BOOTSTRAP_SERVERS=host:9092 scripts/test.sh   ... against that Kafka instead of the one
#                                                       it starts (scripts/kafka.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
trap stop_started EXIT

export PATH="$HOME/.cargo/bin:$PATH"
ensure_postgres
ensure_redis
start_broker

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --workspace --locked "$@"
