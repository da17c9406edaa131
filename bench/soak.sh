#!/usr/bin/env bash
# Soak test (not part of the default test run): the agent at one cycle per second against the
# embedded mail server for SOAK_SECONDS (default 1800), sampling RSS and open file descriptors
# every minute. The server runs in its own process (`mailcanary demo` with an hourly probe of
# its own), the measured agent is a separate `mailcanary run` on the config demo wrote, with the
# probe's interval set to 1 s: only the agent's memory and descriptors are measured, while a
# scraper reads /metrics every 15 s as Prometheus would. The start sample is taken after a
# warm-up (SOAK_WARMUP, default 600 s) in which the allocator's arenas and the TLS session and
# SQL statement caches reach their working size; the verdict is growth start -> end under 5 %.
# Appends its table to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${SOAK_SECONDS:-1800}
WARMUP=${SOAK_WARMUP:-600}
cargo build --release -q
dir=$(mktemp -d /tmp/mailcanary-soak.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
demo_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/mailcanary demo --web.listen-address "127.0.0.1:$demo_port" --interval 1h \
  --clients ios_mail --dir "$dir/demo" >"$dir/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 100); do [ -f "$dir/demo/probes/demo.toml" ] && break; sleep 0.1; done
sed -i 's/^interval = .*/interval = "1s"/; s/^jitter = .*/jitter = "100ms"/' "$dir/demo/probes/demo.toml"
sed -i 's/^ledger_path = .*/ledger_path = "soak-ledger.db"/' "$dir/demo/mailcanary.toml"
target/release/mailcanary run -c "$dir/demo/mailcanary.toml" --web.listen-address "127.0.0.1:$port" \
  >"$dir/agent.log" 2>&1 &
pid=$!
trap 'kill $pid $demo_pid 2>/dev/null || true' EXIT

sample() { # prints: seconds rss_kib fds cycles successes
  local rss fds metrics cycles ok
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  metrics=$(curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" || true)
  cycles=$(awk '/^mailcanary_probe_cycles_total/{s+=$2} END{print s+0}' <<<"$metrics")
  ok=$(awk '/^mailcanary_canaries_total.*outcome="on_time"/{s+=$2} END{print s+0}' <<<"$metrics")
  echo "$SECONDS $rss $fds $cycles $ok"
}

( while kill -0 "$pid" 2>/dev/null; do
    curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$port/metrics" || true; sleep 15
  done ) &
scraper=$!
SECONDS=0
sleep "$WARMUP"
start=$(sample); echo "start: $start" | tee "$dir/samples"
while (( SECONDS < WARMUP + DURATION )); do
  sleep 60
  sample | tee -a "$dir/samples"
done
end=$(sample); echo "end: $end"
read -r _ rss0 fd0 c0 ok0 <<<"$start"
read -r t1 rss1 fd1 c1 ok1 <<<"$end"
kill -TERM "$pid" "$demo_pid"; wait "$pid" || true; kill "$scraper" 2>/dev/null || true
trap - EXIT
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%+.1f", (b-a)*100/a}'; }
rss_g=$(pct "$rss0" "$rss1"); fd_g=$(pct "$fd0" "$fd1")
verdict=$(awk -v r="$rss_g" -v f="$fd_g" 'BEGIN{print (r<5 && f<5) ? "PASS (both under +5 %)" : "FAIL (growth of +5 % or more)"}')
table=$(cat <<TABLE
| soak: agent process, 1 instance at 1 cycle/s, embedded server in another process | start (after ${WARMUP}s) | end (+${DURATION}s) | growth |
| --- | --- | --- | --- |
| RSS (KiB) | $rss0 | $rss1 | $rss_g % |
| open fds | $fd0 | $fd1 | $fd_g % |
| cycles / on-time canaries | $c0 / $ok0 | $c1 / $ok1 | |

Verdict: $verdict. Per-minute samples (seconds rss_kib fds cycles on_time): \`$dir/samples\`.
TABLE
)
echo "$table"
{
  printf '\n## Soak, %s\n\nCommand: `bench/soak.sh` (SOAK_SECONDS=%s)\n\n%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$DURATION" "$table"
} >> bench/RESULTS.md
