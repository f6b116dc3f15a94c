"""Load the SQL files shipped in ``analytics/sql/`` (DDL, views, queries, Kafka engine)."""

from __future__ import annotations

from importlib import resources

from analytics.exceptions import ConfigError

FOLDERS = ("ddl", "views", "queries", "kafka_engine")


def sql_files(folder: str) -> list[str]:
    """Names of the ``.sql`` files of one folder, in file-name order.

    >>> sql_files("ddl")[0]
    '000_database.sql'
    """
    if folder not in FOLDERS:
        raise ConfigError(f"unknown SQL folder {folder!r}; use one of {FOLDERS}")
    root = resources.files("analytics").joinpath("sql", folder)
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".sql"))


def read_sql(folder: str, name: str) -> str:
    """Text of one shipped SQL file (``name`` with or without ``.sql``)."""
    if not name.endswith(".sql"):
        name += ".sql"
    if name not in sql_files(folder):
        raise ConfigError(f"no SQL file {folder}/{name}; known: {', '.join(sql_files(folder))}")
    return resources.files("analytics").joinpath("sql", folder, name).read_text("utf-8")
