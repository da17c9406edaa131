"""Phase against Postfix + Dovecot: the agent beside a reference IDLE client, Maildir ground
truth, and the check_email_delivery peer, on the same stack in one run."""

from common import *  # noqa: F401,F403


# --------------------------------------------------------------------------------------------
# Phase: Postfix + Dovecot


class Inotify:
    """Maildir/new watcher: (unix time of IN_CREATE/IN_MOVED_TO, canary id) per new file. The
    id is read at once: the agent expunges its canary about half a second later."""
    IN_CREATE, IN_MOVED_TO = 0x100, 0x80

    def __init__(self, path):
        self.maildir = Path(path).parent
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(0)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, str(path).encode(),
                                  self.IN_CREATE | self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.events = []
        self.stopped = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        import struct
        while not self.stopped:
            try:
                buf = os.read(self.fd, 65536)
            except OSError:
                return
            now = time.time()
            i = 0
            while i + 16 <= len(buf):
                _wd, _mask, _cookie, ln = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode(errors="replace")
                self.events.append((now, name, read_canary_id(self.maildir, name)))
                i += 16 + ln


def read_canary_id(maildir, name):
    """X-Mailcanary-Id of a Maildir file now in new/ or cur/ (None if gone)."""
    base = name.split(":", 1)[0]
    candidates = [maildir / "new" / name]
    try:
        candidates += [maildir / "cur" / f for f in os.listdir(maildir / "cur")
                       if f.split(":", 1)[0] == base]
    except OSError:
        pass
    for c in candidates:
        try:
            with open(c, "rb") as f:
                head = f.read(16384)
        except OSError:
            continue
        m = re.search(rb"^X-Mailcanary-Id:\s*(\S+)", head, re.M | re.I)
        return m.group(1).decode() if m else None
    return None


class Reference:
    """Minimal reference client: one IMAPS session in IDLE on the mailbox, recording the unix
    time at which each untagged `* N EXISTS` push is read (Python's imaplib has no IDLE: the
    command is written on its socket and the responses read line by line)."""

    def __init__(self, user, password, ca):
        ctx = ssl.create_default_context(cafile=str(ca))
        self.imap = imaplib.IMAP4_SSL("127.0.0.1", 993, ssl_context=ctx)
        self.imap.login(user, password)
        self.imap.select("INBOX")
        self.pushes = []
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        tag = 0
        while not self.stopped:
            tag += 1
            t = f"R{tag}".encode()
            self.imap.send(t + b" IDLE\r\n")
            renew = time.monotonic() + 600  # re-IDLE well inside Dovecot's 30 min
            done = False
            while True:
                try:
                    line = self.imap.readline()
                except OSError:
                    return
                now = time.time()
                if not line:
                    return
                if re.match(rb"\* \d+ EXISTS", line):
                    self.pushes.append(now)
                if not self.stopped and time.monotonic() > renew and not done:
                    self.imap.send(b"DONE\r\n")
                    done = True
                if line.startswith(t + b" "):
                    break
            if self.stopped:
                return

    def stop(self, remove_probe=None):
        """Ends IDLE; removes the canaries of probe `remove_probe` (the fidelity agent runs
        with cleanup off, so that it cannot expunge a canary before this session has seen it)."""
        self.stopped = True
        try:
            self.imap.send(b"DONE\r\n")
        except OSError:
            pass
        self.thread.join(timeout=5)
        try:
            if remove_probe and not self.thread.is_alive():
                _, data = self.imap.uid("SEARCH", "HEADER", "X-Mailcanary-Probe",
                                        f'"{remove_probe}"')
                uids = b",".join(data[0].split()).decode()
                if uids:
                    self.imap.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
                    self.imap.uid("EXPUNGE", uids)
            self.imap.logout()
        except Exception as e:
            log(f"reference: cleanup: {e}")


def run_peer(n, user, password, ca, results):
    """check_email_delivery, n times one after the other, each a fresh process tree as Nagios
    runs it: SMTP submission 587 with STARTTLS + AUTH, IMAPS 993, 1 s poll interval. Cost per
    check = rusage of the whole tree (the plugin and the two plugins it runs), from wait4."""
    env = dict(os.environ, SSL_CERT_FILE=str(ca))  # IO::Socket::SSL's CA for the private CA
    cmd = [str(PLUGINS / "check_email_delivery"), "-H", "127.0.0.1", "--mailto", user,
           "--mailfrom", user, "--username", user, "--password", password, "--smtptls",
           "--smtp-port", "587", "--imapssl", "--imap-check-interval", "1",
           "--libexec", str(PLUGINS), "--hires", "-w", "30", "-c", "60"]
    results["command"] = " ".join(c if c != password else "<password>" for c in cmd)
    for _ in range(n):
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env)
        output = b""
        while True:
            chunk = p.stdout.read(4096)
            if not chunk:
                break
            output += chunk
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        text = output.decode(errors="replace").strip()
        m = re.search(r"([\d.]+) delay", text)
        results["checks"].append({
            "rc": p.returncode, "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss,
            "wall_s": time.monotonic() - t0, "reported_delay_s": float(m.group(1)) if m else None,
            "output": text[:300]})


FLOOR_MODES = (  # (key, label in the report, flags): bench/floor/main.rs
    ("pipelined_blocking", "pipelined, blocking sockets", []),
    ("lockstep_blocking", "the agent's round trips, blocking sockets", ["--lockstep"]),
    ("lockstep_tokio", "the agent's round trips, tokio", ["--lockstep", "--io", "tokio"]),
)


def run_floor(n, user, password_file, ca):
    """bench/floor on the cost mailbox with as many instances as the cost agent, once the agents
    are stopped, in each of FLOOR_MODES: the least CPU a client keeping every phase of a cycle
    spends on this stack, pipelined or with the agent's round trips, on blocking sockets or on
    tokio. Each run's own getrusage, so only its threads count."""
    seconds = env_int("BENCH_FLOOR_SECONDS", 40)
    out = {}
    for key, label, flags in FLOOR_MODES:
        try:
            p = subprocess.run([str(FLOOR), "--ca", str(ca), "--user", user, "--password-file",
                                str(password_file), "--instances", str(n), "--seconds",
                                str(seconds), *flags], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=seconds + 120)
        except (OSError, subprocess.TimeoutExpired) as e:
            out[key] = {"label": label, "error": str(e)}
            continue
        if p.returncode != 0 or not p.stdout.strip():
            out[key] = {"label": label, "error": (p.stderr or p.stdout)[-500:]}
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        cpu = r["user_s"] + r["sys_s"]
        r.update(label=label, instances=n, seconds=seconds, flags=" ".join(flags), cpu_s=cpu,
                 cpu_per_1000=cpu / r["cycles"] * 1000 if r["cycles"] else None,
                 errors=p.stderr[-500:])
        log(f"floor {key}:", json.dumps(r))
        out[key] = r
    return out


def phase_stack(out):
    work = Path(tempfile.mkdtemp(prefix="mailcanary-bench-stack."))
    ca = STACK / "tls/ca.crt"
    secret = lambda u: STACK / f"secrets/{u}.password"
    ref_user, cost_user = "judy@example.test", "ivan@example.test"
    seconds = env_int("BENCH_STACK_SECONDS", 240)
    peer_n = env_int("BENCH_PEER_CHECKS", 30)
    cost_n = env_int("BENCH_STACK_COST_INSTANCES", 4)
    maildir = STACK / "mail/judy/Maildir"
    (maildir / "new").exists() or sys.exit(f"{maildir}/new missing: is the stack up?")
    # Agent A: the fidelity instance, alone on judy, IDLE (ios_mail).
    cfg_a, port_a = write_agent(work / "fidelity", [dict(
        name="stack-fidelity", user=ref_user, password_file=secret("judy"), clients=["ios_mail"],
        interval="2s", jitter="200ms", extra="cleanup = false")], ca)
    # Agent B: the cost instances on ivan, back to back.
    cfg_b, port_b = write_agent(work / "cost", [dict(
        name=f"stack-cost-{i}", user=cost_user, password_file=secret("ivan"),
        clients=["ios_mail"], interval="500ms", jitter="50ms") for i in range(cost_n)], ca)
    watcher = Inotify(maildir / "new")
    ref = Reference(ref_user, secret("judy").read_text().strip(), ca)
    agents = []
    peer = {"checks": [], "n": peer_n}
    try:
        a = Agent(cfg_a, port_a, "fidelity")
        agents.append(a)
        b = Agent(cfg_b, port_b, "cost")
        agents.append(b)
        log(f"stack: fidelity agent on judy (1 IDLE instance, 2 s), cost agent on ivan "
            f"({cost_n} IDLE instances back to back), {peer_n} check_email_delivery runs on ivan")
        time.sleep(10)
        peer_thread = threading.Thread(
            target=run_peer, args=(peer_n, cost_user, secret("ivan").read_text().strip(), ca,
                                   peer), daemon=True)
        s_a0 = sample(a.pid)
        c_a0 = a.counters()
        peer_thread.start()
        with Perf(b.pid, "stack-cost"):
            m = measure_window(b, seconds)
        s_a1, c_a1 = sample(a.pid), a.counters()
        peer_thread.join()
        b_fail = b.failure_reasons()
        a_fail = a.failure_reasons()
        for x in agents:
            x.stop()
        time.sleep(1)
        rows = a.ledger()
    finally:
        for x in agents:
            x.stop()
        ref.stop(remove_probe="stack-fidelity/")
        watcher.stopped = True
    floor = run_floor(cost_n, cost_user, secret("ivan"), ca)
    # Maildir ground truth: first appearance of each canary's file.
    seen_file = {}
    for t, _name, cid in watcher.events:
        if cid and cid not in seen_file:
            seen_file[cid] = t
    pushes = sorted(ref.pushes)
    per = []
    rows = sorted((r for r in rows if r["accepted_at"]), key=lambda r: r["accepted_at"])
    for i, r in enumerate(rows):
        if r["delay_s"] is None:
            continue
        acc = r["accepted_at"]
        nxt = rows[i + 1]["accepted_at"] if i + 1 < len(rows) else acc + 30
        push = next((p for p in pushes if acc <= p < nxt), None)
        f = seen_file.get(r["id"])
        per.append({"agent": r["delay_s"], "ref": None if push is None else push - acc,
                    "maildir": None if f is None else f - acc})
    def col(k):
        return [x[k] * 1000 for x in per if x[k] is not None]
    def diff(a_, b_):
        return [(x[a_] - x[b_]) * 1000 for x in per if x[a_] is not None and x[b_] is not None]
    checks = peer["checks"]
    ok = [c for c in checks if c["rc"] == 0]
    res = {
        "work": str(work),
        "fidelity": {"canaries": len(rows), "compared": len(per), "pushes": len(pushes),
                     "maildir_events": len(watcher.events), "maildir_ids": len(seen_file),
                     "agent_ms": summary(col("agent")), "ref_ms": summary(col("ref")),
                     "maildir_ms": summary(col("maildir")),
                     "agent_minus_ref_ms": summary(diff("agent", "ref")),
                     "agent_minus_maildir_ms": summary(diff("agent", "maildir")),
                     "ref_minus_maildir_ms": summary(diff("ref", "maildir")),
                     "failures": a_fail},
        "per_canary_s": per,
        "agent_cost": dict(m, instances=cost_n, failure_reasons=b_fail),
        "floor": floor,
        "agent_fidelity_cost": {
            "cycles": c_a1["cycles"] - c_a0["cycles"], "cpu_s": s_a1["cpu"] - s_a0["cpu"],
            "hwm_kib": s_a1["hwm_kib"]},
        "peer": {
            "command": peer.get("command"), "n": len(checks), "ok": len(ok),
            "cpu_s_total": sum(c["cpu_s"] for c in checks),
            "cpu_per_1000": (sum(c["cpu_s"] for c in checks) / len(checks) * 1000
                             if checks else None),
            "maxrss_kib_median": statistics.median([c["maxrss_kib"] for c in checks])
            if checks else None,
            "wall_s": summary([c["wall_s"] for c in checks]),
            "reported_delay_s": summary([c["reported_delay_s"] for c in ok
                                         if c["reported_delay_s"] is not None]),
            "failed_outputs": [c["output"] for c in checks if c["rc"] != 0][:3]},
    }
    Path(out).write_text(json.dumps(res, indent=1))
    log("stack:", json.dumps(res)[:3000])
