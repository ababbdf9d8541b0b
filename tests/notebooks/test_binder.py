"""Replay a Binder build from binder/ in a fresh venv, then run the notebooks on its kernel.

What repo2docker does for this repository (Python buildpack, binder/ directory):

1. start from an environment that has Python, pip and node 20 (its base image),
2. ``pip install -r binder/requirements.txt`` from the repository root,
3. run ``binder/postBuild`` from the repository root (it must be executable),
4. serve JupyterLab from that environment, on ``lab/tree/notebooks``.

Here the environment is ``python -m venv`` (with pip upgraded: Binder's pip is recent) and the
repository is a copy of what a clone would hold: files tracked by git plus new files git does not
ignore. So the lab extension is built from source, as on Binder (``python/futurelab/labextension``
and ``node_modules`` are ignored, hence absent). pip's and yarn's download caches are reused:
that is the only shortcut. Expect 2-4 minutes; every step has a timeout.

All notebooks in notebooks/ are then executed with the new venv's kernel (about a minute more):
a Binder user may open any of them, and a missing dependency shows up only in the notebook that
imports it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _runner import ANSI, NOTEBOOKS, ROOT, execute, write_kernelspec
from test_notebooks import check_outputs

pytestmark = [pytest.mark.binder, pytest.mark.timeout(1500)]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    out = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


def _clone_like_copy(dest: Path) -> None:
    """Copy the files a fresh clone would have (tracked + untracked-but-not-ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():  # skip files deleted in the work tree
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _binder_env(venv: Path) -> dict[str, str]:
    """The build's environment: the new venv first on PATH, nothing from the project venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "HATCH_JUPYTER_BUILDER_SKIP_NPM")
           and not k.startswith("PYTEST_")}
    project_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != project_bin]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_PROGRESS_BAR"] = "off"
    return env


@pytest.fixture(scope="module")
def binder_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    if shutil.which("git") is None or shutil.which("node") is None:
        pytest.skip("needs git and node (Binder's base image has node 20)")
    base = tmp_path_factory.mktemp("binder")
    repo, venv = base / "repo", base / "venv"
    repo.mkdir()
    _clone_like_copy(repo)
    env = _binder_env(venv)
    python = str(venv / "bin" / "python")

    _run([sys.executable, "-m", "venv", str(venv)], base, env, timeout=120)
    _run([python, "-m", "pip", "install", "--upgrade", "pip"], repo, env, timeout=300)
    _run([python, "-m", "pip", "install", "-r", "binder/requirements.txt"], repo, env, timeout=600)
    postbuild = repo / "binder" / "postBuild"
    assert os.access(postbuild, os.X_OK), "binder/postBuild must be executable"
    _run(["./binder/postBuild"], repo, env, timeout=900)
    return repo, venv, env


def test_binder_installs_package_and_extension(binder_build: tuple[Path, Path, dict[str, str]]
                                               ) -> None:
    repo, venv, env = binder_build
    where = _run([str(venv / "bin" / "python"), "-c",
                  "import futurelab, sys; print(futurelab.__file__); print(sys.prefix)"],
                 repo, env, timeout=120).split()
    assert where[0].startswith(str(venv)), f"futurelab imported from {where[0]}, not the venv"
    listing = _run([str(venv / "bin" / "jupyter"), "labextension", "list"], repo, env, timeout=120)
    pattern = r"^\s*futurelab v\S+ enabled OK \(python, futurelab\)"
    assert re.search(pattern, listing, re.MULTILINE), \
        listing
    # the prebuilt extension is installed into the env, as the wheel's shared-data
    assert (venv / "share" / "jupyter" / "labextensions" / "futurelab" / "package.json").is_file()


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_binder_notebook(name: str, binder_build: tuple[Path, Path, dict[str, str]],
                         tmp_path: Path) -> None:
    repo, venv, env = binder_build
    kernels = write_kernelspec(venv / "bin" / "python", tmp_path / "kernels")
    nb, _ = execute(repo / "notebooks" / name, kernels, tmp_path / "run", timeout=120, env=env)
    check_outputs(name, nb)
