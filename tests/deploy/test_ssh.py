"""SSHCluster and ``futurelab ssh`` against real sshd servers, one per network namespace.

The hosts (``_sshnet.SSHNet``) run Debian's OpenSSH server with key authentication (keys made
by the test); futurelab's scheduler and workers are started over SSH exactly as on real
machines.  Checked: the spec's examples run across the hosts, the secret never shows in a
command line or an environment, a host cut off has its work recomputed elsewhere, bad hosts,
keys and Pythons give clear errors within the timeout, and nothing is left running after.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from _proc import ENV
from _sshnet import SSHNet, unavailable
from _util import wait_for

from futurelab import Client, Queue, Variable, as_completed, wait, worker_client
from futurelab.deploy import ClusterError
from futurelab.security import Security

pytestmark = pytest.mark.timeout(300)
asyncssh = pytest.importorskip("asyncssh", reason="the ssh extra (asyncssh) is not installed")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHNet]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    n = SSHNet(3, tmp_path_factory.mktemp("ssh"))
    try:
        n.up()
        yield n
    finally:
        n.down()


def no_futurelab_left(net: SSHNet, timeout: float = 30) -> None:
    wait_for(lambda: not net.futurelab_processes(), timeout=timeout,
             what=f"no futurelab process left on the hosts ({net.futurelab_processes()})")


def cluster_of(net: SSHNet, **kwargs: object) -> object:
    from futurelab.deploy.ssh import SSHCluster
    kwargs.setdefault("connect_options", net.connect_options())
    kwargs.setdefault("scheduler_options", {"port": 0, "dashboard_address": None})
    kwargs.setdefault("timeout", 20)
    return SSHCluster([net.ip(h) for h in net.hosts], **kwargs)


def inc(x: int) -> int:
    return x + 1


def add(x: int, y: int) -> int:
    return x + y


def host_of_worker(_: object = None) -> str:
    from futurelab import get_worker
    return str(get_worker().address.split("://")[1].rsplit(":", 1)[0])


def fib(n: int) -> int:
    if n < 2:
        return n
    with worker_client() as client:  # seceded while it waits: no thread is held
        a, b = client.submit(fib, n - 1), client.submit(fib, n - 2)
        return int(a.result(timeout=60)) + int(b.result(timeout=60))


def test_spec_examples_across_the_hosts(net: SSHNet) -> None:
    with cluster_of(net, worker_options={"nthreads": 2}) as cluster, \
            Client(cluster) as client:  # type: ignore[arg-type]
        hosts = {net.ip("h1"), net.ip("h2")}
        assert {a.split("://")[1].rsplit(":", 1)[0]
                for a in client.scheduler_info()["workers"]} == hosts
        # submit / result, dependencies, map / gather
        a = client.submit(inc, 10)
        b = client.submit(inc, 20)
        assert client.submit(add, a, b).result(timeout=30) == 32
        assert client.gather(client.map(inc, range(100))) == list(range(1, 101))
        # the work ran on both worker hosts
        ran_on = client.gather(client.map(host_of_worker, range(40), pure=False))
        assert set(ran_on) == hosts
        # scatter, as_completed, wait
        [data] = client.scatter([list(range(10))])
        assert client.submit(sum, data).result(timeout=30) == 45
        futures = client.map(inc, range(10), key=[f"ac-{i}" for i in range(10)])
        assert sorted(f.result() for f in as_completed(futures)) == list(range(1, 11))
        done, not_done = wait(futures, timeout=30)
        assert len(done) == 10 and not not_done
        # tasks that submit tasks, and coordination primitives across hosts
        assert client.submit(fib, 8).result(timeout=60) == 21
        q = Queue("ssh-q")
        client.gather([client.submit(lambda i: Queue("ssh-q").put(i), i, pure=False)
                       for i in range(5)])
        assert sorted(q.get(timeout=30) for _ in range(5)) == list(range(5))
        v = Variable("ssh-v")
        v.set(client.submit(inc, 41))
        assert v.get(timeout=30).result(timeout=30) == 42
        # errors come back with their type
        with pytest.raises(ZeroDivisionError):
            client.submit(lambda: 1 / 0).result(timeout=30)
        # logs of the remote scheduler and workers
        logs = cluster.get_logs()  # type: ignore[attr-defined]
        assert "register worker" in logs["Scheduler"]
        assert all("registered with" in logs[w] for w in client.scheduler_info()["workers"])
        # the secret is nowhere in a command line or an environment
        secret = cluster.secret_hex  # type: ignore[attr-defined]
        for proc in psutil.process_iter(["cmdline", "environ"]):
            text = " ".join(proc.info["cmdline"] or []) + str(proc.info["environ"] or "")
            assert secret not in text, proc.info["cmdline"]
    no_futurelab_left(net)


def test_scale_and_adapt_over_ssh(net: SSHNet) -> None:
    with cluster_of(net, worker_options={"n_workers": 0}) as cluster, \
            Client(cluster) as client:  # type: ignore[arg-type]
        times = []
        for n in (2, 4):
            t0 = time.monotonic()
            cluster.scale(n)  # type: ignore[attr-defined]
            cluster.wait_for_workers(n, timeout=60)  # type: ignore[attr-defined]
            times.append(time.monotonic() - t0)
        assert len(client.scheduler_info()["workers"]) == 4
        print(f"\n[ssh] scale(2) from 0: {times[0]:.2f} s; scale(4) from 2: {times[1]:.2f} s")
        data = client.scatter(list(range(8)))  # results that must survive the shrink
        cluster.scale(1)  # type: ignore[attr-defined]
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, timeout=60,
                 what="three workers retired")
        assert client.gather(data) == list(range(8))
        # adapt: the same policy as everywhere, carried out over SSH
        adaptive = cluster.adapt(minimum=1, maximum=3, interval="200ms",  # type: ignore
                                 wait_count=3, target_duration="1s")
        futures = client.map(nap, range(30), pure=False)
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 3, timeout=60,
                 what="adapt grew to 3 workers")
        assert client.gather(futures) == list(range(30))
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, timeout=60,
                 what="adapt shrank back to 1 worker")
        assert client.gather(data) == list(range(8))
        adaptive.stop()
    no_futurelab_left(net)


def nap(i: int) -> int:
    time.sleep(0.2)
    return i


def test_host_cut_off_its_work_is_recomputed(net: SSHNet) -> None:
    def slow(i: int, *deps: int) -> int:
        import time as t
        t.sleep(0.05)
        return i + sum(deps)

    try:
        with cluster_of(net, worker_options={"nthreads": 2}) as cluster, \
                Client(cluster) as client:  # type: ignore[arg-type]
            roots = [client.submit(slow, i, pure=False) for i in range(40)]
            mids = [client.submit(slow, 0, roots[i], roots[i + 1], pure=False) for i in range(39)]
            total = client.submit(sum, mids)
            wait(roots[:10], timeout=60)
            t0 = time.monotonic()
            net.cut("h2")
            assert total.result(timeout=120) == sum(i + i + 1 for i in range(39))
            print(f"\n[ssh] host h2 cut off; the work finished on h1 "
                  f"{time.monotonic() - t0:.1f} s later")
            wait_for(lambda: all(net.ip("h2") not in a
                                 for a in client.scheduler_info()["workers"]),
                     timeout=60, what="the cut-off worker removed")
        # sshd on h2 drops the silent session: its processes exit on their own
        no_futurelab_left(net, timeout=60)
    finally:  # the other tests use h2 too
        subprocess.run(["ip", "-n", net.ns["h2"], "link", "set", f"eh2{net.tag}"[:15], "up"],
                       check=True, capture_output=True, timeout=30)


@pytest.mark.parametrize("case", ["unreachable", "wrong-key", "no-python"])
def test_bad_hosts_fail_clearly_and_leave_nothing(net: SSHNet, case: str) -> None:
    kwargs: dict[str, object] = {"timeout": 5}
    hosts = [net.ip(h) for h in net.hosts]
    if case == "unreachable":
        hosts[2] = net.unused_ip
        expect, host = "no answer within|cannot connect", net.unused_ip
    elif case == "wrong-key":
        kwargs["connect_options"] = [net.connect_options(), net.connect_options(),
                                     net.connect_options(net.wrong_key)]
        expect, host = "permission denied", net.ip("h2")
    else:
        kwargs["remote_python"] = [sys.executable, sys.executable, "/nonexistent/python3"]
        expect, host = "exited with code 127.*No such file", net.ip("h2")
    from futurelab.deploy.ssh import SSHCluster
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=expect) as info:
        SSHCluster(hosts, connect_options=kwargs.pop("connect_options", net.connect_options()),
                   scheduler_options={"port": 0, "dashboard_address": None},
                   **kwargs)  # type: ignore[arg-type]
    assert host in str(info.value)
    assert time.monotonic() - t0 < 30
    no_futurelab_left(net)


def test_cli_futurelab_ssh(net: SSHNet, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    args = [sys.executable, "-m", "futurelab", "ssh", *(net.ip(h) for h in net.hosts),
            "--ssh-private-key", str(net.key), "--ssh-username", "root",
            "--no-host-key-check", "--auth-file", str(secret), "--scheduler-port", "0",
            "--dashboard-address", "none", "--nthreads", "2", "--timeout", "20"]
    proc = subprocess.Popen(args, env=ENV, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("futurelab scheduler at tcp://"), line + proc.stderr.read()
        address = line.split(" at ")[1].strip()
        assert os.stat(secret).st_mode & 0o777 == 0o600
        with Client(address, security=Security.from_file(secret), timeout=20) as client:
            client.wait_for_workers(2, timeout=30)
            assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
    no_futurelab_left(net)


def test_remote_processes_end_when_the_controlling_process_dies(net: SSHNet,
                                                                tmp_path: Path) -> None:
    args = [sys.executable, "-m", "futurelab", "ssh", *(net.ip(h) for h in net.hosts),
            "--ssh-private-key", str(net.key), "--no-host-key-check", "--scheduler-port", "0",
            "--dashboard-address", "none", "--timeout", "20"]
    proc = subprocess.Popen(args, env=ENV, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("futurelab scheduler at ")
    assert net.futurelab_processes()
    proc.kill()  # no clean shutdown: the SSH sessions just drop
    proc.wait(timeout=30)
    no_futurelab_left(net)


def test_async_ssh_cluster(net: SSHNet) -> None:
    import asyncio

    from futurelab.deploy.ssh import SSHCluster

    async def main() -> None:
        async with SSHCluster([net.ip(h) for h in net.hosts],
                              connect_options=net.connect_options(),
                              scheduler_options={"port": 0, "dashboard_address": None},
                              timeout=20, asynchronous=True) as cluster:
            async with Client(cluster, asynchronous=True) as client:
                assert await client.submit(inc, 1) == 2
                await cluster.scale(3)
                await cluster.wait_for_workers(3, timeout=30)
                logs = await cluster.get_logs(cluster=False, workers=False)
                assert "register worker" in logs["Scheduler"]
    asyncio.run(main())
    no_futurelab_left(net)
