#!/usr/bin/env bash
# Profiles behind the missed targets in bench/RESULTS.md (not part of the default test run).
# `perf stat -e instructions` is not supported on this VM (no hardware counters), but perf's
# software cpu-clock sampling is, so: a symbolized release build (same profile, not stripped,
# line tables) in target/bench-profile, the cost phase and the 1,000-instance scale phase of
# bench/bench.py with `perf record -e cpu-clock --call-graph dwarf` attached to the agent only,
# then the top symbols, self and inclusive, per recording.
#
#   bench/profile.sh            # ~6 min; prints where the summaries are
#   BENCH_PROFILE_STACK=1 bench/profile.sh   # also the agent on Postfix + Dovecot (+2 min)
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release -q --bin mailcanary --target-dir target/bench-profile
cargo build --release -q --example bench --target-dir target/bench  # see run.sh
out=$(mktemp -d /tmp/mailcanary-profile.XXXXXX)
mkdir -p "$out/bin"
cp target/bench-profile/release/mailcanary target/bench/release/examples/bench "$out/bin/"
export BENCH_AGENT_BIN="$out/bin/mailcanary" BENCH_SERVER_BIN="$out/bin/bench" BENCH_PERF="$out"
BENCH_COST_SECONDS=${BENCH_COST_SECONDS:-60} python3 bench/bench.py cost "$out/cost.json"
if [[ -n "${BENCH_PROFILE_STACK:-}" ]]; then  # the agent on Postfix + Dovecot, stack lock shared
  BENCH_STACK_SECONDS=${BENCH_STACK_SECONDS:-60} BENCH_PEER_CHECKS=${BENCH_PEER_CHECKS:-5} \
    flock -s /tmp/mailcanary-mailstack.lock python3 bench/bench.py stack "$out/stack.json"
fi
BENCH_SCALE_BIG_N=0 BENCH_SCALE_SECONDS=${BENCH_SCALE_SECONDS:-60} BENCH_SCRAPES=${BENCH_SCRAPES:-10} \
  python3 bench/bench.py scale "$out/scale.json"
set +o pipefail  # head closes the pipes early
for f in "$out"/*.perf.data; do
  base=${f%.perf.data}
  perf report -i "$f" --no-children --sort sym --stdio --percent-limit 1 -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -40 >"$base.self.txt"
  perf report -i "$f" --children --sort sym --stdio --percent-limit 4 -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -60 >"$base.children.txt"
  echo "== $(basename "$base"): top self / inclusive in $base.{self,children}.txt"
  head -15 "$base.self.txt"
done
echo "profiles in $out"
