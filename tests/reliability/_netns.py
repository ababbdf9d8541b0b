"""Test hosts in network namespaces: a small switched network that exists only for one test.

:class:`Network` builds a bridge in one namespace and one veth pair per host, with addresses in
10.77.0.0/24 that exist only inside these namespaces; :meth:`Network.run` starts a Python process
"on" a host; :meth:`Network.cut` takes a host's link down (packets vanish: its peers see no FIN,
no RST — a host powered off or cut off); :meth:`Network.blackhole` drops every packet the host
sends or receives while the link stays up.  Needs root and iproute2; the ``net`` fixture skips,
saying why, elsewhere.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from _proc import Proc, drain

SUBNET = "10.77.0"
HOSTS = {"s": 1, "w1": 2, "w2": 3, "w3": 4, "c": 10}


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
        self.procs: list[Proc] = []

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

    def run(self, host: str, *args: str) -> Proc:
        """``python *args`` on ``host``; read its output with ``proc.next_line(timeout)``."""
        proc = Proc(["ip", "netns", "exec", self.ns[host], sys.executable, *args],
                    text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        drain(proc)
        self.procs.append(proc)
        return proc

    def cut(self, host: str) -> None:
        """Take the host's link down: nothing reaches it or leaves it, and nobody is told."""
        sh("ip", "-n", self.ns[host], "link", "set", self.dev(host), "down")

    def blackhole(self, host: str) -> None:
        """Drop everything the host sends while its link stays up: its peers' packets still
        arrive, but no answer, no acknowledgement ever leaves (a blackhole route over every
        address of the test network but its own)."""
        sh("ip", "-n", self.ns[host], "route", "add", "blackhole", f"{SUBNET}.0/25")

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


