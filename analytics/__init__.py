"""Eddy analytics: ClickHouse DDL, backends, sink writer, chDB server, SQL metrics, HTML report.

Submodules: ``analytics.metrics`` (Python API over the SQL), ``analytics.report``
(``build_report``), ``analytics.server`` (``python -m analytics.server``), ``analytics.testing``
(a synthetic stream with known drift and bias).
"""

from analytics.backends import Backend, ChdbBackend, ConnectBackend, HttpBackend, connect
from analytics.chdb_server import ChdbServer, serve_chdb
from analytics.kafka_engine import ensure_kafka_engine, kafka_engine_statements
from analytics.report import build_report
from analytics.schema import ddl_statements, ensure_schema, ensure_views, view_statements
from analytics.sink import Sink

__all__ = [
    "Backend", "ChdbBackend", "ChdbServer", "ConnectBackend", "HttpBackend", "Sink",
    "build_report", "connect", "ddl_statements", "ensure_kafka_engine", "ensure_schema",
    "ensure_views", "kafka_engine_statements", "serve_chdb", "view_statements",
]
