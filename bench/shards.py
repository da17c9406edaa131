"""Phase shards: one probe set of many mailboxes (10,000 by default) split over n shard agents
on this machine (`--shard i/n` through `[agent] shard`, the same probe files, a ledger each)
against one embedded server: CPU, RSS and cycles per agent and in total over the same window,
with a scrape of every agent every 15 s throughout, then each agent's /metrics scrape time."""

import threading

from common import *  # noqa: F401,F403
from phases import scrape_stats


def phase_shards(out):
    boxes = env_int("BENCH_SHARDS_MAILBOXES", 10000)
    n = env_int("BENCH_SHARDS_N", 10)
    seconds = env_int("BENCH_SHARDS_SECONDS", 120)
    warmup = env_int("BENCH_SHARDS_WARMUP", 70)
    every = env_int("BENCH_SCALE_SCRAPE_EVERY", 15)
    work = Path(tempfile.mkdtemp(prefix=f"mailcanary-bench-shards{boxes}x{n}."))
    server = Server(work, boxes, env_int("BENCH_DELAY_MS", 50))
    agents = []
    try:
        probes = [server.probe(f"s{i:05d}", i) for i in range(boxes)]
        # The probe files once; every agent reads them, each keeps its own ledger.
        _, _ = write_agent(work / "probeset", probes, server.dir / "ca.pem")
        shared = work / "probeset" / "probes" / "*.toml"
        t0 = time.monotonic()
        for i in range(1, n + 1):
            cfg, port = write_agent(work / f"agent{i}", [], server.dir / "ca.pem",
                                    f'shard = "{i}/{n}"\n')
            cfg.write_text(cfg.read_text().replace('probes = ["probes/*.toml"]',
                                                   f'probes = ["{shared}"]'))
            agents.append(Agent(cfg, port, f"shard{i}"))
        startup = time.monotonic() - t0
        log(f"shards: {boxes} mailboxes over {n} agents up in {startup:.1f} s; "
            f"warm-up {warmup} s, measuring {seconds} s")
        time.sleep(warmup)
        stop = threading.Event()

        def scraper():
            while not stop.wait(every):
                for a in agents:
                    try:
                        a.metrics()
                    except Exception as e:  # a missed scrape shows in the figures
                        log(f"shards: scrape of {a.name} failed: {e}")

        th = threading.Thread(target=scraper, daemon=True)
        th.start()
        try:
            c0 = [a.counters() for a in agents]
            s0 = [sample(a.pid) for a in agents]
            v0 = sample(server.proc.pid)
            peak = [s["rss_kib"] for s in s0]
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(min(5.0, max(0.0, end - time.monotonic())))
                for k, a in enumerate(agents):
                    peak[k] = max(peak[k], sample(a.pid)["rss_kib"])
            s1 = [sample(a.pid) for a in agents]
            c1 = [a.counters() for a in agents]
            v1 = sample(server.proc.pid)
        finally:
            stop.set()
            th.join()
        per = []
        for k, a in enumerate(agents):
            wall = s1[k]["t"] - s0[k]["t"]
            cpu = s1[k]["cpu"] - s0[k]["cpu"]
            cycles = c1[k]["cycles"] - c0[k]["cycles"]
            per.append({"agent": a.name, "wall_s": wall, "cpu_s": cpu, "cycles": cycles,
                        "failures": c1[k]["failures"] - c0[k]["failures"],
                        "cpu_pct_one_core": cpu / wall * 100,
                        "cpu_per_1000": cpu / cycles * 1000 if cycles else None,
                        "rss_peak_sampled_kib": peak[k], "hwm_kib": s1[k]["hwm_kib"],
                        "fds_end": s1[k]["fds"]})
        scrapes = env_int("BENCH_SHARDS_SCRAPES", 10)
        for k, a in enumerate(agents):
            per[k]["scrape"] = scrape_stats(a, scrapes)
            per[k]["instances"] = sum(1 for line in a.metrics().splitlines()
                                      if line.startswith("mailcanary_probe_cycles_total{"))
        wall = max(p["wall_s"] for p in per)
        res = {"mailboxes": boxes, "agents": n, "seconds": seconds, "warmup_s": warmup,
               "startup_s": startup, "scrape_every_s": every, "per_agent": per,
               "total": {"cpu_s": sum(p["cpu_s"] for p in per),
                         "cycles": sum(p["cycles"] for p in per),
                         "failures": sum(p["failures"] for p in per),
                         "cpu_pct_one_core": sum(p["cpu_s"] for p in per) / wall * 100,
                         "rss_peak_sampled_kib": sum(p["rss_peak_sampled_kib"] for p in per),
                         "instances": sum(p["instances"] for p in per)},
               "server_cpu_pct_one_core": (v1["cpu"] - v0["cpu"]) / (v1["t"] - v0["t"]) * 100,
               "load_average_end": os.getloadavg()[0], "work": str(work)}
        t = res["total"]
        t["cpu_per_1000"] = t["cpu_s"] / t["cycles"] * 1000 if t["cycles"] else None
    finally:
        for a in agents:
            a.stop()
        server.stop()
    # Delivery time minus the server's true visibility delay, every canary of every agent.
    truth = server.deliveries()
    over = [(r["delay_s"] - truth[r["id"]]["true_delay_s"]) * 1000
            for a in agents for r in a.ledger()
            if r["delay_s"] is not None and r["id"] in truth]
    res["overhead_ms"] = summary(over)
    Path(out).write_text(json.dumps(res, indent=1))
    log("shards:", json.dumps(res["total"]))


def report_rows(s):
    """Rows of the run's table for the shards phase."""
    t, n = s["total"], s["agents"]
    rows = [(f"Shards: {s['mailboxes']:,} IDLE mailboxes (1 probe × ios_mail each, 60 s) over "
             f"{n} agents `--shard i/{n}` on this machine", "", "",
             f"{s['seconds']} s measured after a {s['warmup_s']} s warm-up, every agent scraped "
             f"every {s['scrape_every_s']} s; startup of all {s['startup_s']:.1f} s; load average "
             f"{s['load_average_end']:.2f} at the end")]
    rows.append(("  all agents: CPU, % of one core / CPU-s per 1,000 cycles",
                 f"{t['cpu_pct_one_core']:.1f} % / {t['cpu_per_1000']:.2f}", "",
                 f"{int(t['cycles'])} cycles, {int(t['failures'])} failed, {t['instances']} "
                 f"instances; server {s['server_cpu_pct_one_core']:.1f} %"))
    rows.append(("  all agents: RSS, sum of the peaks sampled",
                 f"{t['rss_peak_sampled_kib']/1024:.1f} MiB", "", ""))
    for p in s["per_agent"]:
        sc = p["scrape"]
        rows.append((f"  {p['agent']} ({p['instances']} instances): CPU % of a core / RSS peak / "
                     "scrape median", f"{p['cpu_pct_one_core']:.1f} % / "
                     f"{p['rss_peak_sampled_kib']/1024:.1f} MiB / {sc['median_ms']:.1f} ms", "",
                     f"{int(p['cycles'])} cycles; scrape {sc['bytes']/1e6:.2f} MB, max "
                     f"{sc['max_ms']:.1f} ms, n = {sc['n']}"))
    o = s["overhead_ms"]
    if o.get("n"):
        rows.append(("  delivery − true delay, every canary of every agent, median / p99",
                     f"{o['median']:.2f} / {o['p99']:.2f} ms", "", f"n = {o['n']}"))
    return rows
