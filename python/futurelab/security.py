"""Who may talk to a cluster: a shared secret (HMAC challenge–response) and optional TLS.

Anyone who can talk to a scheduler or worker can run code there, so every TCP connection starts
with a handshake (:mod:`futurelab.comm.handshake`) before a single byte of it is decoded.  With a
secret, both ends prove they know it; without one, the handshake only agrees that neither side
expects it — which is allowed on loopback addresses only.

A LocalCluster of processes makes a fresh secret and keeps it in a file only its owner can read,
like Jupyter's connection files; the CLI takes ``--auth-file PATH`` (created when missing).

>>> sec = Security.generate()
>>> len(sec.secret)
32
"""
from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV_AUTH_FILE = "FUTURELAB_AUTH_FILE"


@dataclass(frozen=True)
class Security:
    """Credentials for connections: a shared secret and/or TLS files.

    Args:
        secret: the cluster's shared secret (None: no authentication; loopback only).
        tls_ca_file: CA bundle that peers' certificates must chain to (``tls://`` addresses).
        tls_cert: this end's certificate (PEM).
        tls_key: this end's private key (PEM).
    """

    secret: bytes | None = None
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    #: where the secret lives, if it came from (or went to) a file
    path: str | None = None

    @classmethod
    def generate(cls) -> Security:
        """A new random secret."""
        return cls(secret=os.urandom(32))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, create: bool = False) -> Security:
        """Read a secret file (hex); with ``create``, make one (mode 0600) if it is missing.

        Raises:
            FileNotFoundError: the file is missing and ``create`` is False.
            ValueError: the file does not hold a secret.
        """
        p = Path(path)
        if create and not p.exists():
            sec = cls.generate()
            sec.write(p)
            return cls(secret=sec.secret, path=str(p))
        text = p.read_text().strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{p} does not hold a futurelab secret (expected hex)") from None
        if len(secret) < 16:
            raise ValueError(f"the secret in {p} is too short (need at least 16 bytes)")
        return cls(secret=secret, path=str(p))

    @classmethod
    def from_env(cls) -> Security | None:
        """The credentials named by ``$FUTURELAB_AUTH_FILE``, if set."""
        path = os.environ.get(ENV_AUTH_FILE)
        return cls.from_file(path) if path else None

    def write(self, path: str | os.PathLike[str]) -> None:
        """Store the secret in ``path``, readable by its owner only."""
        assert self.secret is not None
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.secret.hex())
        os.chmod(p, 0o600)

    def to_temp_file(self) -> Security:
        """This secret, written to a fresh private temporary file (for child processes)."""
        fd, name = tempfile.mkstemp(prefix="futurelab-", suffix=".secret")
        os.close(fd)
        self.write(name)
        return Security(self.secret, self.tls_ca_file, self.tls_cert, self.tls_key, name)

    # ------------------------------------------------------------------ TLS
    def server_ssl_context(self) -> ssl.SSLContext:
        """The TLS context a ``tls://`` listener uses.

        Raises:
            ValueError: when no certificate and key were given.
        """
        if not (self.tls_cert and self.tls_key):
            raise ValueError("tls:// listeners need Security(tls_cert=..., tls_key=...)")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.tls_ca_file)
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        if self.tls_ca_file:
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def client_ssl_context(self) -> ssl.SSLContext:
        """The TLS context used to connect to ``tls://`` addresses."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.tls_ca_file)
        ctx.check_hostname = False  # clusters are addressed by IP; the CA pins identity
        if self.tls_cert and self.tls_key:
            ctx.load_cert_chain(self.tls_cert, self.tls_key)
        return ctx


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, security: Security | None, address: str) -> None:
    """Refuse to listen beyond loopback without authentication.

    Raises:
        PermissionError: naming the address and how to enable authentication.
    """
    if is_loopback(host) or (security is not None and security.secret is not None):
        return
    raise PermissionError(
        f"refusing to listen on {address} without authentication: anyone who can reach it "
        f"could run code here. Give a shared secret: `--auth-file PATH` on the command line "
        f"(created if missing, mode 0600), or security=Security.from_file(PATH) in Python.")


#: clusters started in this process, by scheduler address: a Client in the same process (the
#: same trust domain) finds the credentials of ``Client(cluster.scheduler_address)`` here
_known: dict[str, Security] = {}


def remember(address: str, security: Security | None) -> None:
    """Record the credentials of a scheduler started in this process."""
    if security is not None:
        _known[address] = security


def forget(address: str) -> None:
    _known.pop(address, None)


def lookup(address: str) -> Security | None:
    """Credentials for ``address``: a cluster of this process's, else ``$FUTURELAB_AUTH_FILE``."""
    return _known.get(address) or Security.from_env()
