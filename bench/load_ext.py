#!/usr/bin/env python3
"""load.py with extra scenarios, without forking it (issue 10).

Imports the peer-bench ``load.py`` (bench/.work/peer-bench/load.py, or ``--load-py PATH`` /
``$LOAD_PY``) and adds:

  introspect  POST introspection_endpoint (RFC 7662) with the access token of one authorization-
              code flow per client thread (token_type_hint=access_token, client_secret_basic),
              expecting ``"active": true``

Every other argument and scenario is load.py's own; the output (text and JSON) is load.py's,
plus ``t_start_unix`` / ``t_end_unix`` in each scenario's result (bench/report.py matches the RSS
samples of bench/rss_sampler.py to them).

``--profile-dir DIR`` (with ``--server-pid``): py-spy records one worker of the server (the
lowest-numbered leaf process of its tree) during each scenario, set-up and warm-up included,
into ``DIR/<--profile-name>-<scenario>.txt`` (collapsed stacks) and summarises it with
bench/pyspy_top.py into ``...-top.txt``. ``--py-spy PATH`` names the executable.

How: load.py builds its table of operations inside ``main()``, so an extra scenario rides on a
carrier scenario with the same preconditions (``userinfo``: needs a user, a redirect URI and one
authorization-code flow per thread as set-up). ``run_scenario`` is wrapped to swap the carrier's
operation for the extra one and to report it under its own name.

    python bench/load_ext.py --load-py bench/.work/peer-bench/load.py --base-url ... \
        --scenarios cc,introspect ...
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

CARRIER = "userinfo"
DEFAULT_LOAD_PY = Path(__file__).resolve().parent / ".work" / "peer-bench" / "load.py"


def import_load(path: str | Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("load", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["load"] = module
    spec.loader.exec_module(module)
    return module


def make_extras(load: ModuleType) -> dict[str, tuple[Any, Any]]:
    def op_introspect(cfg: Any, client: Any, state: dict) -> None:
        endpoint = cfg.meta.get("introspection_endpoint")
        if not endpoint:
            raise load.HarnessError("no_introspection_endpoint")
        auth = (
            urllib.parse.quote(cfg.client_id, safe=""),
            urllib.parse.quote(cfg.client_secret, safe=""),
        )
        r = client.post(
            endpoint,
            data={"token": state["access_token"], "token_type_hint": "access_token"},
            auth=auth,
        )
        if r.status_code != 200:
            raise load.HarnessError(f"introspect_http_{r.status_code}", r.text[:200])
        if r.json().get("active") is not True:
            raise load.HarnessError("introspect_inactive", r.text[:200])
        return None

    return {"introspect": (op_introspect, load.setup_tokens)}


def _split_args(argv: list[str]) -> tuple[str, list[str]]:
    load_py = os.environ.get("LOAD_PY") or str(DEFAULT_LOAD_PY)
    rest: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--load-py":
            load_py = next(it)
        elif arg.startswith("--load-py="):
            load_py = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return load_py, rest


def _own_options(args: list[str], names: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """Take `--name VALUE` / `--name=VALUE` options of this wrapper out of load.py's argv."""
    found: dict[str, str] = {}
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        key, eq, value = arg.partition("=")
        if key in names:
            found[key] = value if eq else next(it)
        else:
            rest.append(arg)
    return found, rest


def leaf_worker(root: int) -> int | None:
    """The lowest-numbered process without children in root's tree (a server worker)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                data = fh.read()
        except OSError:
            continue
        children.setdefault(int(data[data.rindex(")") + 2:].split()[1]), []).append(int(name))
    leaves, stack = [], [root]
    while stack:
        pid = stack.pop()
        kids = children.get(pid, [])
        if not kids and pid != root:
            leaves.append(pid)
        stack.extend(kids)
    return min(leaves) if leaves else (root if os.path.exists(f"/proc/{root}") else None)


class Profiler:
    def __init__(self, out_dir: str, name: str, py_spy: str, server_pid: int | None) -> None:
        self.out_dir, self.name, self.py_spy, self.server_pid = out_dir, name, py_spy, server_pid
        self.proc: subprocess.Popen[bytes] | None = None
        self.raw = ""

    def start(self, scenario: str, seconds: float) -> None:
        worker = leaf_worker(self.server_pid) if self.server_pid else None
        if worker is None:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        self.raw = os.path.join(self.out_dir, f"{self.name}-{scenario}.txt")
        # py-spy sometimes fails to read the interpreter's version right after attaching
        # (seen on this project's VM): a few attempts before giving up on this scenario
        for _attempt in range(4):
            log = open(self.raw + ".log", "a")  # noqa: SIM115  (closed with the process)
            self.proc = subprocess.Popen(
                [self.py_spy, "record", "--pid", str(worker), "--format", "raw",
                 "--nonblocking", "--duration", str(math.ceil(seconds)), "-o", self.raw],
                stdout=log, stderr=subprocess.STDOUT,
            )
            log.close()
            try:
                self.proc.wait(timeout=1.5)
            except subprocess.TimeoutExpired:
                return  # recording
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if os.path.exists(self.raw):
            top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyspy_top.py")
            subprocess.run([sys.executable, top, self.raw, "--out",
                            self.raw[: -len(".txt")] + "-top.txt"],
                           stdout=subprocess.DEVNULL, check=False)


def main(argv: list[str] | None = None) -> int:
    load_py, args = _split_args(list(sys.argv[1:] if argv is None else argv))
    own, args = _own_options(args, ("--profile-dir", "--profile-name", "--py-spy"))
    load = import_load(load_py)
    extras = make_extras(load)

    # the scenario list as asked, and load.py's view of it (extras replaced by the carrier)
    asked: list[str] = []
    json_path = None
    for i, arg in enumerate(args):
        if arg == "--scenarios" and i + 1 < len(args):
            asked = [s.strip() for s in args[i + 1].split(",") if s.strip()]
            args[i + 1] = ",".join(CARRIER if s in extras else s for s in asked)
        elif arg.startswith("--scenarios="):
            asked = [s.strip() for s in arg.split("=", 1)[1].split(",") if s.strip()]
            args[i] = "--scenarios=" + ",".join(CARRIER if s in extras else s for s in asked)
        elif arg == "--json" and i + 1 < len(args):
            json_path = args[i + 1]
        elif arg.startswith("--json="):
            json_path = arg.split("=", 1)[1]
    if "-h" in args or "--help" in args:
        print(__doc__)
    queue = list(asked)
    profiler = None
    if own.get("--profile-dir"):
        server_pid = None
        for i, arg in enumerate(args):
            if arg == "--server-pid" and i + 1 < len(args):
                server_pid = int(args[i + 1])
            elif arg.startswith("--server-pid="):
                server_pid = int(arg.split("=", 1)[1])
        profiler = Profiler(own["--profile-dir"], own.get("--profile-name", "profile"),
                            own.get("--py-spy", "py-spy"), server_pid)
    ran: list[str] = []
    original_run = load.run_scenario

    def run_scenario(cfg: Any, name: str, op: Any, setup: Any = None,
                     server_pid: int | None = None) -> dict:
        # load.py runs the runnable scenarios in the order asked: find the one this call is
        wanted = name
        while queue:
            candidate = queue.pop(0)
            if (CARRIER if candidate in extras else candidate) == name:
                wanted = candidate
                break
        if wanted in extras:
            op, setup = extras[wanted]
        ran.append(wanted)
        t0 = time.time()
        if profiler is not None:
            profiler.start(wanted, cfg.warmup + cfg.duration + 60)
        try:
            result = original_run(cfg, wanted, op, setup, server_pid)
        finally:
            if profiler is not None:
                profiler.stop()
        result["t_start_unix"] = round(t0, 2)
        result["t_end_unix"] = round(time.time(), 2)
        return dict(result)

    load.run_scenario = run_scenario
    rc = int(load.main(args) or 0)

    # a skipped extra is listed by load.py under the carrier's name: list it under its own
    if json_path and os.path.exists(json_path):
        with open(json_path) as fh:
            data = json.load(fh)
        skipped = data.get("skipped") or {}
        if CARRIER in skipped:
            why = skipped[CARRIER]
            if CARRIER not in asked:
                del skipped[CARRIER]
            for s in asked:
                if s in extras and s not in ran:
                    skipped[s] = why
            with open(json_path, "w") as fh:
                json.dump(data, fh, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
