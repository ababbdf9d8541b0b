"""10,000 malformed inputs against a scheduler's port: it stays up, small, and unfooled.

Half go to a scheduler that requires the cluster's secret (they die in the handshake), half to
one on loopback without a secret (they get past the handshake and hit the frame decoder and the
message dispatch).  Among them are pickles that would create a file if anyone unpickled them.
"""
from __future__ import annotations

import asyncio
import os
import random
import struct
from pathlib import Path

import msgpack
import psutil
import pytest
from _proc import free_port, start, stop

from futurelab import Client
from futurelab.protocol.frames import pack_frames
from futurelab.protocol.serialize import Opaque, dumps
from futurelab.security import Security

pytestmark = pytest.mark.timeout(300)

N_EACH = 5_000
CONCURRENCY = 64


class Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (self.path,))  # type: ignore[return-value]


def frames_bytes(frames: list[bytes]) -> bytes:
    return b"".join(bytes(f) for f in pack_frames(frames))


def payloads(rng: random.Random, marker: str) -> list[bytes]:
    """Malformed inputs in kinds; each kind equally often."""
    task = {"key": "k", "func": Opaque(Evil(marker)), "args": Opaque(())}
    msg = {"op": "update-graph", "client": "x", "tasks": [task], "keys": ["k"]}
    evil = frames_bytes([bytes(f) for f in dumps(msg)])
    kinds = [
        lambda: rng.randbytes(rng.randint(1, 300)),                          # random bytes
        lambda: struct.pack("<Q", rng.randint(2, 2**63)) + rng.randbytes(8),  # absurd count
        lambda: struct.pack("<QQ", 1, rng.randint(2**33, 2**62)),            # lying length
        lambda: frames_bytes([b"\xc1" + rng.randbytes(rng.randint(0, 40))]),  # not msgpack
        lambda: frames_bytes([msgpack.packb(rng.choice([1, "x", [1, 2], None]))]),  # not a dict
        lambda: frames_bytes([msgpack.packb({"op": rng.choice(["nope", "register-client",
                                                              "scatter-done", "who_has"]),
                                             "keys": rng.randint(0, 5)})]),  # wrong shapes
        lambda: frames_bytes([msgpack.packb({"op": "who_has", "keys": [[]] * 3})]),
        lambda: evil,                                                         # a pickle bomb
        lambda: evil[: rng.randint(1, len(evil) - 1)],                        # cut short
    ]
    return [kinds[i % len(kinds)]() for i in range(N_EACH)]


async def attack(port: int, data: list[bytes], handshake: bool) -> int:
    sem = asyncio.Semaphore(CONCURRENCY)
    sent = 0

    async def one(blob: bytes) -> None:
        nonlocal sent
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 10)
                if handshake:
                    await asyncio.wait_for(reader.readexactly(38), 10)
                    writer.write(bytes(64))  # the no-secret proof
                    await asyncio.wait_for(reader.readexactly(32), 10)
                else:
                    await asyncio.wait_for(reader.readexactly(38), 10)
                    writer.write(bytes(64))  # a wrong proof for a secret-protected port
                writer.write(blob)
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.read(1024), 0.2)
                except (asyncio.TimeoutError, TimeoutError):
                    pass
                writer.close()
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                pass  # dropped by the server: what we expect
            sent += 1

    await asyncio.gather(*(one(b) for b in data))
    return sent


def inc(x: int) -> int:
    return x + 1


@pytest.mark.parametrize("authenticated", [True, False], ids=["with-secret", "loopback-open"])
def test_fuzz_scheduler_port(tmp_path: Path, authenticated: bool) -> None:
    marker = str(tmp_path / "unpickled")
    secret_file = tmp_path / "secret"
    port = free_port()
    args = ["scheduler", "--port", str(port), "--log-level", "error"]
    if authenticated:
        args += ["--auth-file", str(secret_file)]
    sched = start(*args)
    try:
        assert "scheduler at" in sched.next_line()
        proc = psutil.Process(sched.pid)
        rss_start = proc.memory_info().rss
        data = payloads(random.Random(1234 + authenticated), marker)
        # a first fifth warms the allocator up; the rest must not grow memory much further
        warm, rest = data[: N_EACH // 5], data[N_EACH // 5:]
        sent = asyncio.run(attack(port, warm, handshake=not authenticated))
        rss_warm = proc.memory_info().rss
        sent += asyncio.run(attack(port, rest, handshake=not authenticated))
        assert sent == N_EACH
        assert sched.poll() is None, "the scheduler died"
        rss_end = proc.memory_info().rss
        kind = "with secret" if authenticated else "open loopback"
        print(f"\n[fuzz] {N_EACH} malformed inputs ({kind}): scheduler alive, RSS "
              f"+{(rss_warm - rss_start) / 2**20:.1f} MiB over the first {len(warm)}, "
              f"+{(rss_end - rss_warm) / 2**20:.1f} MiB over the next {len(rest)}")
        assert rss_end - rss_start < 128 * 2**20
        assert rss_end - rss_warm < 16 * 2**20  # bounded: no growth per connection
        assert not os.path.exists(marker), "something was unpickled"
        security = Security.from_file(secret_file) if authenticated else None
        with Client(f"tcp://127.0.0.1:{port}", security=security, timeout=10) as client:
            worker = start("worker", f"tcp://127.0.0.1:{port}", "--death-timeout", "5",
                           *(["--auth-file", str(secret_file)] if authenticated else []))
            try:
                assert client.submit(inc, 1).result(timeout=60) == 2  # served right after
            finally:
                stop(worker)
    finally:
        stop(sched)
