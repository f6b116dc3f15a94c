"""The worker's HTTP endpoints on a background thread (stdlib `ThreadingHTTPServer`).

| path              | answers                                                             |
|-------------------|---------------------------------------------------------------------|
| `/metrics`        | Prometheus text format                                              |
| `/health`         | 200 `{"status": "ok"}` while the process and its agents live (liveness) |
| `/ready`          | 200 when broker, Redis and sink answer, else 503, with each check   |
| `/dashboard`      | the live HTML page (polls `/api/summary` every `refresh_ms`)        |
| `/api/summary`    | the dashboard's JSON (`WorkerMetrics.summary()`)                    |

It runs outside the Faust event loop, so a scrape never delays scoring, and a blocked loop
shows up as `/health` still answering while throughput drops to zero on the dashboard.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from streams.observability.dashboard import dashboard_html
from streams.observability.metrics import WorkerMetrics
from streams.observability.readiness import Check, run_checks

log = logging.getLogger("eddy.observability")


class ObservabilityServer:
    """Serve `metrics` over HTTP on `host:port` (port 0 picks a free one; see `.port`)."""

    def __init__(self, metrics: WorkerMetrics, host: str = "127.0.0.1", port: int = 0,
                 checks: Mapping[str, Check] | None = None, health: Callable[[], bool] | None = None,
                 refresh_ms: int = 1000) -> None:
        self.metrics = metrics
        self.checks = dict(checks or {})
        self.health = health or (lambda: True)
        self.refresh_ms = refresh_ms
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ObservabilityServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="eddy-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ObservabilityServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:  # no per-request noise
                pass

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, obj: Any) -> None:
                self._send(code, json.dumps(obj, default=str).encode(), "application/json")

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0].rstrip("/") or "/"
                try:
                    if path == "/metrics":
                        self._send(200, server.metrics.exposition(), CONTENT_TYPE_LATEST)
                    elif path == "/health":
                        alive = server.health()
                        self._json(200 if alive else 503, {"status": "ok" if alive else "dead",
                                                           "pipeline": server.metrics.pipeline})
                    elif path == "/ready":
                        ok, report = run_checks(server.checks)
                        self._json(200 if ok else 503, {"ready": ok, "checks": report})
                    elif path in ("/", "/dashboard"):
                        html = dashboard_html(server.metrics.pipeline, server.refresh_ms)
                        self._send(200, html.encode(), "text/html; charset=utf-8")
                    elif path == "/api/summary":
                        self._json(200, server.metrics.summary())
                    else:
                        self._json(404, {"error": f"unknown path {path}: try /metrics, /health, /ready, /dashboard"})
                except Exception as exc:  # answer 500 and log; never kill the server thread
                    log.exception("observability endpoint %s failed", path)
                    self._json(500, {"error": type(exc).__name__})

        return Handler
