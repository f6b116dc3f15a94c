"""Backend for real ClickHouse servers through clickhouse-connect (same SQL as chDB)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics.backends.base import INSERT_SETTINGS, Backend
from analytics.backends.errors import classify_message
from analytics.exceptions import BackendUnavailable


class ConnectBackend(Backend):
    """A clickhouse-connect client; ``dsn`` is ``clickhouse[s]://user:pass@host:port/db``.

    Queries use the server's JSONEachRow output, exactly like the chDB backends, so results are
    the same dicts whatever the backend.
    """

    def __init__(self, dsn: str, *, readonly: bool = False) -> None:
        from analytics.backends.url import parse_dsn, redact_url

        self.url = redact_url(dsn)
        self.readonly = readonly
        self._opts = parse_dsn(dsn)
        self._settings = {"readonly": 2} if readonly else {}
        self._conn: Any = None  # connected on first use: a sink starts while the server is down

    @property
    def _client(self) -> Any:
        if self._conn is None:
            try:
                import clickhouse_connect

                self._conn = clickhouse_connect.get_client(**self._opts, settings=self._settings)
            except Exception as exc:  # clickhouse_connect raises OperationalError & co
                raise BackendUnavailable(f"cannot connect to {self.url}: {type(exc).__name__}") from exc
        return self._conn

    def _wrap(self, exc: Exception) -> Exception:
        from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

        if isinstance(exc, OperationalError):
            return BackendUnavailable(f"cannot reach {self.url}: {type(exc).__name__}")
        if isinstance(exc, DatabaseError):
            return classify_message(str(exc))
        return BackendUnavailable(f"{self.url}: {type(exc).__name__}: {exc}")

    def query_text(self, sql: str, fmt: str = "TabSeparatedWithNames",
                   params: Mapping[str, Any] | None = None) -> str:
        try:
            data = self._client.raw_query(sql, parameters=dict(params or {}), fmt=fmt,
                                          settings={"output_format_json_quote_64bit_integers": 0})
        except Exception as exc:
            raise self._wrap(exc) from exc
        return data.decode("utf-8")

    def _insert_bytes(self, table: str, data: bytes) -> None:
        try:
            self._client.raw_insert(table, insert_block=data, settings=dict(INSERT_SETTINGS), fmt="JSONEachRow")
        except Exception as exc:
            raise self._wrap(exc) from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def __repr__(self) -> str:
        return f"ConnectBackend({self.url!r})"
