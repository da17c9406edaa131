"""Shared by the benchmark phases: /proc sampling, the embedded server and the agent as
processes of their own, perf attachment, and the measurement window."""

import argparse
import ctypes
import ctypes.util
import imaplib
import json
import os
import re
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# run.sh copies the binaries it built into its output folder, so a rebuild in the working tree
# during the run cannot swap them.
BIN = Path(os.environ.get("BENCH_AGENT_BIN", ROOT / "target/release/mailcanary"))
SERVER = Path(os.environ.get("BENCH_SERVER_BIN", ROOT / "target/release/examples/bench"))
FLOOR = Path(os.environ.get("BENCH_FLOOR_BIN", ROOT / "target/bench/release/examples/floor"))
CLK = os.sysconf("SC_CLK_TCK")
STACK = Path("/var/lib/mailstack")
PLUGINS = Path("/usr/lib/nagios/plugins")


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


def log(*a):
    print("[bench]", time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# /proc


def sample(pid):
    """CPU seconds (utime + stime), VmRSS and VmHWM (KiB), open fds of `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    cpu = (int(rest[11]) + int(rest[12])) / CLK  # fields 14 and 15
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                st[k] = int(v.split()[0])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"t": time.monotonic(), "cpu": cpu, "rss_kib": st.get("VmRSS", 0),
            "hwm_kib": st.get("VmHWM", 0), "fds": fds}


def pct(values, p):
    """Nearest-rank percentile (p in 0..100)."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


def summary(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "p99": pct(values, 99),
            "min": min(values), "max": max(values)}


# --------------------------------------------------------------------------------------------
# Processes: embedded server, agent


def terminate(proc, grace_s):
    """SIGTERM, then SIGKILL if `proc` is still running after `grace_s` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """The embedded mail server in its own process (bench/bench.rs)."""

    def __init__(self, work, users, delay_ms):
        self.dir = Path(work) / "server"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.dir / "server.log", "w")
        self.proc = subprocess.Popen(
            [str(SERVER), "server", "--dir", str(self.dir), "--users", str(users),
             "--delivery-delay-ms", str(delay_ms)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        info = self.dir / "server.json"
        for _ in range(600):
            if info.exists():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"bench server exited: {(self.dir / 'server.log').read_text()}")
            time.sleep(0.05)
        self.info = json.loads(info.read_text())
        self.users = users

    def endpoints(self):
        port = lambda k: int(self.info[k].rsplit(":", 1)[1])
        return {
            "smtp": {"implicit_tls_port": port("smtps"), "starttls_port": port("smtp"),
                     "plain_port": port("smtp")},
            "imap": {"implicit_tls_port": port("imaps"), "starttls_port": port("imap"),
                     "plain_port": port("imap")},
        }

    def probe(self, name, box, client="ios_mail", interval="60s", jitter="6s"):
        """A probe of one client profile on mailbox `box` of this server, for write_agent."""
        return dict(name=name, user=f"box{box}@example.test", password_file=self.dir / "password",
                    clients=[client], interval=interval, jitter=jitter, endpoints=self.endpoints())

    def deliveries(self):
        out = {}
        with open(self.dir / "deliveries.tsv") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 4 and parts[0] != "-":
                    out[parts[0]] = {"true_delay_s": int(parts[2]) / 1e6,
                                     "visible_unix": float(parts[3])}
        return out

    def stop(self):
        terminate(self.proc, 15)
        self.log.close()


POLL_CLIENT = '\n[clients.poll_1s]\npreset = "ios_mail"\nwatch = "poll"\npoll_interval = "1s"\n'


def write_agent(adir, probes, ca_file, extra_main=""):
    """An agent config in `adir`; `probes`: dicts with name, user, password_file, clients,
    interval, jitter, deadline, timeout, endpoints (dict or None for the profile's ports)."""
    adir = Path(adir)
    (adir / "probes").mkdir(parents=True, exist_ok=True)
    key = adir / "hmac.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, os.urandom(32).hex().encode())
    os.close(fd)
    port = free_port()
    (adir / "mailcanary.toml").write_text(
        f'[agent]\nregion = "bench"\nlisten_address = "127.0.0.1:{port}"\n'
        f'ledger_path = "ledger.db"\nhmac_key_file = "hmac.key"\nca_file = "{ca_file}"\n'
        f'probes = ["probes/*.toml"]\n{extra_main}')
    for p in probes:
        def ep(kind):
            lines = ['host = "127.0.0.1"', 'tls_server_name = "mail.example.test"',
                     f'password_file = "{p["password_file"]}"']
            for k, v in (p.get("endpoints") or {}).get(kind, {}).items():
                lines.append(f"{k} = {v}")
            return "\n".join(lines)
        clients = ", ".join(f'"{c}"' for c in p["clients"])
        (adir / "probes" / f'{p["name"]}.toml').write_text(
            f'clients = [{clients}]\ninterval = "{p["interval"]}"\njitter = "{p["jitter"]}"\n'
            f'timeout = "{p.get("timeout", "10s")}"\ndeadline = "{p.get("deadline", "30s")}"\n'
            f'from = "{p["user"]}"\nto = "{p["user"]}"\n{p.get("extra", "")}\n\n[smtp]\n{ep("smtp")}\n\n'
            f'[imap]\n{ep("imap")}\n')
    return adir / "mailcanary.toml", port


class Agent:
    """`mailcanary run` on a config, in its own process."""

    def __init__(self, config, port, name="agent"):
        self.config, self.port, self.name = Path(config), port, name
        self.logf = open(self.config.parent / f"{name}.log", "w")
        self.proc = subprocess.Popen(
            [str(BIN), "run", "-c", str(self.config), "--web.listen-address",
             f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        for _ in range(1200):
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent {name} exited: "
                                   + (self.config.parent / f"{name}.log").read_text()[-2000:])
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        self.started = time.monotonic()

    def metrics(self, timeout=60):
        return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                      timeout=timeout).read().decode()

    def counters(self):
        """Summed cycles, failures and on-time canaries from one scrape."""
        text = self.metrics()
        out = {"cycles": 0.0, "failures": 0.0, "on_time": 0.0}
        for line in text.splitlines():
            if line.startswith("mailcanary_probe_cycles_total{"):
                out["cycles"] += float(line.rsplit(" ", 1)[1])
            elif line.startswith("mailcanary_probe_failures_total{"):
                out["failures"] += float(line.rsplit(" ", 1)[1])
            elif line.startswith("mailcanary_canaries_total{") and 'outcome="on_time"' in line:
                out["on_time"] += float(line.rsplit(" ", 1)[1])
        return out

    def failure_reasons(self):
        reasons = {}
        for line in self.metrics().splitlines():
            if line.startswith("mailcanary_probe_failures_total{"):
                v = float(line.rsplit(" ", 1)[1])
                if v:
                    st = re.search(r'stage="([^"]*)"', line)
                    rs = re.search(r'reason="([^"]*)"', line)
                    key = f"{st.group(1) if st else '?'}/{rs.group(1) if rs else '?'}"
                    reasons[key] = reasons.get(key, 0) + v
        return reasons

    def stop(self):
        terminate(self.proc, 30)
        self.logf.close()

    def ledger(self):
        db = sqlite3.connect(f"file:{self.config.parent / 'ledger.db'}?mode=ro", uri=True)
        rows = db.execute("SELECT id, probe, client, accepted_at, delay_s, state FROM canaries"
                          ).fetchall()
        db.close()
        return [dict(zip(("id", "probe", "client", "accepted_at", "delay_s", "state"), r))
                for r in rows]


class Perf:
    """With BENCH_PERF=DIR (bench/profile.sh), `perf record` (cpu-clock samples, call graphs)
    attached to `pid` for the duration of the block, into DIR/TAG.perf.data."""

    def __init__(self, pid, tag):
        self.pid, self.tag, self.proc = pid, tag, None

    def __enter__(self):
        d = os.environ.get("BENCH_PERF")
        if d:
            self.proc = subprocess.Popen(
                ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
                 "-p", str(self.pid), "-o", f"{d}/{self.tag}.perf.data"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait()


def measure_window(agent, seconds, every=10.0, others=()):
    """Samples `agent` (and `others`) from now for `seconds`: CPU, RSS, fds, cycles."""
    c0, s0 = agent.counters(), sample(agent.pid)
    o0 = [sample(o.pid if hasattr(o, "pid") else o.proc.pid) for o in others]
    peak_fds, peak_rss = s0["fds"], s0["rss_kib"]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(every, max(0.0, end - time.monotonic())))
        s = sample(agent.pid)
        peak_fds, peak_rss = max(peak_fds, s["fds"]), max(peak_rss, s["rss_kib"])
    s1, c1 = sample(agent.pid), agent.counters()
    o1 = [sample(o.pid if hasattr(o, "pid") else o.proc.pid) for o in others]
    wall = s1["t"] - s0["t"]
    cycles = c1["cycles"] - c0["cycles"]
    cpu = s1["cpu"] - s0["cpu"]
    return {
        "wall_s": wall, "cpu_s": cpu, "cycles": cycles,
        "failures": c1["failures"] - c0["failures"], "on_time": c1["on_time"] - c0["on_time"],
        "cpu_per_1000": cpu / cycles * 1000 if cycles else None,
        "cpu_pct_one_core": cpu / wall * 100,
        "rss_end_kib": s1["rss_kib"], "rss_peak_sampled_kib": peak_rss, "hwm_kib": s1["hwm_kib"],
        "fds_end": s1["fds"], "fds_peak_sampled": peak_fds,
        "others_cpu_s": [b["cpu"] - a["cpu"] for a, b in zip(o0, o1)],
    }
