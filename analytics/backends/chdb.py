"""In-process chDB backend: owns its data folder (one process per folder)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from typing import Any

from analytics.backends.base import INSERT_SETTINGS_SQL, Backend
from analytics.backends.errors import classify_message
from analytics.exceptions import BackendUnavailable, ConfigError
from analytics.sqltext import params_text


class ChdbBackend(Backend):
    """A chDB session on ``path`` (absolute folder, created if missing).

    ``readonly=True`` opens the session with ClickHouse's ``readonly=1``: every write is refused
    by the engine itself. Only one folder can be open per process (a chDB limit); several
    sessions on the *same* folder are fine.

    Example (not a doctest: a process can hold only one chDB folder)::

        with ChdbBackend("/abs/folder") as b:
            b.query("SELECT 1 + {x:UInt8} AS y", {"x": 2})   # [{'y': 3}]
    """

    def __init__(self, path: str, *, readonly: bool = False) -> None:
        if not os.path.isabs(path):
            raise ConfigError(f"chDB path must be absolute, got {path!r}")
        from chdb.session import Session

        os.makedirs(path, exist_ok=True)
        self.path = path
        self.readonly = readonly
        self._lock = threading.Lock()
        try:
            self._session = Session(path + ("?mode=ro" if readonly else ""))
        except Exception as exc:  # chDB raises RuntimeError/ChdbError with the reason
            raise BackendUnavailable(
                f"cannot open chDB folder {path}: {exc}. A chDB folder belongs to one process "
                "and a process holds one folder at a time: query the owner (eddy's chDB "
                "server, http://...) instead"
            ) from exc

    def query_text(self, sql: str, fmt: str = "TabSeparatedWithNames",
                   params: Mapping[str, Any] | None = None) -> str:
        return self.query_wire(sql, fmt, params_text(params))

    def query_wire(self, sql: str, fmt: str, wire_params: Mapping[str, str]) -> str:
        """Like ``query_text`` with parameters already in ClickHouse text form (``param_x``
        values as received over HTTP): the chDB server passes them through untouched."""
        if self._session is None:
            raise BackendUnavailable(f"chDB session on {self.path} is closed")
        with self._lock:
            try:
                res = self._session.query(sql, fmt, params=dict(wire_params) or None)
            except Exception as exc:  # ChdbError/RuntimeError: the message carries the code
                self._drain()
                raise classify_message(str(exc)) from exc
        if res is None:
            return ""
        data = res.bytes() if hasattr(res, "bytes") else res
        return data.decode("utf-8") if isinstance(data, bytes) else str(data)

    def _drain(self) -> None:
        """chDB keeps the output of the statements that ran before a failing one (in a
        multi-statement query) and prepends it to the next result: flush it out now."""
        with contextlib.suppress(Exception):  # best effort; the original error is raised anyway
            self._session.query("SELECT 0 FORMAT Null", "TabSeparated")

    def _insert_bytes(self, table: str, data: bytes) -> None:
        self.query_text(f"INSERT INTO {table} {INSERT_SETTINGS_SQL} FORMAT JSONEachRow\n" + data.decode("utf-8"))

    def close(self) -> None:
        if getattr(self, "_session", None) is not None:
            self._session.close()
            self._session = None

    def __repr__(self) -> str:
        return f"ChdbBackend({self.path!r}{', readonly=True' if self.readonly else ''})"
