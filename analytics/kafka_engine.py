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

    A view made by an older Eddy whose columns differ from its statement's now (the labels view
    before it wrote each label's ``partition``/``offset``) is dropped and created again. The
    Kafka table has no view in between, so it reads nothing: its consumer group keeps its
    offsets, and the new view goes on from them.
    """
    for stmt in kafka_engine_statements(**kwargs):
        view = _VIEW.match(stmt)
        if view is not None and _outdated(backend, *view.groups()):
            db, name, _ = view.groups()
            log.warning("Kafka-engine view %s.%s has other columns than this Eddy's: created again", db, name)
            backend.execute(f"DROP VIEW IF EXISTS {db}.{name}")
        backend.execute(stmt)


def _outdated(backend: Backend, db: str, view: str, select: str) -> bool:
    """Whether view `db.view` exists with other columns than `select` yields."""
    have = [r["name"] for r in backend.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {view:String} ORDER BY position",
        {"db": db, "view": view})]
    if not have:
        return False
    try:
        want = [r["name"] for r in backend.query(f"DESCRIBE TABLE ({select})")]
    except QueryError as exc:  # a server that cannot describe it: keep the view, say so
        log.warning("could not compare Kafka-engine view %s.%s with this Eddy's (%s); drop it to "
                    "have it created again", db, view, exc)
        return False
    return have != want
