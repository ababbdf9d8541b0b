"""The worker's administration handlers: ``Client.run``, upload_file, versions, restart, replicas.

Installed into every :class:`~futurelab.worker.server.Worker` by :func:`install`; each handler
answers one request on the worker's listener (from a client directly, or from the scheduler):

- ``admin-run``: call a user function here, on the worker's event loop (``Client.run``);
- ``admin-upload-file``: write a file into :attr:`local_directory` and import it;
- ``admin-versions``: this process's versions (``Client.get_versions``);
- ``admin-restart``: under a nanny, close and exit with
  :data:`~futurelab.nanny.RESTART_EXIT_CODE` so the nanny starts a fresh process
  (``Client.restart``); without one, drop the data of the keys the scheduler released;
- ``admin-gather``: copy keys from their holders into this worker (``retire_workers`` moves
  data off the workers it retires this way).
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pkgutil
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import logbuffer
from ..calls import call_function, pack_error, unwrap
from ..errors import CommClosedError, ProtocolError
from ..nanny import NANNY_ENV, RESTART_EXIT_CODE
from ..rpc import RemoteError
from ..versions import get_versions
from . import state as st
from .executor import sizeof, thread_state

if TYPE_CHECKING:
    from ..comm import Comm
    from .server import Worker

logger = logging.getLogger("futurelab.worker")

#: files that are imported after upload (others are only written)
PACKAGE_SUFFIXES = (".egg", ".zip", ".pyz", ".whl")


def install(worker: Worker) -> None:
    """Add the administration handlers to ``worker`` and give it a ``local_directory``.

    >>> # install(worker)  # done by Worker.__init__
    """
    admin = WorkerAdmin(worker)
    worker.extensions["admin"] = admin
    #: where uploaded files go (dask's ``dask_worker.local_directory``)
    worker.local_directory = admin.local_directory  # type: ignore[attr-defined]
    worker.handlers.update({
        "admin-run": admin.run,
        "admin-upload-file": admin.upload_file,
        "admin-versions": lambda msg, comm: get_versions(msg.get("packages") or ()),
        "admin-restart": admin.restart,
        "admin-gather": admin.gather,
        "get-logs": lambda msg, comm: {"status": "OK", "logs": logbuffer.lines(
            "worker", None if msg.get("n") is None else max(0, int(msg["n"])))},
    })
    logbuffer.install()


def under_nanny() -> bool:
    """Whether a nanny that restarts this process on request is its parent."""
    return os.environ.get(NANNY_ENV) == str(os.getppid())


class WorkerAdmin:
    """The state behind the handlers: the worker and its local directory."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.local_directory = tempfile.mkdtemp(prefix=f"futurelab-{worker.name}-")
        weakref.finalize(worker, shutil.rmtree, self.local_directory, ignore_errors=True)

    def _where(self) -> str:
        try:
            return f"worker {self.worker.address}"
        except RuntimeError:
            return f"worker {self.worker.name}"

    def _crosses_processes(self, comm: Comm) -> bool:
        return self.worker.serializing and not comm.peer_address.startswith("inproc://")

    @contextmanager
    def _as_task_worker(self) -> Iterator[None]:
        """``get_worker()`` answers this worker during the call (as inside a task)."""
        old = getattr(thread_state, "worker", None)
        thread_state.worker = self.worker
        try:
            yield
        finally:
            thread_state.worker = old

    async def run(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """``admin-run``: call the function here (``dask_worker=`` is this worker)."""
        return await call_function(msg, {"dask_worker": self.worker},
                                   serialize=self._crosses_processes(comm), where=self._where(),
                                   around=self._as_task_worker)

    def upload_file(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """``admin-upload-file``: write ``msg["data"]`` as ``msg["filename"]``, then import it."""
        try:
            filename = msg.get("filename")
            data = unwrap(msg.get("data"))
            if (not isinstance(filename, str) or os.path.basename(filename) != filename
                    or filename in ("", ".", "..")):
                raise ValueError(f"upload_file needs a plain file name, not {filename!r}")
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"upload_file needs the file's bytes, not {type(data).__name__}")
            path = os.path.join(self.local_directory, filename)
            with open(path, "wb") as f:
                f.write(data)
            loaded = load_file(path) if msg.get("load", True) else []
        except Exception as e:  # noqa: BLE001 - e.g. the module fails to import here
            return pack_error(e, self._crosses_processes(comm), self._where())
        return {"status": "OK", "nbytes": len(data), "loaded": loaded}

    async def restart(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """``admin-restart``: under a nanny, answer, close, and exit for a fresh process.

        Without a nanny the worker stays, and lets go of ``msg["keys"]`` (the keys the
        scheduler released): their data is dropped now, running ones when they finish.
        """
        if not under_nanny():
            worker = self.worker
            keys = [k for k in msg.get("keys") or () if k in worker.state.tasks]
            if keys:
                worker.handle(st.FreeKeys(keys, stimulus_id="restart"))
            return {"status": "OK", "restarting": False}
        msg["reply"] = False  # answered here, before the listener closes
        await comm.write({"status": "OK", "restarting": True})
        logger.info("worker %s restarting on request", self.worker.name)
        try:
            await asyncio.wait_for(self.worker.close(), 5.0)
        finally:
            os._exit(RESTART_EXIT_CODE)

    async def gather(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """``admin-gather``: fetch ``{key: [holders]}`` here; answer the sizes of keys held."""
        who_has: dict[str, list[str]] = msg.get("who_has") or {}
        data = self.worker.data
        by_holder: dict[str, list[str]] = {}
        for key, holders in who_has.items():
            if key not in data and holders:
                by_holder.setdefault(holders[0], []).append(key)
        replies = await asyncio.gather(
            *(self.worker.pool.request(h, {"op": "get-data", "keys": ks})
              for h, ks in by_holder.items()), return_exceptions=True)
        fetched: dict[str, int] = {}
        for holder, reply in zip(by_holder, replies):
            if isinstance(reply, (OSError, CommClosedError, ProtocolError, RemoteError)):
                logger.info("worker %s: copying keys from %s failed: %s", self.worker.name,
                            holder, reply)
                continue
            if isinstance(reply, BaseException):
                raise reply
            for key, value in reply["data"].items():
                obj = unwrap(value)
                data[key] = obj
                fetched[key] = sizeof(obj)
        if fetched:
            self.worker.handle(st.UpdateData(fetched, stimulus_id="retire-workers"))
        return {"status": "OK", "nbytes": {k: sizeof(data[k]) for k in who_has if k in data}}


def load_file(path: str) -> list[str]:
    """Make the uploaded file importable and (re)import what it holds; the module names.

    A ``.py`` file's directory goes on ``sys.path`` and the module is imported (reloaded when
    an older version was); an ``.egg``/``.zip``/``.pyz``/``.whl`` goes on ``sys.path`` itself
    and its top-level modules are imported.  Other files are only written.
    """
    directory, filename = os.path.split(path)
    name, ext = os.path.splitext(filename)
    if ext == ".py":
        entry, names = directory, [name]
        # a stale bytecode cache (same size, same second) would hide the new source
        cache = os.path.join(directory, "__pycache__")
        for cached in os.listdir(cache) if os.path.isdir(cache) else ():
            if cached.split(".", 1)[0] == name:
                os.remove(os.path.join(cache, cached))
    elif ext in PACKAGE_SUFFIXES:
        entry, names = path, [m.name for m in pkgutil.iter_modules([path])]
    else:
        return []
    if entry not in sys.path:
        sys.path.insert(0, entry)
    importlib.invalidate_caches()
    for module_name in names:
        module = sys.modules.get(module_name)
        if module is None:
            importlib.import_module(module_name)
        else:
            importlib.reload(module)
    return names
