"""Liveness (issue 21): a vanished host ends every wait on it within seconds; a busy process none.

"Busy" here is a task that holds the GIL in a C call (``ctypes.PyDLL`` keeps the GIL during the
call), so its process can neither send a heartbeat nor read a socket: only its kernel answers.
The figures printed (run with ``-s``) are for the reliability note; the assertions only bound a
hang, never a speed.
"""
from __future__ import annotations

import ctypes
import logging
import os
import textwrap
import time
from pathlib import Path

import pytest
from _netns import Network

from futurelab import Client

pytestmark = pytest.mark.timeout(180)

GIL_SECONDS = 12  # beyond the scheduler's heartbeat deadline (5 s) and the worker's (10 s)


def hold_gil(seconds: int, log: str) -> int:
    """Hold the GIL for ``seconds`` in one C call, after noting this run in ``log``."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    ctypes.PyDLL(None).sleep(seconds)  # PyDLL: the GIL stays held during the call
    return seconds


@pytest.mark.parametrize("processes", [True, False], ids=["processes", "threads"])
def test_a_task_holding_the_gil_is_busy_not_dead(processes: bool, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "runs"
    caplog.set_level(logging.WARNING, logger="futurelab")
    with Client(n_workers=1, threads_per_worker=1, processes=processes,
                dashboard_address=None) as client:
        before = client.scheduler_info()["workers"]
        t0 = time.monotonic()
        future = client.submit(hold_gil, GIL_SECONDS, str(log), pure=False)
        assert future.result(timeout=120) == GIL_SECONDS
        elapsed = time.monotonic() - t0
        after = client.scheduler_info()["workers"]
        assert {a: w["pid"] for a, w in after.items()} == \
               {a: w["pid"] for a, w in before.items()}, "the worker was replaced"
        # one run: the task was never rescheduled because its worker was thought dead
        assert len(log.read_text().split()) == 1
        removals = [r.getMessage() for r in caplog.records if "removing it" in r.getMessage()
                    or "lost its scheduler" in r.getMessage()]
        assert not removals, removals
        print(f"\n[liveness] {GIL_SECONDS} s GIL hold ({'processes' if processes else 'threads'})"
              f": result after {elapsed:.1f} s, worker kept, task ran once")


SERVER = textwrap.dedent("""
    import asyncio, ctypes, sys
    from futurelab.comm import listen
    from futurelab.security import Security

    async def main():
        async def handle(comm):
            while True:
                msg = await comm.read()
                if msg.get("hold"):
                    ctypes.PyDLL(None).sleep(msg["hold"])   # busy: the GIL held, nothing read
                    await comm.write({"status": "OK", "held": msg["hold"]})
                else:
                    print("GOT", flush=True)                # and never answers
        listener = await listen(f"tcp://{sys.argv[1]}:9001", handle,
                                Security.from_file(sys.argv[2], create=True))
        print("LISTENING", flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main())
""")

REQUESTER = textwrap.dedent("""
    import asyncio, sys, time
    from futurelab.rpc import ConnectionPool
    from futurelab.security import Security

    async def main():
        pool = ConnectionPool(security=Security.from_file(sys.argv[2]))
        address = f"tcp://{sys.argv[1]}:9001"
        t0 = time.monotonic()
        held = await pool.request(address, {"op": "x", "hold": 12})   # busy: must wait it out
        print("BUSY-ANSWERED", held["held"], round(time.monotonic() - t0, 1), flush=True)
        print("WAITING", flush=True)
        t0 = time.monotonic()
        try:
            await pool.request(address, {"op": "x"})
        except OSError as e:
            print("ENDED", round(time.monotonic() - t0, 1), type(e).__name__, e, flush=True)
    asyncio.run(main())
""")


def test_a_request_to_a_vanished_host_ends_one_to_a_busy_one_waits(net: Network,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "requester.py").write_text(REQUESTER)
    secret = str(tmp_path / "secret")
    server = net.run("w1", str(tmp_path / "server.py"), net.ip("w1"), secret)
    line = server.next_line()
    assert line.startswith("LISTENING"), line + server.rest()
    requester = net.run("c", str(tmp_path / "requester.py"), net.ip("w1"), secret)
    busy = requester.line_starting("BUSY-ANSWERED", timeout=60)
    assert busy.startswith("BUSY-ANSWERED 12"), busy + requester.rest()
    assert requester.line_starting("WAITING").startswith("WAITING")
    assert server.next_line().startswith("GOT")  # the request arrived: now the reply never will
    t0 = time.monotonic()
    net.cut("w1")
    ended = requester.line_starting("ENDED", timeout=60)
    assert ended.startswith("ENDED"), ended + requester.rest()
    assert "peer gone" in ended, ended
    print(f"\n[liveness] busy peer (12 s GIL hold) answered: {busy.split()[2]} s; request to a "
          f"cut-off host ended {time.monotonic() - t0:.1f} s after the cut: {ended.strip()}")
