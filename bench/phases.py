"""Phases against the embedded server: fidelity, cost, scale."""

import threading

from common import *  # noqa: F401,F403


# --------------------------------------------------------------------------------------------
# Phase: fidelity (embedded server)


def phase_fidelity(out):
    work = Path(tempfile.mkdtemp(prefix="mailcanary-bench-fid."))
    delay_ms = env_int("BENCH_DELAY_MS", 50)
    want = env_int("BENCH_FIDELITY_CANARIES", 300)
    idle_n = env_int("BENCH_FIDELITY_IDLE", 3)
    server = Server(work, idle_n + 1, delay_ms)
    agent = None
    try:
        probes = [server.probe(f"fid-idle-{i}", i, interval="1s", jitter="100ms")
                  for i in range(idle_n)]
        probes.append(server.probe("fid-poll", idle_n, "poll_1s", "1s", "100ms"))
        cfg, port = write_agent(work / "agent", probes, server.dir / "ca.pem", POLL_CLIENT)
        agent = Agent(cfg, port)
        log(f"fidelity: {idle_n} IDLE + 1 polling instance, delivery delay {delay_ms} ms, "
            f"until {want} IDLE canaries")
        deadline = time.monotonic() + env_int("BENCH_FIDELITY_MAX_SECONDS", 400)
        while time.monotonic() < deadline:
            time.sleep(5)
            rows = [r for r in agent.ledger() if r["delay_s"] is not None
                    and r["client"] == "ios_mail"]
            if len(rows) >= want:
                break
        agent.stop()
        rows = agent.ledger()
        truth = server.deliveries()
    finally:
        if agent:
            agent.stop()
        server.stop()
    res = {"delay_ms": delay_ms, "work": str(work)}
    for kind, client in (("idle", "ios_mail"), ("poll_1s", "poll_1s")):
        over, unmatched = [], 0
        for r in rows:
            if r["client"] != client or r["delay_s"] is None:
                continue
            t = truth.get(r["id"])
            if t is None:
                unmatched += 1
                continue
            over.append((r["delay_s"] - t["true_delay_s"]) * 1000.0)
        res[kind] = {"overhead_ms": summary(over), "unmatched": unmatched,
                     "canaries": sum(1 for r in rows if r["client"] == client),
                     "not_seen": sum(1 for r in rows if r["client"] == client
                                     and r["delay_s"] is None)}
    true_all = [t["true_delay_s"] * 1000 for t in truth.values()]
    res["true_delay_ms"] = summary(true_all)
    Path(out).write_text(json.dumps(res, indent=1))
    log("fidelity:", json.dumps({k: res[k] for k in ("idle", "poll_1s")}))


# --------------------------------------------------------------------------------------------
# Phase: cost against the embedded server


def phase_cost(out):
    work = Path(tempfile.mkdtemp(prefix="mailcanary-bench-cost."))
    n = env_int("BENCH_COST_INSTANCES", 12)
    seconds = env_int("BENCH_COST_SECONDS", 100)
    server = Server(work, n, env_int("BENCH_DELAY_MS", 50))
    agent = None
    try:
        probes = [server.probe(f"cost-{i}", i, interval="1s", jitter="100ms") for i in range(n)]
        cfg, port = write_agent(work / "agent", probes, server.dir / "ca.pem")
        agent = Agent(cfg, port)
        log(f"cost (embedded): {n} ios_mail instances at 1 s; warm-up 15 s, measuring {seconds} s")
        time.sleep(15)
        with Perf(agent.pid, "cost"):
            m = measure_window(agent, seconds, others=[server])
        m["server_cpu_per_1000"] = (m["others_cpu_s"][0] / m["cycles"] * 1000
                                    if m["cycles"] else None)
        m["instances"] = n
        m["failure_reasons"] = agent.failure_reasons()
    finally:
        if agent:
            agent.stop()
        server.stop()
    Path(out).write_text(json.dumps(m, indent=1))
    log("cost:", json.dumps(m))


# --------------------------------------------------------------------------------------------
# Phase: scale


def curl_scrape(agent):
    """One scrape with curl: (milliseconds, bytes)."""
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "60", "-w",
                        "%{time_total} %{size_download}",
                        f"http://127.0.0.1:{agent.port}/metrics"],
                       capture_output=True, text=True)
    t, s = r.stdout.split()
    return float(t) * 1000, int(s)


def scrape_stats(agent, n):
    """`n` scrapes with curl, 0.2 s apart: median time, size, and the agent's CPU per scrape."""
    times, size = [], 0
    c0 = sample(agent.pid)["cpu"]
    for _ in range(n):
        t, size = curl_scrape(agent)
        times.append(t)
        time.sleep(0.2)
    after = sample(agent.pid)
    return {"median_ms": statistics.median(times), "max_ms": max(times), "bytes": size,
            "n": n, "cpu_s_per_scrape": (after["cpu"] - c0) / n, "hwm_kib_after": after["hwm_kib"]}


def run_scale(n, seconds, warmup, idle10):
    work = Path(tempfile.mkdtemp(prefix=f"mailcanary-bench-scale{n}."))
    extra = 10 if idle10 else 0
    server = Server(work, n + extra, env_int("BENCH_DELAY_MS", 50))
    agents = []
    try:
        probes = [server.probe(f"s{i:05d}", i) for i in range(n)]
        cfg, port = write_agent(work / "agent", probes, server.dir / "ca.pem")
        t0 = time.monotonic()
        agent = Agent(cfg, port, "scale")
        agents.append(agent)
        startup = time.monotonic() - t0
        small = None
        if idle10:
            probes10 = [server.probe(f"idle{i}", n + i) for i in range(10)]
            cfg10, port10 = write_agent(work / "agent10", probes10, server.dir / "ca.pem")
            small = Agent(cfg10, port10, "idle10")
            agents.append(small)
        log(f"scale {n}: agent up in {startup:.1f} s; warm-up {warmup} s, measuring {seconds} s")
        time.sleep(warmup)
        # The agent's first scrape: every instance's lines are encoded for the first time.
        cold_ms, _ = curl_scrape(agent)
        # Prometheus' part: a scrape every 15 s throughout the window, so the CPU and the
        # delivery times measured include what scrapes do to the probes; each is timed, as
        # Prometheus sees it (the 20 scrapes 0.2 s apart below find little changed between two).
        every = env_int("BENCH_SCALE_SCRAPE_EVERY", 15)
        stop = threading.Event()
        cadence = []

        def scraper():
            while not stop.wait(every):
                try:
                    cadence.append(curl_scrape(agent)[0])
                except Exception as e:  # counted in the figures as a missed scrape
                    log(f"scale {n}: scrape failed: {e}")

        t = threading.Thread(target=scraper, daemon=True)
        t.start()
        try:
            with Perf(agent.pid, f"scale{n}"):
                m = measure_window(agent, seconds, every=5.0, others=[server])
        finally:
            stop.set()
            t.join()
        m["scrape_every_s"] = every
        m["scrape_cold_ms"] = cold_ms
        m["scrape_cadence"] = ({"median_ms": statistics.median(cadence), "max_ms": max(cadence),
                                "n": len(cadence)} if cadence else {"n": 0})
        m["server_cpu_pct_one_core"] = m["others_cpu_s"][0] / m["wall_s"] * 100
        scrapes = env_int("BENCH_SCRAPES", 20) if n <= 1000 else env_int("BENCH_SCRAPES_BIG", 5)
        with Perf(agent.pid, f"scrape{n}"):
            m["scrape"] = scrape_stats(agent, scrapes)
        m["startup_s"] = startup
        m["warmup_s"] = warmup
        m["instances"] = n
        m["failure_reasons"] = agent.failure_reasons()
        if small:
            s = sample(small.pid)
            c = small.counters()
            m["idle10"] = {"rss_kib": s["rss_kib"], "hwm_kib": s["hwm_kib"], "fds": s["fds"],
                           "cycles": c["cycles"], "failures": c["failures"]}
    finally:
        for a in agents:
            a.stop()
        server.stop()
    # Fidelity at scale, every canary of the run: the agent's delivery time minus the server's
    # true visibility delay (as in the fidelity phase); a scrape renders /metrics on the
    # agent's executor, so canaries in flight during one show it.
    truth = server.deliveries()
    over = [(r["delay_s"] - truth[r["id"]]["true_delay_s"]) * 1000 for r in agent.ledger()
            if r["delay_s"] is not None and r["id"] in truth]
    m["overhead_ms"] = summary(over)
    m["overhead_over_100ms"] = sum(1 for o in over if o > 100)
    log(f"scale {n}:", json.dumps(m))
    return m


def phase_scale(out):
    res = {}
    res["1000"] = run_scale(env_int("BENCH_SCALE_N", 1000), env_int("BENCH_SCALE_SECONDS", 240),
                            env_int("BENCH_SCALE_WARMUP", 70), True)
    big = env_int("BENCH_SCALE_BIG_N", 10000)
    if big:
        try:
            res["big"] = run_scale(big, env_int("BENCH_SCALE_BIG_SECONDS", 180),
                                   env_int("BENCH_SCALE_WARMUP", 70), False)
        except Exception as e:  # reported as "did not hold"
            res["big"] = {"instances": big, "error": str(e)}
    Path(out).write_text(json.dumps(res, indent=1))
