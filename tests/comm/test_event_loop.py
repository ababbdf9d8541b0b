"""The loops futurelab starts itself: uvloop by default where installed, asyncio on request."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from futurelab import _loop
from futurelab.comm.base import connect, listen


def test_default_is_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(_loop.ENV, raising=False)
    loop = _loop.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_loop.ENV, "asyncio")
    loop = _loop.new_event_loop()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop)
    finally:
        loop.close()


def test_unknown_kind_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_loop.ENV, "tokio")
    with pytest.raises(ValueError, match="FUTURELAB_EVENT_LOOP='tokio'"):
        _loop.new_event_loop()


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_tcp_round_trip_on_each_loop(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if kind == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv(_loop.ENV, kind)

    async def main() -> object:
        async def echo(comm):  # type: ignore[no-untyped-def]
            await comm.write(await comm.read())

        listener = await listen("tcp://127.0.0.1:0", echo)
        comm = await connect(listener.address, timeout=5)
        await comm.write({"op": "ping", "data": b"x" * 100_000})
        reply = await asyncio.wait_for(comm.read(), 5)
        await comm.close()
        listener.stop()
        return reply

    assert _loop.run(main()) == {"op": "ping", "data": b"x" * 100_000}


def test_processes_cluster_on_the_asyncio_loop() -> None:
    """The choice reaches worker processes (they inherit the environment)."""
    code = ("from futurelab import Client\n"
            "with Client(n_workers=1, threads_per_worker=1, processes=True) as c:\n"
            "    import asyncio; print(type(c.loop).__module__)\n"
            "    print(c.submit(sum, [1, 2, 3]).result(timeout=30))\n")
    env = {**os.environ, _loop.ENV: "asyncio"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["asyncio.unix_events", "6"]
