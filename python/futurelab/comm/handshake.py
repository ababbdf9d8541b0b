"""The connection handshake: fixed-size, pure, and done before any byte is decoded.

::

    server → client   HELLO    b"FLAB" version flags nonce_s[32]            (38 bytes)
    client → server   PROOF    nonce_c[32] HMAC(secret, "C"+nonce_s+nonce_c) (64 bytes)
    server → client   CONFIRM  HMAC(secret, "S"+nonce_s+nonce_c)            (32 bytes)

``flags`` bit 0 says the server requires the secret.  Without a secret both MACs are zeros.
Both ends refuse a peer that disagrees about authentication, so a client holding a secret never
talks to an impostor that skips it.  Sizes are fixed: a reader asks the transport for exactly the
bytes still expected, so nothing past the handshake is ever read early.
"""
from __future__ import annotations

import hashlib
import hmac
import os

MAGIC = b"FLAB"
VERSION = 1
HELLO_SIZE = len(MAGIC) + 2 + 32
PROOF_SIZE = 64
CONFIRM_SIZE = 32
_ZERO = bytes(32)


class AuthenticationError(ConnectionError):
    """The peer failed the handshake (wrong or missing secret, or not a futurelab peer)."""


def _mac(secret: bytes | None, role: bytes, nonce_s: bytes, nonce_c: bytes) -> bytes:
    if secret is None:
        return _ZERO
    return hmac.new(secret, role + nonce_s + nonce_c, hashlib.sha256).digest()


class ServerHandshake:
    """The accepting side: greet, check the proof, confirm."""

    def __init__(self, secret: bytes | None) -> None:
        self.secret = secret
        self.nonce = os.urandom(32)

    def hello(self) -> bytes:
        flags = 1 if self.secret is not None else 0
        return MAGIC + bytes([VERSION, flags]) + self.nonce

    def check(self, proof: bytes) -> bytes:
        """Verify the client's proof; return the confirmation to send.

        Raises:
            AuthenticationError: the proof is wrong.
        """
        assert len(proof) == PROOF_SIZE
        nonce_c, mac = proof[:32], proof[32:]
        if not hmac.compare_digest(mac, _mac(self.secret, b"C", self.nonce, nonce_c)):
            raise AuthenticationError("wrong or missing secret")
        return _mac(self.secret, b"S", self.nonce, nonce_c)


class ClientHandshake:
    """The connecting side: read the greeting, prove, check the confirmation."""

    def __init__(self, secret: bytes | None, address: str) -> None:
        self.secret = secret
        self.address = address
        self.nonce = os.urandom(32)
        self._server_nonce = b""

    def proof(self, hello: bytes) -> bytes:
        """The proof to send in answer to the server's greeting.

        Raises:
            AuthenticationError: not a futurelab server, or it disagrees about authentication.
        """
        if len(hello) != HELLO_SIZE or not hello.startswith(MAGIC):
            raise AuthenticationError(f"{self.address} is not a futurelab server")
        version, flags = hello[4], hello[5]
        if version != VERSION:
            raise AuthenticationError(f"{self.address} speaks handshake version {version}, "
                                      f"this client {VERSION}")
        wants_secret = bool(flags & 1)
        if wants_secret and self.secret is None:
            raise AuthenticationError(
                f"{self.address} requires authentication: connect with the cluster's secret "
                f"(security=Security.from_file(PATH), or set $FUTURELAB_AUTH_FILE)")
        if not wants_secret and self.secret is not None:
            raise AuthenticationError(
                f"{self.address} does not authenticate although we hold a secret for it; "
                f"refusing to talk to it")
        self._server_nonce = hello[6:]
        return self.nonce + _mac(self.secret, b"C", self._server_nonce, self.nonce)

    def check(self, confirm: bytes) -> None:
        """Verify the server knows the secret too.

        Raises:
            AuthenticationError: it does not.
        """
        expected = _mac(self.secret, b"S", self._server_nonce, self.nonce)
        if not hmac.compare_digest(confirm, expected):
            raise AuthenticationError(f"{self.address} failed to prove it knows the secret")
