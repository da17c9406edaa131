#!/usr/bin/env python3
"""mailcanary benchmark phases (driven by bench/run.sh; standard library only).

    bench.py fidelity OUT.json   embedded server: agent delivery time minus the server's true
                                 visibility delay, per canary (IDLE and polling profiles)
    bench.py cost OUT.json       embedded server: agent CPU-seconds and peak RSS per 1,000 cycles
    bench.py stack OUT.json      Postfix + Dovecot (hold the stack lock SHARED around this):
                                 agent vs a reference IDLE client vs Maildir ground truth on the
                                 same canaries; agent cost; check_email_delivery cost
    bench.py scale OUT.json      1,000 (then 10,000) IDLE probe instances at a 60 s interval;
                                 idle agent with 10 probes
    bench.py shards OUT.json     10,000 IDLE mailboxes over n shard agents (--shard i/n):
                                 cost per agent and in total, scrape time per agent
    bench.py report DIR --command CMD [--append RESULTS.md]
                                 one table from the phases' JSON files

Every cost figure is read from /proc for the measured process only: CPU = utime + stime
(/proc/PID/stat), peak RSS = VmHWM, fds = entries of /proc/PID/fd. Wall time is never a cost.
The embedded server always runs in a process of its own (target/release/examples/bench).
Modules: common.py (processes, /proc, perf), phases.py (embedded server), stack.py (Postfix +
Dovecot and the peer), report.py (the table).
"""

import argparse

from phases import phase_cost, phase_fidelity, phase_scale
from report import report
from shards import phase_shards
from stack import phase_stack


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["fidelity", "cost", "stack", "scale", "shards", "report"])
    ap.add_argument("path")
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--append")
    a = ap.parse_args()
    if a.phase == "report":
        report(a.path, a.command, a.append)
    else:
        {"fidelity": phase_fidelity, "cost": phase_cost, "stack": phase_stack,
         "scale": phase_scale, "shards": phase_shards}[a.phase](a.path)


if __name__ == "__main__":
    main()
