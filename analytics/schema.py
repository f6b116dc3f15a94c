"""Create Eddy's tables and views: one set of SQL for chDB and ClickHouse servers."""

from __future__ import annotations

from analytics.backends.base import Backend
from analytics.sqlfiles import read_sql, sql_files
from analytics.sqltext import render, split_statements


def ddl_statements(db: str = "eddy", ttl_days: int = 90) -> list[str]:
    """The rendered DDL statements, in order.

    >>> ddl_statements("x", 7)[0]
    'CREATE DATABASE IF NOT EXISTS x'
    """
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int) or not 1 <= ttl_days <= 20000:
        from analytics.exceptions import ConfigError

        # TTL arithmetic uses DateTime (32-bit, ends in 2106): a longer TTL would wrap around
        # into the past and expire every row at once.
        raise ConfigError(f"ttl_days must be an int in [1, 20000], got {ttl_days!r}")
    out: list[str] = []
    for name in sql_files("ddl"):
        text = render(read_sql("ddl", name), db=db, ttl_days=ttl_days)
        out.extend(strip_comments(s) for s in split_statements(text))
    return out


def strip_comments(statement: str) -> str:
    """Drop whole-line ``--`` comments (kept in files, useless on the wire)."""
    return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()


def ensure_schema(backend: Backend, db: str = "eddy", ttl_days: int = 90) -> None:
    """Create the database and every table if missing (idempotent)."""
    for stmt in ddl_statements(db, ttl_days):
        backend.execute(stmt)


def view_statements(db: str = "eddy") -> list[str]:
    """The rendered ``CREATE OR REPLACE VIEW`` statements, in dependency order."""
    out: list[str] = []
    for name in sql_files("views"):
        out.extend(strip_comments(s) for s in split_statements(render(read_sql("views", name), db=db)))
    return out


def ensure_views(backend: Backend, db: str = "eddy") -> None:
    """Create or replace every view of ``analytics/sql/views`` (tables must exist)."""
    for stmt in view_statements(db):
        backend.execute(stmt)
