"""The one interface every ClickHouse backend implements."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from analytics.rows import json_each_row
from analytics.sqltext import identifier

#: Settings of every insert. Tables are partitioned by day and a batch may span more days than
#: ClickHouse's default limit of 100 partitions per insert (a backlog of old events, a replay):
#: without this the insert fails and the sink would stop.
INSERT_SETTINGS = {"max_partitions_per_insert_block": 0}
INSERT_SETTINGS_SQL = "SETTINGS " + ", ".join(f"{k} = {v}" for k, v in INSERT_SETTINGS.items())


class Backend(ABC):
    """Run SQL on ClickHouse (chDB in-process, chDB over HTTP, or a server).

    ``params`` bind ClickHouse query parameters written ``{name:Type}`` in the SQL; values are
    sent apart from the SQL text, never pasted into it.
    """

    @abstractmethod
    def query_text(self, sql: str, fmt: str = "TabSeparatedWithNames",
                   params: Mapping[str, Any] | None = None) -> str:
        """Run ``sql`` and return the result rendered by ClickHouse in format ``fmt``."""

    @abstractmethod
    def _insert_bytes(self, table: str, data: bytes) -> None:
        """Insert JSONEachRow ``data`` into ``table`` (qualified ``db.table``)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection or the chDB session."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns nothing (DDL, INSERT ... SELECT)."""
        self.query_text(sql, "TabSeparated", params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts (JSONEachRow decoded)."""
        text = self.query_text(sql, "JSONEachRow", params)
        # split on "\n" only: str.splitlines() would also split inside values on \x85, \u2028...
        return [json.loads(line) for line in text.split("\n") if line.strip()]

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert encoded rows (see ``analytics.rows.encode_row``) into ``db.table``."""
        if not rows:
            return
        parts = table.split(".")
        if not 1 <= len(parts) <= 2:
            raise ValueError(f"table must be 'db.table' or 'table', got {table!r}")
        qualified = ".".join(identifier(p) for p in parts)
        self._insert_bytes(qualified, json_each_row(rows))

    def ping(self) -> bool:
        """True when the backend answers ``SELECT 1``."""
        from analytics.exceptions import BackendError

        try:
            return self.query("SELECT 1 AS ok") == [{"ok": 1}]
        except BackendError:
            return False

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
