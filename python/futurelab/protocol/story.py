"""The shape of a state machine's history: one logged transition (pure).

The scheduler's and the worker's state machines log every transition of a key with the stimulus
that caused it, so ``story(key)`` answers "why is this task here?"; both log this record, and
stories travel in it (as lists) to clients and views.

>>> Transition("inc-1", "waiting", "processing", "update-graph-7", 1733155200.0).stimulus_id
'update-graph-7'
"""
from __future__ import annotations

from typing import NamedTuple


class Transition(NamedTuple):
    """One logged transition: what moved where, because of which stimulus, when."""

    key: str
    start: str
    finish: str
    #: the unique id of the stimulus that caused it (the shells number every stimulus)
    stimulus_id: str
    #: wall-clock seconds the shell gave with the stimulus (0.0 in pure tests that give none)
    time: float
