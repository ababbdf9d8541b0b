"""Code quality gates: lint everywhere, strict typing on the pure cores and the wire."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
STRICT = ["python/futurelab/scheduler/state.py", "python/futurelab/scheduler/transitions.py",
          "python/futurelab/scheduler/policy.py", "python/futurelab/scheduler/events.py",
          "python/futurelab/scheduler/invariants.py", "python/futurelab/scheduler/tasks.py",
          "python/futurelab/scheduler/stealing.py", "python/futurelab/_memory.py",
          "python/futurelab/scheduler/adaptive.py",
          "python/futurelab/worker/state.py", "python/futurelab/protocol",
          "python/futurelab/primitives", "python/futurelab/scheduler/primitives",
          "python/futurelab/_waiters.py", "python/futurelab/_lazy.py",
          "python/futurelab/comm/handshake.py", "python/futurelab/comm/liveness.py",
          "python/futurelab/jobqueue/script.py"]


@pytest.mark.timeout(300)
def test_mypy_strict_on_pure_modules() -> None:
    pytest.importorskip("mypy")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", *STRICT], cwd=ROOT,
                         capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.timeout(120)
def test_ruff_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    out = subprocess.run([ruff, "check", "python/futurelab", "tests"], cwd=ROOT,
                         capture_output=True, text=True, timeout=100)
    assert out.returncode == 0, out.stdout + out.stderr


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for p in (ROOT / "python/futurelab").rglob("*.py")
           if "labextension" not in p.parts and (n := len(p.read_text().splitlines())) > 700}
    assert not big, f"modules over 700 lines (split them): {big}"
