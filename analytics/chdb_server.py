"""Eddy's chDB server: the one process that owns a chDB folder, answering the ClickHouse HTTP
interface (subset) so ``eddy sql``, the sink and reports can reach it while a worker runs.

Supported: ``GET /?query=...``, ``POST /`` (query in the ``query`` URL parameter, the body, or
both: then the body follows the query, which is how INSERT data is sent), ``default_format``
(a ``FORMAT`` clause wins), ``param_<name>`` query parameters, ``/ping`` -> ``Ok.``.

Read-only by default: a request writes only with ``readonly=0`` in the URL or the
``X-Eddy-Readonly: 0`` header. Read-only requests run on a session opened with ClickHouse's own
``readonly=1``, so the engine refuses every write (multi-statements included). Queries are
serialized with one lock.

Optional authentication: with ``EDDY_CHDB_PASSWORD`` set (and ``EDDY_CHDB_USER``, default
``default``) every query must carry those credentials the ways ClickHouse accepts them
(``X-ClickHouse-User`` / ``X-ClickHouse-Key`` headers, HTTP basic auth, or ``user`` / ``password``
URL parameters), else it is answered 401 (ClickHouse's code 516); ``/ping`` stays open. The
password is read from the environment so that it never shows in a process list.

Run it as ``python -m analytics.server --path /abs/folder --port 0 --port-file F``: it prints
``listening on http://HOST:PORT`` and writes the port to F once ready.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import os
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from analytics.backends.chdb import ChdbBackend
from analytics.exceptions import QueryError, ReadOnlyError

MAX_BODY = 256 * 1024 * 1024


class ChdbServer:
    """A running server: ``.url``, ``.port``, ``.close()`` (also a context manager)."""

    def __init__(self, path: str, host: str = "127.0.0.1", port: int = 0,
                 credentials: tuple[str, str] | None = None) -> None:
        self.path = path
        self.credentials = credentials
        self._rw = ChdbBackend(path)
        self._ro = ChdbBackend(path, readonly=True)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread: threading.Thread | None = None

    def authorized(self, user: str | None, password: str | None) -> bool:
        """True when no credentials are required, or these are the right ones."""
        if self.credentials is None:
            return True
        want_user, want_password = self.credentials
        return (user or "default") == want_user and hmac.compare_digest((password or "").encode(),
                                                                         want_password.encode())

    def run(self, sql: str, fmt: str, params: dict[str, str], readonly: bool) -> bytes:
        """Run one query under the lock; the read-only session when ``readonly``."""
        backend = self._ro if readonly else self._rw
        with self._lock:
            return backend.query_wire(sql, fmt, params).encode("utf-8")

    def start(self) -> ChdbServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="chdb-server",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``close()`` (from a signal handler or another thread)."""
        self._httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and close the chDB sessions (data is on disk)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        with self._lock:
            self._ro.close()
            self._rw.close()

    def __enter__(self) -> ChdbServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_chdb(path: str, host: str = "127.0.0.1", port: int = 0) -> ChdbServer:
    """Open the chDB folder ``path`` and serve it over HTTP in a background thread.

    Example (not run as a doctest: a process can hold only one chDB folder)::

        with serve_chdb("/abs/folder") as srv:
            HttpBackend(srv.url).query("SELECT 1 AS x")   # [{'x': 1}]
    """
    return ChdbServer(path, host, port).start()


def _handler(server: ChdbServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "eddy-chdb"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet: the server is used by tests and background processes."""

        def _send(self, code: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, body: bytes) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path.rstrip("/") == "/ping" or (url.path == "/" and not url.query and not body
                                                    and self.command == "GET"):
                self._send(200, b"Ok.\n")
                return
            if url.path not in ("/", ""):
                self._send(404, b"Unknown path: use / or /ping\n")
                return
            args = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            if not server.authorized(*self._credentials(args)):
                self._send(401, b"Code: 516. Authentication failed: wrong or missing user or password\n",
                           {"X-ClickHouse-Exception-Code": "516", "WWW-Authenticate": 'Basic realm="eddy"'})
                return
            query = args.get("query", "")
            text = body.decode("utf-8")
            sql = f"{query}\n{text}" if query and text else (query or text)
            if not sql.strip():
                self._send(400, b"Empty query: pass ?query=... or a body\n")
                return
            flag = args.get("readonly", self.headers.get("X-Eddy-Readonly", "1"))
            readonly = flag.strip() != "0"
            fmt = args.get("default_format", "TabSeparated")
            params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
            try:
                data = server.run(sql, fmt, params, readonly)
            except ReadOnlyError as exc:
                self._send(403, str(exc).encode() + b"\n", {"X-ClickHouse-Exception-Code": "164"})
            except QueryError as exc:
                self._send(400, str(exc).encode() + b"\n")
            except Exception as exc:  # noqa: BLE001 - the server must answer, and stay up, whatever happened
                self._send(500, f"{type(exc).__name__}: {exc}\n".encode())
            else:
                self._send(200, data)

        def _credentials(self, args: dict[str, str]) -> tuple[str | None, str | None]:
            """(user, password) from ClickHouse's headers, HTTP basic auth or URL parameters."""
            if "X-ClickHouse-User" in self.headers or "X-ClickHouse-Key" in self.headers:
                return self.headers.get("X-ClickHouse-User"), self.headers.get("X-ClickHouse-Key")
            auth = self.headers.get("Authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    return None, None
                return user, password
            return args.get("user"), args.get("password")

        def do_GET(self) -> None:  # noqa: N802
            self._handle(b"")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, b"Body too large: insert in smaller batches\n")
                return
            self._handle(self.rfile.read(length) if length else b"")

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m analytics.server``."""
    ap = argparse.ArgumentParser(prog="python -m analytics.server", description=__doc__.split("\n")[0])
    ap.add_argument("--path", default=os.environ.get("EDDY_CHDB_PATH"), required=False,
                    help="absolute chDB folder (env EDDY_CHDB_PATH)")
    ap.add_argument("--host", default=os.environ.get("EDDY_CHDB_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("EDDY_CHDB_PORT", "0")))
    ap.add_argument("--port-file", default=None, help="write the bound port here once ready")
    ap.add_argument("--db", default=None, help="also create Eddy's schema and views in this database")
    ap.add_argument("--ttl-days", type=int, default=90)
    args = ap.parse_args(argv)
    if not args.path:
        ap.error("--path (or EDDY_CHDB_PATH) is required")
    password = os.environ.get("EDDY_CHDB_PASSWORD")
    credentials = (os.environ.get("EDDY_CHDB_USER", "default"), password) if password else None
    srv = ChdbServer(os.path.abspath(args.path), args.host, args.port, credentials)
    if args.db:
        from analytics.schema import ensure_schema, ensure_views

        ensure_schema(srv._rw, args.db, args.ttl_days)
        ensure_views(srv._rw, args.db)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=srv._httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{srv.port}\n")
        os.replace(tmp, args.port_file)
    print(f"listening on {srv.url}", flush=True)
    try:
        srv.serve_forever()
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
