#!/usr/bin/env bash
# Benchmarks (not part of the default test run): measurement fidelity, cost per probe cycle and
# scale, each measured side by side in one run, printed as one table and appended with this
# command and the date to bench/RESULTS.md. See bench/README.md.
#
#   bench/run.sh                       # everything, ~25 min on 2 cores
#   BENCH_PHASES="fidelity cost" bench/run.sh
#   BENCH_PHASES=shards BENCH_SHARDS_N=10 bench/run.sh   # 10,000 mailboxes over 10 shard agents
#
# Needs: root for apt-get (the peer plugin) and for the loopback test stack
# (scripts/mailstack.sh up, as after the README set-up), Python 3, curl, flock.
# The stack part holds /tmp/mailcanary-mailstack.lock SHARED, so no test changes the stack
# under it, and changes nothing on the stack itself (users judy and ivan only).
set -euo pipefail
cd "$(dirname "$0")/.."
PHASES=${BENCH_PHASES:-fidelity cost stack scale encoders}
LOCK=/tmp/mailcanary-mailstack.lock
command="$( (env | grep '^BENCH_' || true) | sort | tr '\n' ' ')bench/run.sh"

if [[ " $PHASES " == *" stack "* ]]; then
  pkgs="monitoring-plugins-contrib libmail-imapclient-perl libnet-smtp-tls-perl libnet-smtp-ssl-perl"
  # shellcheck disable=SC2086
  if ! dpkg -s $pkgs >/dev/null 2>&1; then
    echo "installing the peer: $pkgs" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  fi
  if ! scripts/mailstack.sh status >/dev/null 2>&1; then
    echo "the test stack is not running: starting it (scripts/mailstack.sh up)" >&2
    flock -x "$LOCK" scripts/mailstack.sh up >/dev/null
  fi
fi

# The agent exactly as users build it. The bench server is built apart, in its own target
# folder: building an example enables the dev-dependencies' features, and in the same build
# they would be unified into the agent binary too (bigger, different from what users run).
cargo build --release -q --bin mailcanary
out=$(mktemp -d /tmp/mailcanary-bench.XXXXXX)
mkdir -p "$out/bin"
cp target/release/mailcanary "$out/bin/"
cargo build --release -q --example bench --target-dir target/bench
cp target/bench/release/examples/bench "$out/bin/"
if [[ " $PHASES " == *" stack "* ]]; then  # the floor of a cycle's cost, beside the agent
  cargo build --release -q --example floor --target-dir target/bench
  cp target/bench/release/examples/floor "$out/bin/"
fi
if [[ " $PHASES " == *" encoders "* ]]; then
  cargo build --release -q --example encoders --target-dir target/bench
  cp target/bench/release/examples/encoders "$out/bin/"
fi
export BENCH_AGENT_BIN="$out/bin/mailcanary" BENCH_SERVER_BIN="$out/bin/bench" \
  BENCH_FLOOR_BIN="$out/bin/floor"
echo "bench: results in $out" >&2

for phase in $PHASES; do
  case $phase in
    stack) flock -s "$LOCK" python3 bench/bench.py stack "$out/stack.json" ;;
    fidelity|cost|scale|shards) python3 bench/bench.py "$phase" "$out/$phase.json" ;;
    # The two /metrics encoders side by side, in one process, at 1,000 and 10,000 instances.
    encoders)
      { echo "["; "$out/bin/encoders" 1000 20; echo ","; "$out/bin/encoders" 10000 5; echo "]"; } \
        > "$out/encoders.json" ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
python3 bench/bench.py report "$out" --command "$command" --append bench/RESULTS.md
