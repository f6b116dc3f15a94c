"""DDL for ClickHouse's own Kafka table engine: the production alternative to the sink.

Each topic gets a ``Kafka`` table (format AvroConfluent, schemas from the Confluent registry)
and materialized views writing into the same tables the sink fills, so views, queries and
reports work unchanged. Run it on a ClickHouse server instead of running Eddy's sink agent.
"""

from __future__ import annotations

import re

from analytics.backends.base import Backend
from analytics.schema import strip_comments
from analytics.sqlfiles import read_sql, sql_files
from analytics.sqltext import render, split_statements

#: files rendered once per topic: the champion's scores and the shadow scores share one layout
_PER_TOPIC = {"010_scores.sql": ({"scores_ident": "scores", "scores_topic": "scores"},
                                 {"scores_ident": "shadow_scores", "scores_topic": "shadow-scores"})}
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
    """Create the Kafka tables and views (see ``kafka_engine_statements`` for arguments)."""
    for stmt in kafka_engine_statements(**kwargs):
        backend.execute(stmt)
