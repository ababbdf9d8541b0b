"""The wire vocabulary: every message declared once, every declaration handled, every message
checked against its declaration where it arrives (and, in the test suite, where it is sent)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from futurelab.client.client import Client
from futurelab.errors import ProtocolError
from futurelab.protocol import messages as m
from futurelab.protocol.serialize import Opaque
from futurelab.protocol.vocabulary import Channel, check, declared, handlers_for, spec
from futurelab.scheduler import events as ev
from futurelab.scheduler.server import Scheduler
from futurelab.worker import state as wstate
from futurelab.worker.server import Worker


def test_every_declared_message_is_handled_and_every_handler_declared() -> None:
    async def main() -> dict[Channel, set[str]]:
        async with Scheduler("inproc://", dashboard_address=None) as s, \
                Worker(s.address) as w:
            client = await Client(s.address, asynchronous=True)
            try:
                await client.submit(sum, [1, 2])  # loads the task path
                client.live_model()  # the live model's "event" handler
                from futurelab.primitives._proxy import PrimitivesClient
                PrimitivesClient.of(client)  # primitive replies and pub/sub deliveries
                return {Channel.SCHEDULER: set(s.handlers),
                        Channel.CLIENT_STREAM: set(s.client_stream_handlers),
                        Channel.WORKER_STREAM: set(s.worker_stream_handlers),
                        Channel.WORKER: set(w.handlers),
                        Channel.TO_WORKER: set(w.scheduler_stream_handlers),
                        Channel.TO_CLIENT: set(client._stream_handlers)}
            finally:
                await client.close()

    handled = asyncio.run(main())
    for channel, ops in handled.items():
        assert ops == set(declared(channel)), (
            f"{channel.value}: declared but not handled: {set(declared(channel)) - ops}; "
            f"handled but not declared: {ops - set(declared(channel))}")


def test_stimuli_come_from_one_conversion_per_message() -> None:
    """The shells and the tests' fake links use the same message → stimulus functions."""
    assert {spec(c).op for c in ev.FROM_WORKER} | {"heartbeat", "closing"} == \
        set(declared(Channel.WORKER_STREAM))
    assert {spec(c).op for c in ev.FROM_CLIENT} <= set(declared(Channel.CLIENT_STREAM))
    assert {spec(c).op for c in wstate.FROM_SCHEDULER} <= set(declared(Channel.TO_WORKER))
    finished = {"op": "task-finished", "key": "x-1", "nbytes": 8, "type": "int", "start": 1.0,
                "stop": 2.0}
    assert check(Channel.WORKER_STREAM, finished).cls is m.TaskFinished
    stim = ev.FROM_WORKER[m.TaskFinished]("tcp://w", finished)
    assert (stim.worker, stim.key, stim.nbytes, stim.start, stim.stop) == \
        ("tcp://w", "x-1", 8, 1.0, 2.0)


TASK = {"key": "inc-1", "func": Opaque(len), "args": Opaque((1,)), "kwargs": None, "deps": [],
        "workers": None, "actor": False, "retries": 0}


@pytest.mark.parametrize(("msg", "error"), [
    ({"op": "update-graph", "tasks": [TASK], "keys": [3]},
     "update-graph: field 'keys'[0] must be a string, not int 3"),
    ({"op": "update-graph", "tasks": [{**TASK, "retries": "2"}], "keys": []},
     "update-graph: field 'tasks'[0].retries must be an int"),
    ({"op": "update-graph", "tasks": [{k: v for k, v in TASK.items() if k != "func"}],
      "keys": []}, "update-graph: field 'tasks'[0] has no field 'func'"),
    ({"op": "cancel-keys", "keys": ["x"], "force": "yes"},
     "cancel-keys: field 'force' must be a bool"),
    ({"op": "client-releases-keys"}, "client-releases-keys: missing field 'keys'"),
    ({"op": "queue-put", "name": "q", "item": {"key": 5}, "rid": 1},
     "queue-put: field 'item'.key must be a string"),
    ({"op": "no-such-op"}, "unknown operation 'no-such-op'"),
    (["not", "a", "dict"], "a message must be a dict, not list"),
])
def test_malformed_messages_are_refused_naming_the_field(msg: Any, error: str) -> None:
    with pytest.raises(ProtocolError) as info:
        check(Channel.CLIENT_STREAM, msg)
    assert error in str(info.value)


def test_well_formed_messages_pass_with_extra_fields() -> None:
    ok = {"op": "update-graph", "tasks": [TASK, {**TASK, "kwargs": Opaque({})}], "keys": ["a"],
          "from-a-newer-peer": True}
    assert check(Channel.CLIENT_STREAM, ok).cls is m.UpdateGraph
    optional = {"op": "cancel-keys", "keys": []}
    assert check(Channel.CLIENT_STREAM, optional).op == "cancel-keys"


def test_a_handler_for_an_undeclared_message_is_refused() -> None:
    with pytest.raises(TypeError, match="not a message declared on the scheduler → worker"):
        handlers_for(Channel.TO_WORKER, {m.UpdateGraph: print})
