"""The worker: a pure state machine (:mod:`.state`) inside a thin I/O shell (:mod:`.server`)."""
from __future__ import annotations
