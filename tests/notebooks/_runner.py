"""Execute a notebook with nbclient on a chosen Python, and read its outputs back.

The kernel is always named by an explicit kernelspec written to a temporary directory, whose
``argv`` is the interpreter we mean (the project venv's, or the Binder venv's). Nothing depends on
which ``python3`` kernelspec happens to be installed in the user's or the system's Jupyter paths.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: tag that lets a cell raise on purpose (nbclient honours it); such cells must name the error
RAISES = "raises-exception"


def write_kernelspec(python: Path, where: Path) -> Path:
    """Write a ``python3`` kernelspec that runs ``python -m ipykernel_launcher``; return its dir."""
    spec = where / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python 3 ({python})",
        "language": "python",
        "metadata": {"debugger": False},
    }), encoding="utf-8")
    return where


def execute(src: Path, kernels: Path, outdir: Path, timeout: int = 120,
            env: dict[str, str] | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of ``src`` in a fresh kernel from ``kernels``; save the result in ``outdir``.

    The kernel's working directory is ``outdir``, so files a notebook writes land there. The
    executed copy is written even when a cell fails, for inspection. ``env`` (default: this
    process's) is the kernel's whole environment.

    Returns:
        The executed notebook and the wall time it took (kernel start included).

    Raises:
        nbclient.exceptions.CellExecutionError: a cell not tagged ``raises-exception`` raised.
        nbclient.exceptions.CellTimeoutError: a cell ran longer than ``timeout`` seconds.
    """
    nb = nbformat.read(src, as_version=4)
    ksm = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    outdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            startup_timeout=60, resources={"metadata": {"path": str(outdir)}})
    start = time.perf_counter()
    try:
        client.execute(**({} if env is None else {"env": env}))
    finally:
        nbformat.write(nb, outdir / src.name)
    return nb, time.perf_counter() - start


def cell_text(cell: Any) -> str:
    """Everything a code cell showed as text: streams, text/plain results, and errors.

    Consecutive pieces of one stream are joined as they are: the kernel flushes its stdout on a
    timer, so under load one ``print`` may arrive as two stream outputs (``"1000"`` and
    ``" futures; …"``), which must not read as two lines.
    """
    parts: list[str] = []
    last_stream = None
    for out in cell.get("outputs", []):
        kind = out["output_type"]
        if kind == "stream" and last_stream == out.get("name") and parts:
            parts[-1] += out["text"]
            continue
        last_stream = out.get("name") if kind == "stream" else None
        if kind == "stream":
            parts.append(out["text"])
        elif kind in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif kind == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return ANSI.sub("", "\n".join(parts))


def by_tag(nb: Any) -> dict[str, Any]:
    """Code cells by tag (a tag names one cell; ``raises-exception`` is not a name)."""
    cells: dict[str, Any] = {}
    for cell in nb.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if tag != RAISES:
                assert tag not in cells, f"tag {tag!r} is on two cells"
                cells[tag] = cell
    return cells


def errors(nb: Any) -> list[tuple[int, list[str], str]]:
    """(index, tags, 'Name: value') of every cell that shows an error output."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                found.append((i, cell.get("metadata", {}).get("tags", []),
                              f"{out['ename']}: {out['evalue']}"))
    return found
