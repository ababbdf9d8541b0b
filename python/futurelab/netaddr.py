"""Which address of this machine to listen on, when loopback will not do.

A worker started by a batch job does not know in advance which node it lands on, so the job
script cannot name its address: ``futurelab worker --host auto`` listens on the address this
node uses to reach the scheduler, and ``--interface ib0`` on that interface's address.  A
batch cluster's scheduler uses the same helpers for its own address.

>>> interface_address("lo")
'127.0.0.1'
"""
from __future__ import annotations

import socket


def interface_address(interface: str) -> str:
    """The IPv4 address of a network interface (``eth0``, ``ib0``).

    Raises:
        ValueError: naming the interface when it does not exist or has no IPv4 address.
    """
    import psutil
    addrs = psutil.net_if_addrs()
    if interface not in addrs:
        raise ValueError(f"network interface {interface!r} not found; this host has "
                         f"{', '.join(sorted(addrs))}")
    for a in addrs[interface]:
        if a.family == socket.AF_INET:
            return str(a.address)
    raise ValueError(f"network interface {interface!r} has no IPv4 address")


def address_towards(target: str) -> str:
    """The local address this host's routing uses to reach ``target`` (``tcp://host:port``).

    A connected UDP socket picks its source address from the routing table and sends nothing.

    Raises:
        OSError: no route to the target.
    """
    location = target.split("://", 1)[-1]
    host, _, port = location.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((host, int(port or 1)))
        return str(s.getsockname()[0])


def public_host() -> str:
    """This machine's address as other machines know it: its hostname's first non-loopback
    IPv4 address, else ``127.0.0.1`` (a machine known only by loopback)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return "127.0.0.1"
    for info in infos:
        address = str(info[4][0])
        if not address.startswith("127."):
            return address
    return "127.0.0.1"
