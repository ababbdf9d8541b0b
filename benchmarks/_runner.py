"""The parent process: warm-up, rounds of fresh child processes, aggregation, the table.

For every round, every workload runs once on every available framework x mode,
each in its own ``python -m benchmarks.run_one`` child; the order of the
frameworks rotates from round to round so no framework always goes first.
Before the rounds, one untimed warm-up child per framework x mode starts and
closes a cluster: it warms the file cache and finds out whether the framework is
installed and can start at all.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ._report import render
from ._spec import FRAMEWORKS, MODE_FRAMEWORKS, MODES, WORKLOAD_NAMES, sizes, workload

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Config:
    framework: str
    mode: str

    def __str__(self) -> str:
        return f"{self.framework}/{self.mode}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="futurelab vs dask.distributed vs Ray, side by side, same machine, same run.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one round, one repeat: a few minutes")
    parser.add_argument("--only", action="append", default=[], metavar="WORKLOAD",
                        help="run only this workload (repeatable, or comma-separated): "
                             + ", ".join(WORKLOAD_NAMES))
    parser.add_argument("--json", metavar="PATH", help="also save the raw results here")
    parser.add_argument("--rounds", type=int, help="rounds over all workloads (default 1)")
    parser.add_argument("--repeat", type=int,
                        help="measured repeats inside each child, cut short by a time budget "
                             "(default 3; 1 with --quick)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated subset of: " + ", ".join(FRAMEWORKS))
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated subset of: " + ", ".join(MODES))
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the children (default: this one)")
    parser.add_argument("--show", metavar="PATH",
                        help="print the table of results saved earlier with --json; run nothing")
    args = parser.parse_args(argv)
    args.only = [w for item in args.only for w in item.split(",") if w] or list(WORKLOAD_NAMES)
    for name in args.only:
        workload(name)  # raises on a typo
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    args.modes = [m for m in args.modes.split(",") if m]
    for name in args.frameworks:
        if name not in FRAMEWORKS:
            parser.error(f"unknown framework {name!r}")
    for name in args.modes:
        if name not in MODES:
            parser.error(f"unknown mode {name!r}")
    args.rounds = args.rounds or 1
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


# -- children -------------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """Children, and the workers they start, must import ``benchmarks``."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def _kill_group(pgid: int, grace: float = 0.0) -> int:
    """Kill what is left of a child's process group (its own session, started by us).

    Waits up to ``grace`` seconds for the group to exit by itself first. Returns how
    many processes had to be killed, not counting multiprocessing's resource tracker,
    which exits on its own a moment after its parent.
    """
    try:
        import psutil
    except ImportError:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
        return 0

    def members() -> list[Any]:
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if (proc.pid != os.getpid() and os.getpgid(proc.pid) == pgid
                        and proc.status() != psutil.STATUS_ZOMBIE):
                    found.append(proc)
        return found

    deadline = time.monotonic() + grace
    left = members()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = members()
    killed = 0
    for proc in left:
        with contextlib.suppress(psutil.Error):
            helper = "resource_tracker" in " ".join(proc.cmdline())
            proc.kill()
            killed += not helper
    return killed


def run_child(python: str, cfg: Config, names: list[str], repeat: int, quick: bool,
              log: IO[str]) -> list[dict[str, Any]]:
    """Run ``names`` (usually one workload) in one child; one result per name."""
    cmd = [python, "-m", "benchmarks.run_one", "--framework", cfg.framework, "--mode", cfg.mode,
           "--workload", ",".join(names), "--repeat", str(repeat)] + (["--quick"] if quick else [])
    timeout = sum(workload(name).timeout[1 if quick else 0] for name in names)
    log.write(f"\n===== {cfg} {','.join(names)}: {' '.join(cmd)}\n")
    log.flush()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=_child_env(), stdout=subprocess.PIPE,
                            stderr=log, start_new_session=True)
    failure = None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.kill()
        out, _ = proc.communicate()
        failure = f"timed out after {timeout:.0f} s"
    got = {r.get("workload"): r for r in _parse(out)}
    leftovers = _kill_group(proc.pid, grace=3.0)
    elapsed = round(time.perf_counter() - start, 2)
    results = []
    for name in names:
        result = got.get(name) or {
            "status": "error",
            "error": failure or f"child exited {proc.returncode} without a result line"}
        result.update(framework=cfg.framework, mode=cfg.mode, workload=name,
                      elapsed_s=result.get("workload_s", elapsed) if len(names) > 1 else elapsed)
        if leftovers and name == names[-1]:
            result["leftovers"] = leftovers
        results.append(result)
    return results


def _parse(out: bytes) -> list[dict[str, Any]]:
    results = []
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                results.append(dict(json.loads(line)))
    return results


# -- the run --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 2**20:.1f} GiB"
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "memory": memory, "python": platform.python_version()}


def _configs(args: argparse.Namespace) -> list[Config]:
    return [Config(fw, mode) for mode in args.modes for fw in MODE_FRAMEWORKS[mode]
            if fw in args.frameworks]


def _rotated(configs: list[Config], shift: int) -> list[Config]:
    """The configs of each mode, rotated by ``shift``: each round another framework goes first."""
    out = []
    for mode in MODES:
        group = [c for c in configs if c.mode == mode]
        if group:
            k = shift % len(group)
            out += group[k:] + group[:k]
    return out


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show:
        print(report(json.loads(Path(args.show).read_text())))
        return 0
    started = time.perf_counter()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the whole run
        "w", prefix="futurelab-bench-", suffix=".log", delete=False)
    _progress(f"benchmarks: children's output goes to {log_file.name}")
    configs = _configs(args)

    # warm-up: one untimed cluster start per config; learn what is installed and works
    frameworks: dict[str, dict[str, Any]] = {fw: {"status": "ok"} for fw in args.frameworks}
    unavailable: dict[Config, str] = {}
    for cfg in configs:
        info = frameworks[cfg.framework]
        if info["status"] == "not installed":
            continue
        [result] = run_child(args.python, cfg, ["startup"], 1, args.quick, log_file)
        _progress(f"warm-up {cfg!s:<20} {result['status']:<13} {result['elapsed_s']:6.1f} s"
                  + (f"  {result.get('error')}" if result.get("error") else ""))
        if result["status"] == "not_installed":
            info.update(status="not installed", error=result.get("error"))
            continue
        info.setdefault("version", result.get("version"))
        info.setdefault("location", result.get("location"))
        if result["status"] != "ok":
            unavailable[cfg] = result.get("error") or "failed to start"
    live = [c for c in configs if frameworks[c.framework]["status"] == "ok"]
    runnable = [c for c in live if c not in unavailable]

    # --quick: one child per config runs all its workloads (startup first, so it is the
    # process's first cluster); otherwise a fresh child for every workload
    if args.quick:
        batches = [sorted(args.only, key=lambda n: n != "startup")]
    else:
        batches = [[name] for name in args.only]
    runs: list[dict[str, Any]] = []
    total = args.rounds * len(batches) * len(runnable)
    done = 0
    for rnd in range(args.rounds):
        for names in batches:
            for cfg in _rotated(runnable, rnd):
                done += 1
                for result in run_child(args.python, cfg, names, args.repeat, args.quick,
                                        log_file):
                    result["round"] = rnd + 1
                    runs.append(result)
                    _progress(f"[{done}/{total}] round {rnd + 1} {result['workload']:<10} "
                              f"{cfg!s:<20} {result['status']:<6} "
                              f"{result['elapsed_s']:6.1f} s"
                              + (f"  {result.get('error')}" if result.get("error") else ""))
    elapsed = time.perf_counter() - started

    settings = {"quick": args.quick, "rounds": args.rounds, "repeat": args.repeat,
                "workloads": args.only, "elapsed_s": round(elapsed, 1), "log": log_file.name,
                "sizes": sizes(args.quick)}
    log_file.close()
    saved = {"machine": machine(), "settings": settings, "frameworks": frameworks,
             "configs": [[c.framework, c.mode] for c in live],
             "unavailable": [[c.framework, c.mode, why] for c, why in unavailable.items()],
             "runs": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(saved, indent=1))
        _progress(f"raw results saved to {args.json}")
    print(report(saved))
    return 0


def report(saved: dict[str, Any]) -> str:
    """The table for a run's saved results (the dict --json writes)."""
    configs = [Config(fw, mode) for fw, mode in saved["configs"]]
    unavailable = {Config(fw, mode): why for fw, mode, why in saved["unavailable"]}
    summary = summarize(saved["runs"], configs, unavailable, saved["settings"]["workloads"])
    return render(summary, saved["frameworks"], unavailable, saved["machine"],
                  saved["settings"], configs)


def summarize(runs: list[dict[str, Any]], configs: list[Config],
              unavailable: dict[Config, str], names: list[str]
              ) -> dict[Config, dict[str, dict[str, Any]]]:
    """config -> metric -> {"median", "samples", "na", "notes"}, pooling all rounds."""
    pooled: dict[Config, dict[str, dict[str, Any]]] = {}
    for cfg in configs:
        pooled[cfg] = {}
        for name in names:
            for metric in workload(name).metrics:
                pooled[cfg][metric.key] = {"samples": [], "na": [], "notes": []}
        if cfg in unavailable:
            for slot in pooled[cfg].values():
                slot["na"].append(f"cluster did not start: {unavailable[cfg]}")
    for run in runs:
        cfg = Config(run["framework"], run["mode"])
        slots = pooled[cfg]
        if run.get("status") != "ok":
            for metric in workload(run["workload"]).metrics:
                slots[metric.key]["na"].append(run.get("error") or "failed")
        for key, got in run.get("metrics", {}).items():
            slot = slots.setdefault(key, {"samples": [], "na": [], "notes": []})
            slot["samples"] += got.get("samples", [])
            if got.get("na"):
                slot["na"].append(got["na"])
            slot["notes"] += [n for n in got.get("notes", []) if n not in slot["notes"]]
        if run.get("leftovers"):
            note = f"{run['leftovers']} leftover process(es) killed after {run['workload']}"
            first = workload(run["workload"]).metrics[0].key
            slots[first]["notes"].append(note)
    for slots in pooled.values():
        for slot in slots.values():
            slot["median"] = statistics.median(slot["samples"]) if slot["samples"] else None
    return pooled
