#!/usr/bin/env python3
"""CPU cost of one bare argon2id hash at the provider's parameters (issue 10).

Reads the argon2 parameters the provider would use (config/default.toml, the overlay
config/<IDP_ENV>.toml if any, then IDP_ARGON2_* variables; IDP_ENV unset = production), hashes
a password N times in this one process with argon2-cffi (the provider's library) and prints the
CPU time per hash (time.process_time: this process only, all its threads). The benchmark table
divides each backend's `authcode` server CPU ms/op by this figure: the whole login + code flow
should cost little more than its one password hash (issue 10 target: <= 1.15).

    .venv/bin/python bench/argon2_bare.py -n 20 --json bench/results/<ts>/argon2-bare.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tomllib
from pathlib import Path

from argon2 import PasswordHasher, Type

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("time_cost", "memory_kib", "parallelism", "hash_len", "salt_len")


def provider_params(env_name: str | None = None) -> dict[str, int]:
    env_name = env_name or os.environ.get("IDP_ENV") or "production"
    with open(ROOT / "config" / "default.toml", "rb") as fh:
        params = dict(tomllib.load(fh)["argon2"])
    overlay = ROOT / "config" / f"{env_name}.toml"
    if overlay.exists():
        with open(overlay, "rb") as fh:
            params.update(tomllib.load(fh).get("argon2", {}))
    for key in KEYS:
        raw = os.environ.get(f"IDP_ARGON2_{key.upper()}")
        if raw:
            params[key] = int(raw)
    return {k: int(params[k]) for k in KEYS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="hashes to time (default 20)")
    ap.add_argument("--env", help="IDP_ENV whose overlay to read (default: $IDP_ENV or production)")
    ap.add_argument("--json", help="also write the result as JSON to this path")
    a = ap.parse_args(argv)

    p = provider_params(a.env)
    hasher = PasswordHasher(time_cost=p["time_cost"], memory_cost=p["memory_kib"],
                            parallelism=p["parallelism"], hash_len=p["hash_len"],
                            salt_len=p["salt_len"], type=Type.ID)
    password = "Bench!pass-2026"
    encoded = hasher.hash(password)  # warm-up: first allocation of the memory blocks
    hash_cpu, hash_wall, verify_cpu = [], [], []
    for _ in range(max(a.n, 1)):
        c0, w0 = time.process_time(), time.perf_counter()
        encoded = hasher.hash(password)
        hash_cpu.append((time.process_time() - c0) * 1000)
        hash_wall.append((time.perf_counter() - w0) * 1000)
        c0 = time.process_time()
        hasher.verify(encoded, password)
        verify_cpu.append((time.process_time() - c0) * 1000)
    result = {
        "params": p,
        "n": len(hash_cpu),
        "hash_cpu_ms": round(statistics.fmean(hash_cpu), 2),
        "hash_cpu_ms_median": round(statistics.median(hash_cpu), 2),
        "hash_wall_ms_median": round(statistics.median(hash_wall), 2),
        "verify_cpu_ms": round(statistics.fmean(verify_cpu), 2),
        "loadavg": os.getloadavg()[0],
    }
    print(f"argon2id m={p['memory_kib']} KiB t={p['time_cost']} p={p['parallelism']}: "
          f"{result['hash_cpu_ms']} CPU ms per hash (mean of {result['n']}; median "
          f"{result['hash_cpu_ms_median']}, verify {result['verify_cpu_ms']})")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
