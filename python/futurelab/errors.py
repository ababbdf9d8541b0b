"""Exceptions raised by futurelab.

Every exception the library raises on purpose lives here, so callers have one
place to look. The hierarchy, by the built-in each one extends::

    OSError
    └── CommClosedError        a connection was closed, aborted or hit EOF
    ValueError
    ├── ProtocolError          malformed bytes or messages from a peer
    └── FrameTooLargeError     a frame is longer than the size limit

``CommClosedError`` is an ``OSError`` so that code catching network failures in
general also catches it. ``ProtocolError`` and ``FrameTooLargeError`` are
``ValueError`` because they describe bad input; a transport that meets either
one aborts that one connection and raises ``CommClosedError`` to its reader.
"""

from __future__ import annotations

__all__ = ["CommClosedError", "FrameTooLargeError", "ProtocolError"]


class CommClosedError(OSError):
    """A comm was closed or aborted, by either end, or the peer went away.

    The message names the peer, e.g. ``"tcp://127.0.0.1:8786: closed by peer"``.

    >>> raise CommClosedError("tcp://127.0.0.1:8786: closed by peer")
    Traceback (most recent call last):
    futurelab.errors.CommClosedError: tcp://127.0.0.1:8786: closed by peer
    """


class ProtocolError(ValueError):
    """Input from a peer does not follow the wire protocol.

    Raised by the frame decoder and by ``protocol.serialize.loads``; the
    message says what was wrong (and names the limit, if one was exceeded).

    >>> raise ProtocolError("message header is not valid msgpack")
    Traceback (most recent call last):
    futurelab.errors.ProtocolError: message header is not valid msgpack
    """


class FrameTooLargeError(ValueError):
    """A frame announced by a peer is bigger than the decoder's limit.

    Raised as soon as the length header is read, before any memory for the
    frame is allocated.

    >>> raise FrameTooLargeError("frame of 4294967296 bytes exceeds max_frame_bytes=2147483648")
    Traceback (most recent call last):
    futurelab.errors.FrameTooLargeError: frame of 4294967296 bytes exceeds max_frame_bytes=...
    """


# ---------------------------------------------------------------------------
# Task and cluster errors (futures API).  The hierarchy::
#
#     Exception
#     ├── FuturelabError
#     │   ├── InvalidTransition   the scheduler or worker state machine was asked the impossible
#     │   ├── KilledWorker        a task's workers kept dying while running it
#     │   ├── LostData            the only copy of data that cannot be recomputed is gone
#     │   └── SchedulerGone       the scheduler closed the connection; pending calls fail
#     └── concurrent.futures.CancelledError   (re-exported as futurelab.CancelledError)
#
# TimeoutError is the builtin one everywhere.


class FuturelabError(Exception):
    """Base class of futurelab's own errors about tasks and the cluster."""


class InvalidTransition(FuturelabError):
    """A state machine was asked for a transition its table does not allow.

    >>> raise InvalidTransition("inc-1", "memory", "queued", "task-finished-42")
    Traceback (most recent call last):
    futurelab.errors.InvalidTransition: key 'inc-1': no transition memory → queued (...)
    """

    def __init__(self, key: str, start: str, finish: str, stimulus_id: str) -> None:
        super().__init__(key, start, finish, stimulus_id)
        self.key, self.start, self.finish, self.stimulus_id = key, start, finish, stimulus_id

    def __str__(self) -> str:
        return (
            f"key {self.key!r}: no transition {self.start} → {self.finish} "
            f"(stimulus {self.stimulus_id!r})"
        )


class KilledWorker(FuturelabError):
    """Every worker that tried to run this task died while running it."""


class LostData(FuturelabError):
    """The data of a key existed only on a worker that is gone, and cannot be recomputed."""


class SchedulerGone(FuturelabError, OSError):
    """The connection to the scheduler was lost while a call was waiting on it."""
