"""Transports: message-oriented comms over TCP or in-process queues.

>>> from futurelab.comm import connect, listen  # doctest: +SKIP
"""

from __future__ import annotations

from futurelab.comm.base import Comm as Comm
from futurelab.comm.base import Listener as Listener
from futurelab.comm.base import connect as connect
from futurelab.comm.base import listen as listen
from futurelab.comm.base import parse_address as parse_address
from futurelab.comm.base import unparse_address as unparse_address

__all__ = ["Comm", "Listener", "connect", "listen", "parse_address", "unparse_address"]
