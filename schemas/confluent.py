"""`ConfluentRegistry`: Confluent Schema Registry over its REST API, with only `urllib`.

Endpoints used::

    POST /compatibility/subjects/{subject}/versions/latest?verbose=true   before registering
    POST /subjects/{subject}/versions                                       register -> {"id"}
    GET  /schemas/ids/{id}                                                  schema by id
    GET  /subjects/{subject}/versions/latest                                latest version

The compatibility level itself is the server's (per subject or global); when the server says
"incompatible", the local checker is also run against the latest version so the error names the
field, whatever the server's wording.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from schemas.avsc import Schema, parse, to_json
from schemas.compat import compatibility_problems
from schemas.exceptions import (
    IncompatibleSchemaError,
    RegistryError,
    RegistryUnavailableError,
    SchemaLoadError,
    SchemaNotFoundError,
)
from schemas.registry import SchemaRegistry

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class ConfluentRegistry(SchemaRegistry):
    """Client of a Confluent Schema Registry at `url` (`auth`: (user, password) for basic auth)."""

    def __init__(
        self,
        url: str,
        auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
        compatibility: str = "BACKWARD",
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.compatibility = compatibility.upper()  # used only to explain a server refusal
        self._headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._by_id: dict[int, Schema] = {}
        self._registered: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ConfluentRegistry({self.url!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=self._headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryUnavailableError(
                f"cannot reach the Schema Registry at {self.url}: {exc}; is it running, and is the URL right?"
            ) from exc

    @staticmethod
    def _quote(subject: str) -> str:
        return urllib.parse.quote(subject, safe="")

    def _fail(self, what: str, status: int, payload: Any) -> RegistryError:
        msg = payload.get("message") if isinstance(payload, dict) else payload
        return RegistryError(f"Schema Registry {self.url}: {what} failed with HTTP {status}: {msg}")

    def check_compatible(self, subject: str, schema: Schema | str) -> None:
        text = to_json(parse(schema))
        status, payload = self._call(
            "POST",
            f"/compatibility/subjects/{self._quote(subject)}/versions/latest?verbose=true",
            {"schema": text},
        )
        if status == 404:  # no such subject or version yet: anything goes
            return
        if status == 422 and isinstance(payload, dict) and payload.get("error_code") == 42201:
            raise IncompatibleSchemaError(f"Schema Registry refused the schema as invalid: {payload.get('message')}")
        if status != 200:
            raise self._fail(f"compatibility check of '{subject}'", status, payload)
        if payload.get("is_compatible", False):
            return
        self._raise_incompatible(subject, schema, payload.get("messages") or [])

    def _raise_incompatible(self, subject: str, schema: Schema | str, server_msgs: list[str]) -> None:
        problems: list[str] = []
        try:
            _, old = self.latest(subject)
            mode = self.compatibility if self.compatibility != "NONE" else "BACKWARD"
            problems = compatibility_problems(schema, old, mode)
        except RegistryError:
            pass
        lines = problems or [str(m) for m in server_msgs] or ["the server gave no detail"]
        raise IncompatibleSchemaError(
            f"Schema Registry {self.url} refused the schema for subject '{subject}' as incompatible "
            f"with its latest version:\n  - " + "\n  - ".join(lines),
            lines,
        )

    def register(self, subject: str, schema: Schema | str) -> int:
        parsed = parse(schema)
        text = to_json(parsed)
        with self._lock:
            if (subject, text) in self._registered:
                return self._registered[(subject, text)]
        self.check_compatible(subject, parsed)
        status, payload = self._call("POST", f"/subjects/{self._quote(subject)}/versions", {"schema": text})
        if status == 409:
            self._raise_incompatible(subject, parsed, [payload.get("message", "")] if isinstance(payload, dict) else [])
        if status != 200 or not isinstance(payload, dict) or "id" not in payload:
            raise self._fail(f"registering under '{subject}'", status, payload)
        sid = int(payload["id"])
        with self._lock:
            self._registered[(subject, text)] = sid
            self._by_id.setdefault(sid, parsed)
        return sid

    def get_by_id(self, schema_id: int) -> Schema:
        sid = int(schema_id)
        cached = self._by_id.get(sid)
        if cached is not None:
            return cached
        status, payload = self._call("GET", f"/schemas/ids/{sid}")
        if status == 404:
            raise SchemaNotFoundError(f"schema id {sid} is not in the Schema Registry at {self.url}")
        if status != 200:
            raise self._fail(f"fetching schema id {sid}", status, payload)
        if payload.get("schemaType", "AVRO") != "AVRO":  # the producer's data, not an outage
            raise SchemaLoadError(f"schema id {sid} is {payload['schemaType']}, not Avro; Eddy reads Avro only")
        parsed = parse(payload["schema"])  # SchemaLoadError if Eddy cannot parse it (e.g. references)
        with self._lock:
            self._by_id[sid] = parsed
        return parsed

    def latest(self, subject: str) -> tuple[int, Schema]:
        status, payload = self._call("GET", f"/subjects/{self._quote(subject)}/versions/latest")
        if status == 404:
            raise SchemaNotFoundError(f"no schema registered under subject '{subject}' at {self.url}")
        if status != 200:
            raise self._fail(f"fetching latest of '{subject}'", status, payload)
        sid = int(payload["id"])
        parsed = parse(payload["schema"])
        with self._lock:
            self._by_id.setdefault(sid, parsed)
        return sid, parsed
