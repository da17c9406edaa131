#!/usr/bin/env python3
"""Where the agent's memory at scale comes from: N IDLE instances (default 1,000) against the
embedded server, RSS sampled every 10 s for 90 s with no scrape at all, then after each of six
/metrics scrapes. Separates what the instances hold at rest from what a scrape adds.

    BENCH_AGENT_BIN=... BENCH_SERVER_BIN=... python3 bench/rest_memory.py [N]

(the binaries as bench/run.sh builds them: target/release/mailcanary, the default, and
target/bench/release/examples/bench).
"""

import sys

from common import Agent, Path, Server, sample, tempfile, time, write_agent


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    work = Path(tempfile.mkdtemp(prefix="mailcanary-bench-rest."))
    server = Server(work, n, 50)
    try:
        probes = [server.probe(f"s{i:05d}", i) for i in range(n)]
        cfg, port = write_agent(work / "agent", probes, server.dir / "ca.pem")
        agent = Agent(cfg, port, "rest")
        print(f"{n} instances; columns: when, VmRSS KiB, VmHWM KiB")
        for t in range(9):
            time.sleep(10)
            s = sample(agent.pid)
            print(f"no scrape yet, {(t + 1) * 10} s", s["rss_kib"], s["hwm_kib"], flush=True)
        for k in range(6):
            size = len(agent.metrics())
            s = sample(agent.pid)
            print(f"after scrape {k + 1} ({size / 1e6:.1f} MB)", s["rss_kib"], s["hwm_kib"],
                  flush=True)
            time.sleep(5)
        agent.stop()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
