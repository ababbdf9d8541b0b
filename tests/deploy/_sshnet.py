"""Hosts for SSH tests: one network namespace and one real sshd (Debian's) per host.

A bridge in a namespace of its own joins the hosts (a veth pair each) and this test process,
which keeps one end of another veth pair in its own namespace, at ``.254`` of the subnet: the
test talks to the hosts the way a laptop talks to a group of machines.  Each sshd listens on
its host's address, accepts only the key the test generates, and drops a session whose client
stays silent for 3 s (so a host cut off does not keep its processes).  Names and the subnet
include this process's pid: two runs never collide.  Needs root, iproute2 and openssh-server
(``.ci/run`` installs it); elsewhere the tests are skipped, saying why.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

SSHD = "/usr/sbin/sshd"


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def unavailable() -> str | None:
    """Why SSH hosts cannot be built here, or None."""
    if os.geteuid() != 0:
        return "network namespaces and sshd need root"
    for tool in ("ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.path.exists(SSHD):
        return "openssh-server is not installed (.ci/run installs it)"
    name = f"flsshprobe{os.getpid()}"
    try:
        sh("ip", "netns", "add", name)
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot create network namespaces here: {e}"
    sh("ip", "netns", "del", name)
    return None


def keygen(path: Path) -> Path:
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path))
    return path


class SSHNet:
    """Namespaced hosts ``h0, h1, …`` with an sshd each, reachable from this process."""

    def __init__(self, n_hosts: int, tmp: Path) -> None:
        pid = os.getpid()
        self.tag = str(pid % 100000)
        self.subnet = f"10.{100 + pid % 100}.{(pid // 100) % 250}"
        self.tmp = tmp
        self.hosts = [f"h{i}" for i in range(n_hosts)]
        self.ns = {h: f"fs{h}x{self.tag}" for h in self.hosts}
        self.switch = f"fssw{self.tag}"
        self.root_dev = f"fsr{self.tag}"
        self.sshd: dict[str, subprocess.Popen[bytes]] = {}
        self.key = keygen(tmp / "client_key")
        self.wrong_key = keygen(tmp / "wrong_key")
        self.host_key = keygen(tmp / "host_key")
        (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())

    def ip(self, host: str) -> str:
        return f"{self.subnet}.{self.hosts.index(host) + 1}"

    @property
    def unused_ip(self) -> str:
        """An address on the subnet where no host answers."""
        return f"{self.subnet}.200"

    def connect_options(self, key: Path | None = None) -> dict[str, object]:
        return {"known_hosts": None, "username": "root",
                "client_keys": [str(key or self.key)], "agent_path": None}

    # ------------------------------------------------------------------ build / tear down
    def up(self) -> None:
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        self._plug(None, self.root_dev, f"{self.subnet}.254")
        for host in self.hosts:
            sh("ip", "netns", "add", self.ns[host])
            self._plug(self.ns[host], f"e{host}{self.tag}"[:15], self.ip(host))
            sh("ip", "-n", self.ns[host], "link", "set", "lo", "up")
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        for host in self.hosts:
            self.start_sshd(host)
        for host in self.hosts:
            self._wait_port(self.ip(host), 22)

    def _plug(self, ns: str | None, dev: str, address: str) -> None:
        port = f"p{dev}"[:15]
        sh("ip", "link", "add", dev, "type", "veth", "peer", "name", port)
        sh("ip", "link", "set", port, "netns", self.switch)
        sh("ip", "-n", self.switch, "link", "set", port, "master", "br0")
        sh("ip", "-n", self.switch, "link", "set", port, "up")
        where = ["-n", ns] if ns else []
        if ns:
            sh("ip", "link", "set", dev, "netns", ns)
        sh("ip", *where, "addr", "add", f"{address}/24", "dev", dev)
        sh("ip", *where, "link", "set", dev, "up")

    def start_sshd(self, host: str) -> None:
        config = self.tmp / f"sshd_{host}.conf"
        config.write_text("\n".join([
            "Port 22", f"ListenAddress {self.ip(host)}", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.tmp / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PidFile none",
            "ClientAliveInterval 1", "ClientAliveCountMax 3", "LogLevel ERROR",
            "MaxSessions 50", "MaxStartups 50", ""]))
        self.sshd[host] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[host], SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_port(self, ip: str, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((ip, port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"sshd at {ip}:{port} did not start") from None
                time.sleep(0.02)

    def cut(self, host: str) -> None:
        """Take ``host`` off the network (its link goes down)."""
        sh("ip", "-n", self.ns[host], "link", "set", f"e{host}{self.tag}"[:15], "down")

    def pids(self, host: str) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.ns[host]], capture_output=True,
                             text=True, timeout=30).stdout
        return [int(p) for p in out.split()]

    def futurelab_processes(self) -> dict[str, list[str]]:
        """Command lines of futurelab processes on each host (none when all is stopped)."""
        found: dict[str, list[str]] = {}
        for host in self.hosts:
            for pid in self.pids(host):
                try:
                    cmd = " ".join(psutil.Process(pid).cmdline())
                except psutil.Error:
                    continue
                if "futurelab" in cmd:
                    found.setdefault(host, []).append(cmd)
        return found

    def down(self) -> None:
        for host in self.hosts:  # leftovers (a failed test): kill what runs in the namespace
            for pid in self.pids(host):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.sshd.values():
            proc.kill()
            proc.wait(timeout=10)
        for ns in [*self.ns.values(), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.root_dev], capture_output=True, timeout=30)
