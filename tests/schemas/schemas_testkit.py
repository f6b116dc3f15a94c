"""Test kit for the `schemas` tests: an example event schema and a fake Confluent Schema Registry
(an in-process HTTP server; a fake, used by unit tests only)."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from schemas import canonical, compatibility_problems, parse

EVENT_V1: dict[str, Any] = {
    "type": "record",
    "name": "Transaction",
    "namespace": "examples.fraud",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "card_id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "currency", "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD", "GBP"]}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "merchant", "type": ["null", "string"], "default": None},
        {"name": "n_items", "type": "int"},
    ],
}


def event(i: int = 0, **over: Any) -> dict[str, Any]:
    rec = {
        "event_id": f"e{i}",
        "card_id": f"c{i % 7}",
        "amount": 10.0 + i,
        "currency": "EUR",
        "ts": 1_700_000_000_000 + i * 1000,
        "merchant": None if i % 2 else f"m{i}",
        "n_items": i % 5,
    }
    rec.update(over)
    return rec


class FakeConfluentServer:
    """Fake of Confluent Schema Registry's REST API (the endpoints Eddy uses), in a thread.

    Compatibility is BACKWARD, judged with Eddy's own checker; the fake words its refusal
    generically, like the real server, so the client's own explanation is what names the field.
    """

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        self.schemas: dict[int, str] = {}
        self.schema_types: dict[int, str] = {}  # id -> "PROTOBUF" / "JSON" (absent: Avro)
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.auth = auth
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                if fake.auth is None:
                    return True
                want = "Basic " + base64.b64encode(f"{fake.auth[0]}:{fake.auth[1]}".encode()).decode()
                if self.headers.get("Authorization") == want:
                    return True
                self._send(401, {"error_code": 401, "message": "Unauthorized"})
                return False

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, dict(self.headers)))
                if not self._authorized():
                    return
                if m := re.fullmatch(r"/schemas/ids/(\d+)", self.path):
                    sid = int(m.group(1))
                    if sid not in fake.schemas:
                        return self._send(404, {"error_code": 40403, "message": "Schema not found"})
                    return self._send(200, {"schema": fake.schemas[sid]} | (
                        {"schemaType": fake.schema_types[sid]} if sid in fake.schema_types else {}))
                if m := re.fullmatch(r"/subjects/([^/]+)/versions/latest", self.path):
                    subject = _unquote(m.group(1))
                    ids = fake.subjects.get(subject)
                    if not ids:
                        return self._send(404, {"error_code": 40401, "message": "Subject not found"})
                    return self._send(
                        200, {"subject": subject, "version": len(ids), "id": ids[-1], "schema": fake.schemas[ids[-1]]}
                    )
                self._send(404, {"error_code": 404, "message": "no such endpoint"})

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path, dict(self.headers)))
                if not self._authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if m := re.fullmatch(r"/compatibility/subjects/([^/]+)/versions/latest(\?verbose=true)?", self.path):
                    ids = fake.subjects.get(_unquote(m.group(1)))
                    if not ids:
                        return self._send(404, {"error_code": 40401, "message": "Subject not found"})
                    problems = compatibility_problems(body["schema"], fake.schemas[ids[-1]], "BACKWARD")
                    msgs = [f"{{oldSchemaVersion: {len(ids)}, compatibility: 'BACKWARD'}}"] if problems else []
                    return self._send(200, {"is_compatible": not problems, "messages": msgs})
                if m := re.fullmatch(r"/subjects/([^/]+)/versions", self.path):
                    subject = _unquote(m.group(1))
                    text = body["schema"]
                    key = canonical(parse(text))
                    sid = next((i for i, s in fake.schemas.items() if canonical(parse(s)) == key), None)
                    ids = fake.subjects.setdefault(subject, [])
                    if sid is None:
                        if ids and compatibility_problems(text, fake.schemas[ids[-1]], "BACKWARD"):
                            return self._send(409, {"error_code": 409, "message": "Schema being registered is incompatible"})
                        sid = len(fake.schemas) + 1
                        fake.schemas[sid] = text
                    if sid not in ids:
                        ids.append(sid)
                    return self._send(200, {"id": sid})
                self._send(404, {"error_code": 404, "message": "no such endpoint"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeConfluentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _unquote(s: str) -> str:
    from urllib.parse import unquote

    return unquote(s)
