"""Fixtures for the pure scheduler state machine: no sockets, no event loop, no clock."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from futurelab.scheduler.state import SchedulerState


@pytest.fixture
def sched_state() -> Iterator[SchedulerState]:
    """A SchedulerState that validates after every ``handle()`` and again on teardown."""
    state = SchedulerState(validate=True)
    yield state
    state.validate()
