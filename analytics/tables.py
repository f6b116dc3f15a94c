"""What the sink must know about each table: its dedup key and how to encode each column.

Column kinds: ``str``, ``int``, ``float``, ``bool`` (UInt8), ``ts`` (ms since epoch ->
DateTime64(3)), ``b64`` (bytes -> base64 text), ``json`` (dict/list -> JSON text),
``map_float``, ``map_str``, ``map_int``. A ``?`` suffix means nullable or optional (has a default).
The test suite checks these specs against ``DESCRIBE`` of the created tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.exceptions import ConfigError


@dataclass(frozen=True)
class TableSpec:
    """A table's dedup key, its columns (name -> kind) and its time column."""

    name: str
    key: tuple[str, ...]
    columns: dict[str, str]
    time_column: str

    @property
    def required(self) -> list[str]:
        """Columns a row must carry."""
        return [c for c, k in self.columns.items() if not k.endswith("?")]


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "predictions",
            ("run_id", "model", "event_id"),
            {
                "run_id": "str", "pipeline": "str", "model": "str", "model_version": "int",
                "role": "str", "shadow": "bool", "event_id": "str", "key": "str",
                "event_ts": "ts", "served_ts": "ts", "latency_ms": "float",
                "prediction": "float", "predicted_label": "str?", "features": "map_float?",
                "segments": "map_str?", "late": "bool?", "degraded": "bool?",
            },
            "event_ts",
        ),
        TableSpec(
            "labels",
            ("pipeline", "event_id"),
            {"pipeline": "str", "event_id": "str", "label": "float", "label_ts": "ts",
             "source": "str?", "partition": "int?", "offset": "int?"},  # position in <p>.labels
            "label_ts",
        ),
        TableSpec(
            "model_events",
            ("pipeline", "run_id", "model", "version", "action", "ts"),
            {"pipeline": "str", "run_id": "str", "model": "str", "version": "int",
             "action": "str", "ts": "ts", "detail": "str?"},
            "ts",
        ),
        TableSpec(
            "alerts",
            ("pipeline", "run_id", "model", "kind", "ts"),
            {"pipeline": "str", "run_id": "str", "model": "str", "kind": "str", "ts": "ts",
             "value": "float", "action": "str?", "detail": "str?"},
            "ts",
        ),
        TableSpec(
            "dlq",
            ("source_topic", "partition", "offset"),
            {"pipeline": "str", "source_topic": "str", "partition": "int", "offset": "int",
             "key": "b64?", "value": "b64", "error_class": "str", "reason": "str", "ts": "ts",
             "schema_id": "int?"},
            "ts",
        ),
        TableSpec(
            "runs",
            ("run_id",),
            {"run_id": "str", "pipeline": "str", "kind": "str", "created_at": "ts",
             "config_yaml": "str", "config_hash": "str", "code_version": "str",
             "packages": "map_str?", "schema_ids": "map_int?", "seeds": "map_int?",
             "inputs": "json?", "like_run": "str?"},
            "created_at",
        ),
        TableSpec(
            "events_archive",
            ("pipeline", "event_id"),
            {"pipeline": "str", "event_id": "str", "event_ts": "ts", "topic": "str",
             "partition": "int", "offset": "int", "payload": "b64", "schema_id": "int"},
            "event_ts",
        ),
    ]
}


def table_spec(name: str) -> TableSpec:
    """The spec of one of Eddy's tables.

    >>> table_spec("labels").key
    ('pipeline', 'event_id')
    """
    try:
        return TABLES[name]
    except KeyError as exc:
        raise ConfigError(f"unknown table {name!r}; use one of {', '.join(TABLES)}") from exc
