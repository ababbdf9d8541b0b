"""Authentication: the handshake, refusing strangers, secrets on disk, TLS."""
from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import futurelab
from futurelab.comm import connect, listen
from futurelab.comm import tcp as tcp_mod
from futurelab.comm.handshake import AuthenticationError, ClientHandshake, ServerHandshake
from futurelab.scheduler.server import Scheduler
from futurelab.security import Security, check_bind, is_loopback

pytestmark = pytest.mark.timeout(60)


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """What the peer sends until it drops us (a reset counts as dropping)."""
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return b""


async def echo(comm: object) -> None:
    msg = await comm.read()  # type: ignore[attr-defined]
    await comm.write(msg)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- the pure handshake
def test_handshake_pure_round_trip() -> None:
    secret = os.urandom(32)
    server, client = ServerHandshake(secret), ClientHandshake(secret, "tcp://x")
    confirm = server.check(client.proof(server.hello()))
    client.check(confirm)  # both proved they know the secret


def test_handshake_pure_rejections() -> None:
    server = ServerHandshake(b"s" * 32)
    with pytest.raises(AuthenticationError, match="requires authentication"):
        ClientHandshake(None, "tcp://x").proof(server.hello())
    with pytest.raises(AuthenticationError, match="wrong or missing secret"):
        server.check(ClientHandshake(b"t" * 32, "tcp://x").proof(server.hello()))
    open_server = ServerHandshake(None)
    with pytest.raises(AuthenticationError, match="does not authenticate"):
        ClientHandshake(b"s" * 32, "tcp://x").proof(open_server.hello())
    with pytest.raises(AuthenticationError, match="not a futurelab server"):
        ClientHandshake(None, "tcp://x").proof(b"HTTP/1.1 200 OK\r\n" + bytes(21))


# ---------------------------------------------------------------------- over sockets
def test_right_secret_connects_wrong_or_none_refused() -> None:
    sec = Security.generate()

    async def main() -> None:
        listener = await listen("tcp://127.0.0.1:0", echo, sec)
        comm = await connect(listener.address, security=sec)
        await comm.write({"x": 1})
        assert await comm.read() == {"x": 1}
        with pytest.raises(AuthenticationError, match="requires authentication"):
            await connect(listener.address, timeout=5)
        with pytest.raises(OSError):  # AuthenticationError, or closed during the handshake
            await connect(listener.address, timeout=5, security=Security.generate())
        listener.stop()

    run(main())


def test_unauthenticated_pickle_is_never_unpickled(tmp_path: Path) -> None:
    """A stranger's pickle that would create a file if unpickled never is."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    from futurelab.protocol.frames import pack_frames
    from futurelab.protocol.serialize import Opaque, dumps

    payload = b"".join(pack_frames(dumps({"op": "register-client", "client": "x",
                                          "evil": Opaque(Evil())})))

    async def main() -> None:
        sched = await Scheduler("tcp://127.0.0.1:0", security=Security.generate()).start()
        host, port = sched.address.removeprefix("tcp://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        await reader.readexactly(38)  # the greeting; we do not know the secret
        writer.write(bytes(64) + payload)  # a bogus proof, then the pickle
        assert await read_all(reader) == b""  # dropped
        writer.close()
        assert not sched.state.clients.keys() - {"fire-and-forget"}
        await sched.close()

    run(main())
    assert not marker.exists()


def test_silent_connections_time_out_and_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tcp_mod, "HANDSHAKE_TIMEOUT", 0.3)
    monkeypatch.setattr(tcp_mod, "MAX_PENDING_HANDSHAKES", 5)

    async def main() -> None:
        listener = await listen("tcp://127.0.0.1:0", echo, Security.generate())
        host, port = listener.address.removeprefix("tcp://").rsplit(":", 1)
        silent = [await asyncio.open_connection(host, int(port)) for _ in range(8)]
        # beyond the cap, connections are dropped at once; the others when their time is up
        for reader, writer in silent:
            data = await read_all(reader)
            assert len(data) in (0, 38)  # dropped at once, or greeted then dropped
            writer.close()
        assert listener.pending == 0  # type: ignore[attr-defined]
        listener.stop()

    run(main())


def test_binding_beyond_loopback_needs_a_secret() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    check_bind("127.0.0.1", None, "tcp://127.0.0.1:1")
    check_bind("0.0.0.0", Security.generate(), "tcp://0.0.0.0:1")
    with pytest.raises(PermissionError, match="--auth-file"):
        check_bind("0.0.0.0", None, "tcp://0.0.0.0:1")


def test_cli_refuses_public_bind_without_auth() -> None:
    out = subprocess.run([sys.executable, "-m", "futurelab", "scheduler", "--host", "0.0.0.0",
                          "--port", "0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "without authentication" in out.stderr and "--auth-file" in out.stderr


def test_local_cluster_secret_file_is_private_and_removed() -> None:
    with futurelab.LocalCluster(n_workers=1, threads_per_worker=1) as cluster:
        path = cluster.security.path  # type: ignore[union-attr]
        assert path is not None
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with futurelab.Client(cluster.scheduler_address, timeout=10) as c:  # same process
            assert c.submit(sum, [1, 2]).result(timeout=30) == 3
    assert not os.path.exists(path)


def test_cli_cluster_with_auth_file(tmp_path: Path) -> None:
    from _proc import free_port, start, stop

    secret = tmp_path / "cluster.secret"
    port = free_port()
    sched = start("scheduler", "--port", str(port), "--auth-file", str(secret))
    try:
        assert "futurelab scheduler at" in sched.next_line()
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600  # created by the scheduler
        worker = start("worker", f"tcp://127.0.0.1:{port}", "--auth-file", str(secret))
        try:
            sec = Security.from_file(secret)
            with futurelab.Client(f"tcp://127.0.0.1:{port}", security=sec, timeout=10) as c:
                assert c.submit(sum, [2, 3]).result(timeout=30) == 5
            with pytest.raises(AuthenticationError):
                futurelab.Client(f"tcp://127.0.0.1:{port}", timeout=5)
        finally:
            assert stop(worker) == 0
    finally:
        assert stop(sched) == 0


def test_tls_transport(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=futurelab-test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    sec = Security(secret=os.urandom(32), tls_ca_file=str(cert), tls_cert=str(cert),
                   tls_key=str(key))

    async def main() -> None:
        listener = await listen("tls://127.0.0.1:0", echo, sec)
        assert listener.address.startswith("tls://")
        comm = await connect(listener.address, security=sec)
        await comm.write({"secret": "stuff"})
        assert await comm.read() == {"secret": "stuff"}
        listener.stop()

    run(main())
