"""Backend speaking the ClickHouse HTTP interface (Eddy's chDB server, or a ClickHouse server)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from analytics.backends.base import INSERT_SETTINGS_SQL, Backend
from analytics.backends.errors import classify_message
from analytics.backends.url import redact_url
from analytics.exceptions import BackendUnavailable, ConfigError
from analytics.sqltext import params_text


class HttpBackend(Backend):
    """POST queries to ``url`` (``http://host:port``) with urllib.

    ``readonly=False`` (default) sends ``readonly=0`` so Eddy's chDB server accepts writes; with
    ``readonly=True`` it sends ``readonly=2`` and the server refuses every write (``eddy sql``
    without ``--write``); a ClickHouse server reads the same parameter the same way.
    Credentials in the URL go in ``X-ClickHouse-User``/``X-ClickHouse-Key`` headers and never
    appear in messages or ``repr``.
    """

    def __init__(self, url: str, *, readonly: bool = False, timeout_s: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"expected http://host:port, got {redact_url(url)}")
        port = f":{parts.port}" if parts.port else ""
        self._base = f"{parts.scheme}://{parts.hostname}{port}{parts.path or '/'}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if parts.username:
            self._headers["X-ClickHouse-User"] = urllib.parse.unquote(parts.username)
        if parts.password:
            self._headers["X-ClickHouse-Key"] = urllib.parse.unquote(parts.password)
        self.url = redact_url(url)
        self.readonly = readonly
        self.timeout_s = timeout_s

    def _post(self, body: bytes, args: dict[str, str]) -> str:
        # readonly=2 (not 1) still lets a real ClickHouse server accept the format settings
        args = {**args, "readonly": "2" if self.readonly else "0",
                "output_format_json_quote_64bit_integers": "0"}
        full = self._base + "?" + urllib.parse.urlencode(args)
        req = urllib.request.Request(full, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            if exc.code in (502, 503, 504):
                raise BackendUnavailable(f"{self.url} answered {exc.code}: {text.strip()}") from exc
            raise classify_message(text or f"HTTP {exc.code}") from exc
        except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException, OSError) as exc:
            raise BackendUnavailable(
                f"cannot reach {self.url}: {exc}; is `eddy up` (the chDB server) running?"
            ) from exc

    def query_text(self, sql: str, fmt: str = "TabSeparatedWithNames",
                   params: Mapping[str, Any] | None = None) -> str:
        args = {"default_format": fmt}
        args.update({f"param_{k}": v for k, v in params_text(params).items()})
        return self._post(sql.encode("utf-8"), args)

    def _insert_bytes(self, table: str, data: bytes) -> None:
        self._post(data, {"query": f"INSERT INTO {table} {INSERT_SETTINGS_SQL} FORMAT JSONEachRow"})

    def close(self) -> None:
        """Nothing to release: every request opens its own connection."""

    def __repr__(self) -> str:
        return f"HttpBackend({self.url!r}{', readonly=True' if self.readonly else ''})"
