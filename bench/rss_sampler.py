#!/usr/bin/env python3
"""Sample the resident set size of a process tree once a second (issue 10: RSS per worker).

Writes one JSON line per sample: {"t": unix time, "rss_kb": {pid: VmRSS kB, ...}, "uss_kb":
{pid: kB, ...}} for the root PID and every live descendant (the server's master and its
workers), until the root exits or this process gets SIGTERM. USS is the memory only that
process holds (Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup): RSS also counts the
pages of shared libraries and of the master that every process maps, once per process.
bench/report.py keeps, per scenario, the largest of each that a process reached while the
scenario ran (load_ext.py stores each scenario's start and end time).

    python3 bench/rss_sampler.py --pid <server pid> --out results/<backend>-rss.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                data = fh.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def uss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            total = None
            for line in fh:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total = (total or 0) + int(line.split()[1])
            return total
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args(argv)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with open(a.out, "a") as fh:
        while not stop and os.path.exists(f"/proc/{a.pid}"):
            pids = tree(a.pid)
            sample = {str(p): r for p in pids if (r := rss_kb(p)) is not None}
            private = {str(p): u for p in pids if (u := uss_kb(p)) is not None}
            fh.write(json.dumps({"t": round(time.time(), 2), "root": a.pid,
                                 "rss_kb": sample, "uss_kb": private}) + "\n")
            fh.flush()
            time.sleep(a.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
