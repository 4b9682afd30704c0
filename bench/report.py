#!/usr/bin/env python3
"""Combine peer-bench results (load.py and wrk_bench.py JSON) into one markdown table.

Standard library only. Usage:

    python3 bench/report.py bench/results/<timestamp>            # every *.json in the folder
    python3 bench/report.py sqlite-py.json peer-py.json peer-wrk.json --out table.md

The backend of a file is read from its name: ``<backend>-py[-...].json`` (load.py) or
``<backend>-wrk[-...].json`` (wrk_bench.py), e.g. ``sqlite-py.json`` or the peer script's own
``peer-py-20261125T154842Z.json``. When a folder holds several files for the same backend and
tool, their rows are put together (run_bench.sh's interleaved order writes one file per
scenario); a scenario in two of them is taken from the later name. The reference for the
ratio column is the backend named ``peer`` (``--peer`` changes it): ratio = our server CPU ms
per operation / the peer's, same scenario and same load generator. Lower is better; 1.00 means
as cheap as the peer. A second reference, ``peer-redis`` (the same peer with a Redis adapter,
``--peer2`` changes it), gets its own column ours/peer-redis.

Issue 10 additions, read from the same folder when present:

- ``argon2-bare.json`` (bench/argon2_bare.py): the line "authcode / bare hash" per backend, the
  authcode server CPU ms/op divided by the CPU ms of one bare argon2id hash of the same run;
- ``<backend>-rss.jsonl`` (bench/rss_sampler.py; the peers' too): the largest RSS and private
  memory (USS) of each server process while each scenario ran (scenario times from
  load_ext.py's t_start_unix/t_end_unix), as a table of max RSS per worker;
- ``run1/``, ``run2/``, ... (RUNS=N): one table per run, then a MEDIAN table: the median over
  the runs of each backend x scenario (req/s, latencies, server CPU ms/op), ratios computed
  from the medians.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

SCENARIO_ORDER = ["discovery", "jwks", "cc", "refresh", "userinfo", "introspect", "authcode"]
BACKEND_ORDER = ["sqlite", "postgres", "peer", "peer-redis"]
NOT_RESULTS = {"argon2-bare.json"}
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
    t0: float | None = None
    t1: float | None = None


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
                t0=_num(res.get("t_start_unix")),
                t1=_num(res.get("t_end_unix")),
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
    """Rows of every results file, the load.py params per backend, and warnings.

    A backend's scenarios may come in several files (run_bench.sh's interleaved order writes
    one per scenario: ``sqlite-py-userinfo.json``); their rows are put together. A scenario
    found in two files of the same backend and tool is taken from the later name."""
    files: dict[tuple[str, str], list[Path]] = {}
    warnings: list[str] = []
    for raw in paths:
        p = Path(raw)
        candidates = sorted(p.glob("*.json")) if p.is_dir() else [p]
        for f in candidates:
            if f.name in NOT_RESULTS:
                continue
            m = NAME_RE.match(f.name)
            if not m:
                warnings.append(f"ignored {f} (name is not <backend>-py|wrk[-...].json)")
                continue
            files.setdefault((m["backend"], m["tool"]), []).append(f)
    found: dict[tuple[str, str, str], tuple[Row, Path]] = {}
    params: dict[str, dict] = {}
    for (backend, tool), group in sorted(files.items()):
        for f in sorted(group, key=lambda x: x.name):
            try:
                data = json.loads(f.read_text())
            except (OSError, ValueError) as exc:
                warnings.append(f"cannot read {f}: {exc}")
                continue
            if tool == "wrk" or any(r.get("tool") == "wrk" for r in data.get("results", [])):
                new_rows = rows_from_wrk(backend, data)
            else:
                new_rows = rows_from_load(backend, data)
                params[backend] = dict(data.get("params") or {}, env=data.get("env") or {})
            for row in new_rows:
                key = (row.backend, row.tool, row.scenario)
                if key in found and not row.note.startswith("skipped"):
                    if not found[key][0].note.startswith("skipped"):
                        warnings.append(f"{backend} {row.tool} {row.scenario}: using {f.name}, "
                                        f"ignoring {found[key][1].name}")
                elif key in found:
                    continue  # a later file that skipped it does not hide a measurement
                found[key] = (row, f)
    return [row for row, _ in found.values()], params, warnings


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


# ---------------------------------------------------------------------------------------------
# issue 10 extras: bare argon2 hash, RSS per worker, several runs


def bare_hash_ms(folder: Path) -> float | None:
    """CPU ms of one bare argon2id hash (bench/argon2_bare.py) in this run, if measured."""
    try:
        data = json.loads((folder / "argon2-bare.json").read_text())
    except (OSError, ValueError):
        return None
    return _num(data.get("hash_cpu_ms"))


@dataclass
class Rss:
    backend: str
    scenario: str
    workers: int
    worker_max_mb: float
    master_mb: float | None
    worker_uss_mb: float | None = None  # memory only the worker holds (no shared pages)


def rss_rows(folder: Path, rows: list[Row]) -> list[Rss]:
    """Per backend x scenario: the largest VmRSS each server process reached during it."""
    out: list[Rss] = []
    for f in sorted(folder.glob("*-rss.jsonl")):
        backend = f.name[: -len("-rss.jsonl")]
        samples = []
        for line in f.read_text().splitlines():
            try:
                samples.append(json.loads(line))
            except ValueError:
                continue
        for r in rows:
            if r.backend != backend or r.tool != "load.py" or r.t0 is None or r.t1 is None:
                continue
            peak: dict[str, int] = {}
            private: dict[str, int] = {}
            root = None
            for smp in samples:
                if r.t0 - 0.5 <= smp.get("t", 0) <= r.t1 + 0.5:
                    root = str(smp.get("root"))
                    for pid, kb in (smp.get("rss_kb") or {}).items():
                        peak[pid] = max(peak.get(pid, 0), int(kb))
                    for pid, kb in (smp.get("uss_kb") or {}).items():
                        private[pid] = max(private.get(pid, 0), int(kb))
            if not peak:
                continue
            # A server of one process (the peer) is its own worker.
            workers = {pid: kb for pid, kb in peak.items() if pid != root} or peak
            uss = [private[pid] for pid in workers if pid in private]
            out.append(Rss(backend, r.scenario, len(workers), max(workers.values()) / 1024,
                           peak[root] / 1024 if root in peak and len(peak) > 1 else None,
                           max(uss) / 1024 if uss else None))
    return out


def median_rows(runs: list[list[Row]]) -> list[Row]:
    """One row per backend x tool x scenario: medians over the runs that have it."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for rows in runs:
        for r in rows:
            groups.setdefault((r.backend, r.tool, r.scenario), []).append(r)

    def med(values: list[float | None]) -> float | None:
        vals = [v for v in values if v is not None]
        return statistics.median(vals) if vals else None

    out = []
    for (backend, tool, scenario), rs in groups.items():
        measured = [r for r in rs if not r.note.startswith("skipped:")]
        if not measured:
            out.append(rs[0])
            continue
        errors: dict[str, int] = {}
        for r in measured:
            for k, v in r.errors.items():
                errors[k] = errors.get(k, 0) + v
        notes = sorted({r.note for r in measured if r.note})
        out.append(Row(
            backend=backend, tool=tool, scenario=scenario,
            rps=med([r.rps for r in measured]), p50=med([r.p50 for r in measured]),
            p99=med([r.p99 for r in measured]),
            cpu_ms=med([r.cpu_ms if r.ok else None for r in measured]),
            ok=sum(r.ok or 0 for r in measured), errors=errors,
            note="; ".join(notes) + (f" ({len(measured)} runs)" if notes else ""),
        ))
    return out


# ---------------------------------------------------------------------------------------------


def render_table(
    rows: list[Row],
    peer: str,
    peer2: str,
    bare_ms: float | None = None,
    rss: list[Rss] | None = None,
    title: str = "",
    bare_where: str = "same run",
) -> tuple[list[str], list[str]]:
    """The markdown of one set of rows: (lines, notes)."""
    out: list[str] = []
    if title:
        out.append(title)
        out.append("")
    backends_present = {r.backend for r in rows}
    has2 = peer2 in backends_present
    header = ["backend", "scenario", "tool", "req/s", "p50 ms", "p99 ms", "srv CPU ms/op",
              "ours/peer"] + ([f"ours/{peer2}"] if has2 else []) + ["errors"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---", "---", "---"] + ["--:"] * (len(header) - 4) + ["---"])
               + "|")

    def refs_of(name: str) -> dict[tuple[str, str], Row]:
        return {(r.tool, r.scenario): r for r in rows
                if r.backend == name and r.note[:8] != "skipped:"}

    refs, refs2 = refs_of(peer), refs_of(peer2)
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
            cells = [r.backend, r.scenario, r.tool, "–", "–", "–", "–", "–"]
            cells += ["–"] if has2 else []
            cells.append(r.note)
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
            ]
            if has2:
                cells.append(ratio(r, refs2.get((r.tool, r.scenario))))
            cells.append(errs)
            if r.note:
                notes.append(f"- {r.backend} {r.scenario} ({r.tool}): {r.note}")
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")

    # compact pivot: server CPU ms/op per scenario, ours with the ratio(s) to the peer(s)
    backends = sorted(backends_present, key=lambda b: _order(BACKEND_ORDER, b))
    ours = [b for b in backends if b not in (peer, peer2)]
    keys = sorted(
        {(r.tool, r.scenario) for r in rows if not r.note.startswith("skipped:")},
        key=lambda k: (_order(TOOL_ORDER, k[0]), _order(SCENARIO_ORDER, k[1])),
    )
    if ours and keys:
        by_key = {(r.backend, r.tool, r.scenario): r for r in rows}
        out.append("")
        if has2:
            out.append(f"Server CPU ms per operation (ours/{peer}, ours/{peer2} in parentheses):")
        else:
            out.append("Server CPU ms per operation (ours/peer in parentheses):")
        out.append("")
        cols = ["scenario"] + [b for b in (peer, peer2) if b in backends] + ours
        out.append("| " + " | ".join(cols) + " |")
        out.append("|---" + "|--:" * (len(cols) - 1) + "|")
        for tool, scenario in keys:
            label = scenario if tool == "load.py" else f"{scenario} (wrk)"
            ref, ref2 = refs.get((tool, scenario)), refs2.get((tool, scenario))
            cells = [label]
            if peer in backends:
                cells.append(fmt_cpu(ref.cpu_ms if ref else None))
            if has2:
                cells.append(fmt_cpu(ref2.cpu_ms if ref2 else None))
            for b in ours:
                r = by_key.get((b, tool, scenario))
                if r is not None and r.ok == 0:
                    cells.append("FAILED")
                elif r is None or r.cpu_ms is None:
                    cells.append("–")
                else:
                    rr = [x for x in (ratio(r, ref), ratio(r, ref2) if has2 else "–") if x != "–"]
                    cells.append(fmt_cpu(r.cpu_ms) + (f" ({', '.join(rr)})" if rr else ""))
            out.append("| " + " | ".join(cells) + " |")

    if bare_ms:
        out.append("")
        out.append(f"Bare argon2id hash (bench/argon2_bare.py, {bare_where}): "
                   f"{bare_ms:.1f} CPU ms. "
                   "Issue 10 target for our backends: authcode / bare hash <= 1.15.")
        if any(r.scenario == "authcode" for r in rows):
            out.append("")
        for b in backends:
            r = next((x for x in rows if x.backend == b and x.tool == "load.py"
                      and x.scenario == "authcode" and x.cpu_ms and x.ok), None)
            if r is not None and r.cpu_ms is not None:
                out.append(f"- {b}: authcode / bare hash = {r.cpu_ms / bare_ms:.2f}")

    if rss:
        out.append("")
        out.append("Max RSS per server worker while each scenario ran (MB; sampled every second; "
                   "issue 10 target <= 100 MB per worker):")
        out.append("")
        rss_backends = sorted({x.backend for x in rss}, key=lambda b: _order(BACKEND_ORDER, b))
        cols = ["scenario"] + [f"{b} (workers, master)" for b in rss_backends]
        out.append("| " + " | ".join(cols) + " |")
        out.append("|---" + "|--:" * (len(cols) - 1) + "|")
        by = {(x.backend, x.scenario): x for x in rss}
        for scenario in sorted({x.scenario for x in rss},
                               key=lambda sc: _order(SCENARIO_ORDER, sc)):
            cells = [scenario]
            for b in rss_backends:
                x = by.get((b, scenario))
                if x is None:
                    cells.append("–")
                else:
                    master = f", master {x.master_mb:.0f}" if x.master_mb is not None else ""
                    private = f"private {x.worker_uss_mb:.0f}; " \
                        if x.worker_uss_mb is not None else ""
                    plural = "s" if x.workers != 1 else ""
                    cells.append(f"{x.worker_max_mb:.0f} ({private}{x.workers} "
                                 f"worker{plural}{master})")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out.append("(private: the largest memory a worker held by itself, without the pages of "
                   "shared libraries and of the master that RSS counts in every process.)")
    return out, notes


def render(
    rows: list[Row],
    params: dict[str, dict],
    warnings: list[str],
    peer: str,
    env_lines: list[str],
    failures: list[str],
    peer2: str = "peer-redis",
    bare_ms: float | None = None,
    rss: list[Rss] | None = None,
    runs: list[tuple[list[Row], float | None, list[Rss]]] | None = None,
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
    if runs:
        bits.append(f"{len(runs)} runs")
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
        f"(lower is better); `ours/{peer2}`: the same against the peer with a Redis adapter "
        "(its Redis server's CPU is not counted, as PostgreSQL's and Redis's are not for ours). "
        "`authcode` is a whole login + code flow (one argon2id hash); `introspect` is one "
        "RFC 7662 introspection of an access token."
    )
    out.append("")
    notes: list[str] = []
    if runs:
        for i, (run_rows, run_bare, run_rss) in enumerate(runs, 1):
            lines, run_notes = render_table(run_rows, peer, peer2, run_bare, run_rss,
                                            title=f"### Run {i}")
            out.extend(lines)
            out.append("")
            notes += [f"{n} [run {i}]" for n in run_notes]
        bares = [b for _, b, _ in runs if b]
        all_rss: dict[tuple[str, str], Rss] = {}
        for _, _, run_rss in runs:
            for x in run_rss:
                cur = all_rss.get((x.backend, x.scenario))
                if cur is None or x.worker_max_mb > cur.worker_max_mb:
                    all_rss[(x.backend, x.scenario)] = x
        lines, _ = render_table(
            median_rows([r for r, _, _ in runs]), peer, peer2,
            statistics.median(bares) if bares else None, list(all_rss.values()),
            title=f"### MEDIAN of {len(runs)} runs (per backend x scenario; ratios from the "
                  "medians; bare hash: median; RSS: max over the runs)",
            bare_where="median of the runs",
        )
        out.extend(lines)
    else:
        lines, notes = render_table(rows, peer, peer2, bare_ms, rss)
        out.extend(lines)

    if notes or warnings or failures:
        out.append("")
        out.extend(notes)
        out.extend(f"- failed: {f}" for f in failures)
        out.extend(f"- note: {w}" for w in warnings)
    out.append("")
    return "\n".join(out)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("paths", nargs="+", help="results folders and/or JSON files")
    ap.add_argument("--peer", default="peer", help="backend used as the reference (default: peer)")
    ap.add_argument("--peer2", default="peer-redis",
                    help="second reference backend, own ratio column (default: peer-redis)")
    ap.add_argument("--out", help="also write the markdown to this file")
    a = ap.parse_args(argv)

    env_lines: list[str] = []
    failures: list[str] = []
    folders = [Path(raw) for raw in a.paths if Path(raw).is_dir()]
    for p in folders:
        env_lines += _lines(p / "env.txt")
        failures += _lines(p / "failures.txt")

    # RUNS=N: one folder holding run1/, run2/, ...
    run_dirs: list[Path] = []
    if len(a.paths) == 1 and folders:
        run_dirs = sorted((d for d in folders[0].glob("run*") if d.is_dir()
                           and d.name[3:].isdigit()), key=lambda d: int(d.name[3:]))
    if run_dirs:
        runs = []
        rows, params, warnings = [], {}, []
        for d in run_dirs:
            r_rows, r_params, r_warn = collect([str(d)])
            runs.append((r_rows, bare_hash_ms(d), rss_rows(d, r_rows)))
            rows += r_rows
            params.update(r_params)
            warnings += [f"{d.name}: {w}" for w in r_warn]
        if not rows:
            print("no results found in " + ", ".join(str(d) for d in run_dirs), file=sys.stderr)
            return 1
        text = render(rows, params, warnings, a.peer, env_lines, failures, a.peer2, runs=runs)
    else:
        rows, params, warnings = collect(a.paths)
        if not rows:
            print("no results found in " + ", ".join(a.paths), file=sys.stderr)
            for w in warnings:
                print("  " + w, file=sys.stderr)
            return 1
        bare = next((b for p in folders if (b := bare_hash_ms(p))), None)
        rss = [x for p in folders for x in rss_rows(p, rows)]
        text = render(rows, params, warnings, a.peer, env_lines, failures, a.peer2, bare, rss)
    profiles = sorted(str(f.relative_to(p)) for p in folders for f in p.glob("**/*-top.txt"))
    if profiles:
        text += "\npy-spy top frames (PROFILE=1): " + ", ".join(profiles) + "\n"
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
