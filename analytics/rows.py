"""Encode Python rows (Avro-decoded records) into JSONEachRow-ready dicts for one table.

Times are ms since the epoch (ints) and become exact text (``"1700000000.123"``, see `ms_text`),
which ClickHouse parses into DateTime64(3) without float rounding. Bytes become base64 text.

>>> encode_row("labels", {"pipeline": "p", "event_id": "e1", "label": 1, "label_ts": 1700000000123})
{'pipeline': 'p', 'event_id': 'e1', 'label': 1.0, 'label_ts': '1700000000.123'}
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from analytics.exceptions import RowError
from analytics.tables import table_spec

#: What a DateTime64(3) column holds: 1900-01-01 00:00:00.000 .. 2299-12-31 23:59:59.999 UTC (ms).
TS_RANGE_MS = (-2_208_988_800_000, 10_413_791_999_999)


def ms_text(ms: int) -> str:
    """ms since epoch -> exact text ClickHouse reads into DateTime64(3): ``seconds.millis`` for
    10-digit seconds (2001-09-09 .. 2286-11-20, the usual case), else a UTC date-time (ClickHouse
    takes shorter, longer or negative numbers for something else); `RowError` outside `TS_RANGE_MS`.

    >>> ms_text(1700000000123), ms_text(-1), ms_text(2000)
    ('1700000000.123', '1969-12-31 23:59:59.999', '1970-01-01 00:00:02.000')
    """
    if 1_000_000_000_000 <= ms < 10_000_000_000_000:
        return f"{ms // 1000}.{ms % 1000:03d}"
    if not TS_RANGE_MS[0] <= ms <= TS_RANGE_MS[1]:
        raise RowError(f"time {ms} ms is outside what ClickHouse's DateTime64(3) holds (years 1900-2299)")
    return f"{datetime(1970, 1, 1) + timedelta(milliseconds=ms):%Y-%m-%d %H:%M:%S}.{ms % 1000:03d}"


def _encode(kind: str, value: Any) -> Any:
    base = kind.rstrip("?")
    if value is None:
        if kind.endswith("?"):
            return None
        raise TypeError("null in a non-nullable column")
    if base == "str":
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        return value
    if base in ("int", "ts"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise TypeError(f"expected int, got {value!r}")
        return ms_text(value) if base == "ts" else value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if base == "bool":
        if not isinstance(value, (bool, int)):
            raise TypeError(f"expected bool, got {value!r}")
        return 1 if value else 0
    if base == "b64":
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"expected bytes, got {type(value).__name__}")
        return base64.b64encode(bytes(value)).decode("ascii")
    if base == "json":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if base.startswith("map_"):
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping, got {type(value).__name__}")
        inner = {"map_float": "float", "map_str": "str", "map_int": "int"}[base]
        return {str(k): _encode(inner, v) for k, v in value.items()}
    raise TypeError(f"unknown column kind {kind}")  # pragma: no cover


def encode_row(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Check and encode one row for ``table``; unknown columns and missing ones raise RowError."""
    spec = table_spec(table)
    unknown = set(row) - set(spec.columns)
    if unknown:
        raise RowError(f"{table}: unknown column(s) {sorted(unknown)}; known: {list(spec.columns)}")
    missing = [c for c in spec.required if c not in row]
    if missing:
        raise RowError(f"{table}: row lacks required column(s) {missing}")
    out: dict[str, Any] = {}
    for col, value in row.items():
        try:
            out[col] = _encode(spec.columns[col], value)
        except TypeError as exc:
            raise RowError(f"{table}.{col}: {exc}; fix the producer or send it to the DLQ") from exc
    return out


#: one encoder for every row (`json.dumps` with a non-default option builds one per call)
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False)


def json_each_row(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Serialize already-encoded rows as JSONEachRow bytes (NaN and inf kept, as ClickHouse reads them)."""
    encode = _ROW_ENCODER.encode
    lines = [encode(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def key_of(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The dedup key of a raw (not yet encoded) row: times stay ms ints.

    >>> key_of("dlq", {"source_topic": "p.events", "partition": 1, "offset": 7})
    ('p.events', 1, 7)
    """
    return tuple(row[c] for c in table_spec(table).key)
