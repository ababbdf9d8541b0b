"""The build skeleton: the prebuilt labextension is installed and every version string agrees.

package.json is the single source of the version: hatch-nodejs-version gives it to the Python
distribution, jupyter-builder copies it into the built labextension, and
``futurelab.__version__`` repeats it by hand.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version as dist_version
from pathlib import Path

import futurelab

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _package_version() -> str:
    data = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    return str(data["version"])


def test_labextension_is_enabled_ok() -> None:
    """`jupyter labextension list` shows futurelab at the package.json version, enabled, OK."""
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output
    expected = f"futurelab v{_package_version()} enabled OK"
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("futurelab ")]
    assert any(line.startswith(expected) for line in lines), output


def test_version_matches_package_json() -> None:
    """futurelab.__version__ and the installed distribution's version equal package.json's."""
    expected = _package_version()
    assert futurelab.__version__ == expected
    assert dist_version("futurelab") == expected
