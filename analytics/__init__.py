"""Eddy analytics: ClickHouse DDL, backends, sink writer, chDB server, SQL metrics, HTML report."""

from analytics.backends import Backend, ChdbBackend, ConnectBackend, HttpBackend, connect
from analytics.schema import ddl_statements, ensure_schema, ensure_views, view_statements

__all__ = [
    "Backend", "ChdbBackend", "ConnectBackend", "HttpBackend", "connect", "ddl_statements",
    "ensure_schema", "ensure_views", "view_statements",
]
