"""Fixtures for the pure worker state machine: no sockets, no event loop, no clock."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from futurelab.worker.state import Instruction, WorkerEvent, WorkerState


class ValidatingWorkerState(WorkerState):
    """A WorkerState whose ``handle()`` checks the invariants after every event."""

    def handle(self, ev: WorkerEvent) -> list[Instruction]:
        out = super().handle(ev)
        self.validate()
        return out


@pytest.fixture
def worker_state() -> Iterator[WorkerState]:
    """A 1-thread worker at ``tcp://w``; validates after each event and on teardown."""
    state = ValidatingWorkerState("tcp://w", 1)
    yield state
    state.validate()


@pytest.fixture
def make_worker_state() -> Iterator[Callable[..., WorkerState]]:
    """Factory for WorkerStates with other thread counts; each is validated on teardown."""
    made: list[WorkerState] = []

    def make(nthreads: int = 1, address: str = "tcp://w") -> WorkerState:
        ws = ValidatingWorkerState(address, nthreads)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.validate()
