"""The public API: explicit, sorted, complete, and versioned like package.json."""
from __future__ import annotations

import json
from pathlib import Path

import futurelab

#: what code written for dask.distributed's futures API imports
DASK_NAMES = {
    "Client", "Future", "LocalCluster", "wait", "as_completed", "fire_and_forget", "get_client",
    "get_worker", "secede", "rejoin", "worker_client", "Queue", "Variable", "Lock", "Event",
    "Semaphore", "Pub", "Sub", "Actor", "ActorFuture", "CancelledError", "TimeoutError",
    "progress", "default_client",
}


def test_all_is_sorted_and_resolves() -> None:
    assert futurelab.__all__ == sorted(futurelab.__all__)
    for name in futurelab.__all__:
        assert hasattr(futurelab, name), name


def test_dask_names_exported() -> None:
    assert DASK_NAMES <= set(futurelab.__all__)


def test_public_names_are_listed() -> None:
    # dir(), not vars(): most names load on first use, so vars() would see only those loaded
    public = {n for n in dir(futurelab) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(futurelab, n)).__name__ == "module"}
    assert public - modules - {"annotations"} <= set(futurelab.__all__)


def test_version_matches_package_json() -> None:
    pkg = json.loads((Path(__file__).parents[1] / "package.json").read_text())
    assert futurelab.__version__ == pkg["version"]


def test_core_import_does_not_load_jupyter_or_dask() -> None:
    import subprocess
    import sys
    code = ("import sys, futurelab; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('ipywidgets', 'IPython', 'dask', 'distributed', 'tornado')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"
