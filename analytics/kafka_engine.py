"""DDL for ClickHouse's own Kafka table engine: the production alternative to the sink.

Each topic gets a ``Kafka`` table (format AvroConfluent, schemas from the Confluent registry)
and materialized views writing into the same tables the sink fills, so views, queries and
reports work unchanged. Run it on a ClickHouse server instead of running Eddy's sink agent.
"""

from __future__ import annotations

import logging
import re

from analytics.backends.base import Backend
from analytics.exceptions import QueryError
from analytics.schema import strip_comments
from analytics.sqlfiles import read_sql, sql_files
from analytics.sqltext import render, split_statements

#: files rendered once per topic: the champion's scores and the shadow scores share one layout
_PER_TOPIC = {"010_scores.sql": ({"scores_ident": "scores", "scores_topic": "scores"},
                                 {"scores_ident": "shadow_scores", "scores_topic": "shadow-scores"})}
log = logging.getLogger("eddy.analytics")

#: a view statement: database, view, its SELECT
_VIEW = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+) TO \S+ AS\s+(.*)\Z", re.DOTALL)
_VIRTUAL = (",\n    _topic String DEFAULT '', _partition UInt64 DEFAULT 0, _offset UInt64 DEFAULT 0,"
            "\n    _key String DEFAULT '', _raw_message String DEFAULT '', _error String DEFAULT ''")


def kafka_engine_statements(*, db: str = "eddy", pipeline: str, brokers: str,
                            registry_url: str, group: str | None = None,
                            engine_override: str | None = None) -> list[str]:
    """Rendered statements (Kafka tables first, then their materialized views).

    ``engine_override`` (e.g. ``"Null"``) swaps the Kafka engine and its settings for another
    engine and adds the Kafka virtual columns (``_topic``, ``_partition``, ``_offset``,
    ``_key``, ``_raw_message``, ``_error``) as plain columns: the tests use it to run the views
    against the real tables without a broker.
    """
    values = {"db": db, "pipeline": pipeline, "brokers": brokers, "registry_url": registry_url,
              "group": group or f"eddy-clickhouse-{pipeline}",
              "pipeline_ident": re.sub(r"[^A-Za-z0-9_]", "_", pipeline)}
    out: list[str] = []
    for name in sql_files("kafka_engine"):
        for variant in _PER_TOPIC.get(name, ({},)):
            for stmt in split_statements(render(read_sql("kafka_engine", name), **values, **variant)):
                stmt = strip_comments(stmt)
                if engine_override is not None:
                    stmt = re.sub(r"\n\)\s*ENGINE = Kafka\s+SETTINGS.*\Z",
                                  _VIRTUAL + f"\n)\nENGINE = {engine_override}", stmt, flags=re.DOTALL)
                out.append(stmt)
    return out


def ensure_kafka_engine(backend: Backend, **kwargs: str) -> None:
    """Create the Kafka tables and views (see ``kafka_engine_statements`` for arguments).

    A view made by an older Eddy whose query differs from its statement's now (compared as
    ClickHouse formats both) is created again, and so is every other view of its Kafka table: a
    Kafka table streams while any view of it is attached, so they are all dropped first. With
    none attached the table reads nothing: its consumer group keeps its offsets and the new
    views go on from them.
    """
    stmts = kafka_engine_statements(**kwargs)
    views = [(m.group(1), m.group(2), m.group(3), _source(m.group(3))) for m in map(_VIEW.match, stmts) if m]
    stale = {source for db, name, select, source in views if _outdated(backend, db, name, select)}
    for db, name, _select, source in views:
        if source in stale:
            log.warning("Kafka-engine view %s.%s: dropped, to create %s's views again as this Eddy has them",
                        db, name, source)
            backend.execute(f"DROP VIEW IF EXISTS {db}.{name}")
    for stmt in stmts:
        backend.execute(stmt)


def _source(select: str) -> str:
    """The table a view's `select` reads (``db.table``)."""
    match = re.search(r"\bFROM (\w+\.\w+)", select)
    return match.group(1) if match else select


def _outdated(backend: Backend, db: str, view: str, select: str) -> bool:
    """Whether view `db.view` exists with another query than `select`."""
    try:
        rows = backend.query(
            "SELECT formatQuerySingleLine(as_select) = formatQuerySingleLine({select:String}) AS same "
            "FROM system.tables WHERE database = {db:String} AND name = {view:String}",
            {"select": select, "db": db, "view": view})
    except QueryError as exc:  # a server that cannot format queries: keep the view, say so
        log.warning("could not compare Kafka-engine view %s.%s with this Eddy's (%s); drop its table's "
                    "views to have them created again", db, view, exc)
        return False
    return bool(rows) and not rows[0]["same"]
