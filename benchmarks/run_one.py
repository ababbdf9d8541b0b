"""Child entry point: run one workload on one framework in one mode, print one JSON line.

    python -m benchmarks.run_one --framework dask --mode processes --workload map --repeat 3

``--workload a,b,c`` runs several one after the other in this process (each on
its own new cluster) and prints one line for each; ``--quick`` runs use that to
save interpreter starts. Everything the frameworks print (worker logs, Ray's
banner) goes to stderr; the only thing on stdout is the result lines::

    {"framework": ..., "mode": ..., "workload": ..., "status": "ok" | "error" |
     "not_installed", "error": ..., "version": ..., "import_s": ...,
     "metrics": {key: {"samples": [...], "na": reason | null, "notes": [...]}}}

A workload that fails as a whole (the cluster does not start, say) gives status
"error" with the reason; a part that fails gives its metric an ``na`` reason.
This module does its work only under ``__main__``: worker processes started with
multiprocessing's spawn re-import it.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from ._measure import Recorder, reason
from ._spec import FRAMEWORKS, MODES, WORKLOAD_NAMES


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_one", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", required=True, choices=sorted(FRAMEWORKS))
    parser.add_argument("--mode", required=True, choices=sorted(MODES))
    parser.add_argument("--workload", required=True,
                        help="one of " + ", ".join(WORKLOAD_NAMES) + "; or several, "
                        "comma-separated, run one after the other (one result line each)")
    parser.add_argument("--repeat", type=int, default=1, help="measured repeats (after warm-up)")
    parser.add_argument("--quick", action="store_true", help="the --quick sizes")
    args = parser.parse_args(argv)
    args.workloads = args.workload.split(",")
    for name in args.workloads:
        if name not in WORKLOAD_NAMES:
            parser.error(f"unknown workload {name!r}")
    return args


def run(args: argparse.Namespace, emit: Callable[[dict[str, Any]], None]) -> None:
    """Run each requested workload and ``emit`` its result."""
    head: dict[str, Any] = {"framework": args.framework, "mode": args.mode, "pid": os.getpid()}
    if args.framework == "ray":
        from . import ray_workloads as workloads

        workloads.prepare_environment()
    else:
        from . import futures_workloads as workloads  # type: ignore[no-redef]
    t0 = time.perf_counter()
    try:
        api = importlib.import_module(FRAMEWORKS[args.framework])
        # what a user's first line loads: ``from X import Client`` (futurelab resolves its
        # top-level names on first use, so the bare import alone would undercount it)
        getattr(api, "Client", None)
    except ImportError as exc:
        for name in args.workloads:
            emit({**head, "workload": name, "status": "not_installed", "error": reason(exc)})
        return
    head["import_s"] = time.perf_counter() - t0
    head["version"] = str(getattr(api, "__version__", "?"))
    head["location"] = str(getattr(api, "__file__", "?"))
    for name in args.workloads:
        result = {**head, "workload": name}
        rec = Recorder()
        if name == "startup":
            rec.add("import_s", head["import_s"])
        t1 = time.perf_counter()
        try:
            workloads.RUNS[name](api, args.mode, args.quick, args.repeat, rec)
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            traceback.print_exc()
            result.update(status="error", error=reason(exc))
        else:
            result["status"] = "ok"
        result["workload_s"] = round(time.perf_counter() - t1, 2)
        result.update(rec.as_json())
        emit(result)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)  # from here on, anything printed (also by child processes) goes to stderr
    emitted: set[str] = set()

    def emit(result: dict[str, Any]) -> None:
        sys.stdout.flush()
        os.write(result_fd, (json.dumps(result) + "\n").encode())
        emitted.add(result["workload"])

    try:
        run(args, emit)
    except BaseException as exc:  # noqa: BLE001 - the parent must get a line whatever happens
        traceback.print_exc()
        for name in args.workloads:
            if name not in emitted:
                emit({"framework": args.framework, "mode": args.mode, "workload": name,
                      "status": "error", "error": reason(exc), "metrics": {}})
    os.close(result_fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
