"""Several hosts: scheduler, workers and client each in a network namespace of their own.

The test builds a small switched network (a bridge in one namespace, one veth pair per host,
addresses in 10.77.0.0/24 that exist only inside these namespaces), runs an authenticated
cluster across it, cuts one worker host off mid-run (``ip link set … down``) and checks that the
work completes on the others.  It needs root and iproute2; elsewhere it is skipped, saying why.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

SUBNET = "10.77.0"
HOSTS = {"s": 1, "w1": 2, "w2": 3, "c": 10}


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def can_make_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"flabprobe{os.getpid()}"
    try:
        sh("ip", "netns", "add", name)
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot create network namespaces here: {e}"
    sh("ip", "netns", "del", name)
    return None


class Network:
    """The namespaces, the bridge and the veth pairs of one test run."""

    def __init__(self) -> None:
        self.tag = f"{os.getpid() % 100000}"
        self.switch = f"flsw{self.tag}"
        self.ns = {h: f"fl{h}{self.tag}" for h in HOSTS}
        self.procs: list[subprocess.Popen[str]] = []

    def ip(self, host: str) -> str:
        return f"{SUBNET}.{HOSTS[host]}"

    def dev(self, host: str) -> str:
        return f"e{host}{self.tag}"[:15]

    def up(self) -> None:
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for host, ns in self.ns.items():
            sh("ip", "netns", "add", ns)
            inside, port = self.dev(host), f"p{host}{self.tag}"[:15]
            sh("ip", "link", "add", inside, "type", "veth", "peer", "name", port)
            sh("ip", "link", "set", inside, "netns", ns)
            sh("ip", "link", "set", port, "netns", self.switch)
            sh("ip", "-n", self.switch, "link", "set", port, "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", port, "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip(host)}/24", "dev", inside)
            sh("ip", "-n", ns, "link", "set", inside, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def run(self, host: str, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[host], sys.executable, *args],
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(proc)
        return proc

    def cut(self, host: str) -> None:
        sh("ip", "-n", self.ns[host], "link", "set", self.dev(host), "down")

    def down(self) -> None:
        for proc in self.procs:  # a clean stop first, so nannies take their workers along
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for ns in [*self.ns.values(), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@pytest.fixture
def net() -> Iterator[Network]:
    reason = can_make_namespaces()
    if reason:
        pytest.skip(reason)
    n = Network()
    try:
        n.up()
        yield n
    finally:
        n.down()


CLIENT = textwrap.dedent("""
    import sys, time
    from futurelab import Client, wait
    from futurelab.security import Security

    def work(i, *deps):
        time.sleep(0.05)
        return i + sum(deps)

    client = Client(sys.argv[1], security=Security.from_file(sys.argv[2]), timeout=30)
    deadline = time.time() + 60
    while len(client.scheduler_info()["workers"]) < 2:
        assert time.time() < deadline, "workers did not join"
        time.sleep(0.05)
    roots = [client.submit(work, i, pure=False) for i in range(40)]
    mids = [client.submit(work, 0, roots[i], roots[i + 1], pure=False) for i in range(39)]
    total = client.submit(sum, mids)
    wait(roots[:10], timeout=60)
    print("STARTED", flush=True)
    t0 = time.time()
    value = total.result(timeout=120)
    expected = sum(i + i + 1 for i in range(39))
    print("RESULT", value, expected, round(time.time() - t0, 2),
          sorted(w["name"] for w in client.scheduler_info()["workers"].values()), flush=True)
""")


def test_worker_host_cut_off_mid_run(net: Network, tmp_path: Path) -> None:
    secret = tmp_path / "cluster.secret"
    sched_addr = f"tcp://{net.ip('s')}:8786"
    sched = net.run("s", "-m", "futurelab", "scheduler", "--host", net.ip("s"), "--port", "8786",
                    "--auth-file", str(secret))
    assert sched.stdout is not None and "scheduler at" in sched.stdout.readline()
    for w in ("w1", "w2"):
        net.run(w, "-m", "futurelab", "worker", sched_addr, "--host", net.ip(w), "--name", w,
                "--auth-file", str(secret), "--log-level", "error")
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    client = net.run("c", str(script), sched_addr, str(secret))
    assert client.stdout is not None
    line = client.stdout.readline()
    assert line.startswith("STARTED"), line + client.stdout.read()
    t0 = time.monotonic()
    net.cut("w2")
    out = client.stdout.readline()
    client.wait(timeout=120)
    assert out.startswith("RESULT"), out + client.stdout.read()
    _, value, expected, *_rest = out.split()
    assert value == expected
    assert "'w1'" in out and "'w2'" not in out  # the cut host was dropped, w1 did the rest
    print(f"\n[netns] worker host cut off; work completed on the others "
          f"{time.monotonic() - t0:.1f} s later ({out.strip()})")
