"""Recent log lines of this process, kept in memory for ``get_logs`` (bounded).

One :class:`LogBuffer` per process, attached to the ``futurelab`` logger by :func:`install`
(the scheduler and the worker call it when they start).  A scheduler answers ``get-logs`` from
it, a worker too; in a process that runs both (a LocalCluster of threads) each side returns the
lines of its own loggers (:func:`lines`).  Lines are formatted as dask formats them,
``"%(asctime)s - %(name)s - %(levelname)s - %(message)s"``, and returned newest first.

>>> buf = install()
>>> import logging; logging.getLogger("futurelab.worker").warning("hello")
>>> lines("worker", 1)[0][1].endswith("futurelab.worker - WARNING - hello")
True
"""
from __future__ import annotations

import logging
import threading
from collections import deque

#: lines kept per process (dask keeps 10,000 per scheduler or worker)
LOG_LENGTH = 10_000
FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
#: loggers whose lines belong to the other side, per side
_NOT_OURS = {
    "scheduler": ("futurelab.worker", "futurelab.nanny", "futurelab.client"),
    "worker": ("futurelab.scheduler", "futurelab.dashboard", "futurelab.client"),
}


class LogBuffer(logging.Handler):
    """A logging handler that keeps the last ``n`` records."""

    def __init__(self, n: int = LOG_LENGTH) -> None:
        super().__init__()
        self.records: deque[logging.LogRecord] = deque(maxlen=n)
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_buffer: LogBuffer | None = None
_lock = threading.Lock()


def install() -> LogBuffer:
    """This process's buffer, attached to the ``futurelab`` logger on first call."""
    global _buffer
    with _lock:
        if _buffer is None:
            _buffer = LogBuffer()
            logging.getLogger("futurelab").addHandler(_buffer)
        return _buffer


def lines(side: str, n: int | None = None) -> list[tuple[str, str]]:
    """``[(level, line), ...]`` of ``side`` (``"scheduler"`` or ``"worker"``), newest first.

    Args:
        side: whose lines: records of the other side's loggers are left out.
        n: at most this many (None: all kept).
    """
    buf = install()
    skip = _NOT_OURS[side]
    out: list[tuple[str, str]] = []
    for record in reversed(list(buf.records)):
        if n is not None and len(out) >= n:
            break
        if not record.name.startswith(skip):
            out.append((record.levelname, buf.format(record)))
    return out
