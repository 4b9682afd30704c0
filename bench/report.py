#!/usr/bin/env python3
"""Combine peer-bench results (load.py and wrk_bench.py JSON) into one markdown table.

Standard library only. Usage:

    python3 bench/report.py bench/results/<timestamp>            # every *.json in the folder
    python3 bench/report.py sqlite-py.json peer-py.json peer-wrk.json --out table.md

The backend of a file is read from its name: ``<backend>-py[-...].json`` (load.py) or
``<backend>-wrk[-...].json`` (wrk_bench.py), e.g. ``sqlite-py.json`` or the peer script's own
``peer-py-20261125T154842Z.json``. When a folder holds several files for the same backend and
tool, the newest name wins. The reference for the ratio column is the backend named ``peer``
(``--peer`` changes it): ratio = our server CPU ms per operation / the peer's, same scenario and
same load generator. Lower is better; 1.00 means as cheap as the peer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

SCENARIO_ORDER = ["discovery", "jwks", "cc", "refresh", "userinfo", "authcode"]
BACKEND_ORDER = ["sqlite", "postgres", "peer"]
TOOL_ORDER = ["load.py", "wrk"]
NAME_RE = re.compile(r"^(?P<backend>.+?)-(?P<tool>py|wrk)(?:-.*)?\.json$")


@dataclass
class Row:
    backend: str
    tool: str
    scenario: str
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    cpu_ms: float | None = None
    ok: int | None = None
    errors: dict[str, int] = field(default_factory=dict)
    note: str = ""


def _num(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def rows_from_load(backend: str, data: dict) -> list[Row]:
    rows = []
    for res in data.get("results", []):
        lat = res.get("lat_ms") or {}
        note = ""
        if res.get("setup_errors"):
            note = "setup: " + "; ".join(str(e) for e in res["setup_errors"])[:120]
        if res.get("max_ops_hit"):
            note = (note + "; " if note else "") + "max-ops cap hit"
        rows.append(
            Row(
                backend=backend,
                tool="load.py",
                scenario=res.get("scenario", "?"),
                rps=_num(res.get("ops_per_s")),
                p50=_num(lat.get("p50")),
                p99=_num(lat.get("p99")),
                cpu_ms=_num(res.get("server_cpu_ms_per_op")),
                ok=res.get("ok"),
                errors=dict(res.get("errors") or {}),
                note=note,
            )
        )
    for scenario, why in (data.get("skipped") or {}).items():
        rows.append(Row(backend=backend, tool="load.py", scenario=scenario, note=f"skipped: {why}"))
    return rows


def rows_from_wrk(backend: str, data: dict) -> list[Row]:
    rows = []
    for res in data.get("results", []):
        errors = {
            k[4:]: int(res[k])
            for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")
            if res.get(k)
        }
        requests = int(res.get("requests") or 0)
        rows.append(
            Row(
                backend=backend,
                tool="wrk",
                scenario=res.get("scenario", "?"),
                rps=_num(res.get("ok_rps")),
                p50=_num(res.get("p50_ms")),
                p99=_num(res.get("p99_ms")),
                cpu_ms=_num(res.get("server_cpu_ms_per_op")),
                ok=requests - sum(errors.values()),
                errors=errors,
            )
        )
    return rows


def collect(paths: list[str]) -> tuple[list[Row], dict[str, dict], list[str]]:
    """Rows of every results file, the load.py params per backend, and warnings."""
    files: dict[tuple[str, str], Path] = {}
    warnings: list[str] = []
    for raw in paths:
        p = Path(raw)
        candidates = sorted(p.glob("*.json")) if p.is_dir() else [p]
        for f in candidates:
            m = NAME_RE.match(f.name)
            if not m:
                warnings.append(f"ignored {f} (name is not <backend>-py|wrk[-...].json)")
                continue
            key = (m["backend"], m["tool"])
            if key in files:
                older, newer = sorted([files[key], f], key=lambda x: x.name)
                warnings.append(f"{key[0]} {key[1]}: using {newer.name}, ignoring {older.name}")
                files[key] = newer
            else:
                files[key] = f
    rows: list[Row] = []
    params: dict[str, dict] = {}
    for (backend, tool), f in sorted(files.items()):
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            warnings.append(f"cannot read {f}: {exc}")
            continue
        if tool == "wrk" or any(r.get("tool") == "wrk" for r in data.get("results", [])):
            rows.extend(rows_from_wrk(backend, data))
        else:
            rows.extend(rows_from_load(backend, data))
            params[backend] = dict(data.get("params") or {}, env=data.get("env") or {})
    return rows, params, warnings


def _order(seq: list[str], value: str) -> tuple[int, str]:
    return (seq.index(value) if value in seq else len(seq), value)


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_cpu(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def fmt_errors(row: Row) -> str:
    n = sum(row.errors.values())
    if not n:
        return "0"
    top = sorted(row.errors.items(), key=lambda kv: -kv[1])[:2]
    return f"{n} (" + ", ".join(f"{k}: {v}" for k, v in top) + ")"


def ratio(row: Row, ref: Row | None) -> str:
    if ref is None or row.cpu_ms is None or not ref.cpu_ms:
        return "–"
    if row is ref:
        return "1.00 (ref)"
    return f"{row.cpu_ms / ref.cpu_ms:.2f}"


def render(
    rows: list[Row],
    params: dict[str, dict],
    warnings: list[str],
    peer: str,
    env_lines: list[str],
    failures: list[str],
) -> str:
    out: list[str] = []
    out.append("## Benchmark: kotra-idp vs node-oidc-provider")
    out.append("")
    any_params = next(iter(params.values()), {})
    env = any_params.get("env", {})
    bits = []
    if any_params:
        bits.append(f"concurrency {any_params.get('concurrency')}")
        duration, warmup = any_params.get("duration_s"), any_params.get("warmup_s")
        bits.append(f"{duration} s per scenario after {warmup} s warm-up")
    if env.get("nproc"):
        bits.append(f"{env['nproc']} CPUs")
    out.append("Settings: " + (", ".join(bits) if bits else "unknown") + ".")
    distinct = {(p.get("concurrency"), p.get("duration_s")) for p in params.values()}
    if len(distinct) > 1:
        seen = sorted(distinct, key=str)
        out.append(f"**Warning: backends ran with different concurrency/duration: {seen}**")
    for line in env_lines:
        out.append(f"`{line}`  ")
    out.append("")
    out.append(
        "`srv CPU ms/op`: CPU time of the server process tree per successful operation "
        "(compare this; req/s depends on the load generator sharing the cores). "
        f"`ours/peer`: srv CPU ms/op divided by the `{peer}` row of the same scenario and tool "
        "(lower is better). `authcode` is a whole login + code flow (one argon2id hash)."
    )
    out.append("")
    header = [
        "backend",
        "scenario",
        "tool",
        "req/s",
        "p50 ms",
        "p99 ms",
        "srv CPU ms/op",
        "ours/peer",
        "errors",
    ]
    out.append("| " + " | ".join(header) + " |")
    out.append(
        "|" + "|".join(["---", "---", "---", "--:", "--:", "--:", "--:", "--:", "---"]) + "|"
    )

    refs = {(r.tool, r.scenario): r for r in rows if r.backend == peer and r.note[:8] != "skipped:"}
    rows = sorted(
        rows,
        key=lambda r: (
            _order(TOOL_ORDER, r.tool),
            _order(SCENARIO_ORDER, r.scenario),
            _order(BACKEND_ORDER, r.backend),
        ),
    )
    notes = []
    for r in rows:
        if r.note.startswith("skipped:"):
            cells = [r.backend, r.scenario, r.tool, "–", "–", "–", "–", "–", r.note]
        else:
            errs = fmt_errors(r)
            if r.ok == 0:
                errs = "**no successful op** " + errs
            cells = [
                r.backend,
                r.scenario,
                r.tool,
                fmt(r.rps),
                fmt(r.p50, 2),
                fmt(r.p99, 2),
                fmt_cpu(r.cpu_ms),
                ratio(r, refs.get((r.tool, r.scenario))),
                errs,
            ]
            if r.note:
                notes.append(f"- {r.backend} {r.scenario} ({r.tool}): {r.note}")
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")

    # compact pivot: server CPU ms/op per scenario, ours with the ratio to the peer
    backends = sorted({r.backend for r in rows}, key=lambda b: _order(BACKEND_ORDER, b))
    ours = [b for b in backends if b != peer]
    keys = sorted(
        {(r.tool, r.scenario) for r in rows if not r.note.startswith("skipped:")},
        key=lambda k: (_order(TOOL_ORDER, k[0]), _order(SCENARIO_ORDER, k[1])),
    )
    if ours and keys:
        by_key = {(r.backend, r.tool, r.scenario): r for r in rows}
        out.append("")
        out.append("Server CPU ms per operation (ours/peer in parentheses):")
        out.append("")
        cols = ["scenario"] + ([peer] if peer in backends else []) + ours
        out.append("| " + " | ".join(cols) + " |")
        out.append("|---" + "|--:" * (len(cols) - 1) + "|")
        for tool, scenario in keys:
            label = scenario if tool == "load.py" else f"{scenario} (wrk)"
            ref = refs.get((tool, scenario))
            cells = [label]
            if peer in backends:
                cells.append(fmt_cpu(ref.cpu_ms if ref else None))
            for b in ours:
                r = by_key.get((b, tool, scenario))
                if r is not None and r.ok == 0:
                    cells.append("FAILED")
                elif r is None or r.cpu_ms is None:
                    cells.append("–")
                else:
                    rr = ratio(r, ref)
                    cells.append(fmt_cpu(r.cpu_ms) + (f" ({rr})" if rr != "–" else ""))
            out.append("| " + " | ".join(cells) + " |")

    if notes or warnings or failures:
        out.append("")
        out.extend(notes)
        out.extend(f"- failed: {f}" for f in failures)
        out.extend(f"- note: {w}" for w in warnings)
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("paths", nargs="+", help="results folders and/or JSON files")
    ap.add_argument("--peer", default="peer", help="backend used as the reference (default: peer)")
    ap.add_argument("--out", help="also write the markdown to this file")
    a = ap.parse_args(argv)

    rows, params, warnings = collect(a.paths)
    env_lines: list[str] = []
    failures: list[str] = []
    for raw in a.paths:
        p = Path(raw)
        if p.is_dir():
            if (p / "env.txt").is_file():
                env_lines += [
                    ln.strip() for ln in (p / "env.txt").read_text().splitlines() if ln.strip()
                ]
            if (p / "failures.txt").is_file():
                failures += [
                    ln.strip() for ln in (p / "failures.txt").read_text().splitlines() if ln.strip()
                ]
    if not rows:
        print("no results found in " + ", ".join(a.paths), file=sys.stderr)
        for w in warnings:
            print("  " + w, file=sys.stderr)
        return 1
    text = render(rows, params, warnings, a.peer, env_lines, failures)
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
