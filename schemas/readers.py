"""Input files for `eddy produce`: JSON lines, CSV and Avro object container files.

Every row is checked against the schema; a bad row yields a `RowResult` with its line number and
the reason, and reading goes on with the next row.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "e.csv"
>>> _ = p.write_text("id,amount,note\\na,1.5,\\nb,oops,hi\\n")
>>> schema = {"type": "record", "name": "E", "fields": [{"name": "id", "type": "string"},
...           {"name": "amount", "type": "double"}, {"name": "note", "type": ["null", "string"]}]}
>>> for row in read_records(p, schema=schema): print(row.line_no, row.record, row.error)
2 {'id': 'a', 'amount': 1.5, 'note': None} None
3 None field 'amount': 'oops' is not a number
"""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import fastavro

from schemas.avsc import Schema, load_avsc, named_types, parse, strip_time_logical_types
from schemas.exceptions import SchemaLoadError
from schemas.validate import validation_errors

FORMATS = ("jsonl", "csv", "avro")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".avro": "avro"}
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_MS_LOGICAL = {"timestamp-millis", "local-timestamp-millis"}


class RowResult(NamedTuple):
    """One input row: `line_no` (1-based line; for Avro files the record number) and either a
    valid `record` or an `error` string."""

    line_no: int
    record: dict[str, Any] | None
    error: str | None


class _CoerceError(ValueError):
    pass


def detect_format(path: str | Path) -> str:
    """`jsonl`, `csv` or `avro` from the file name.

    >>> detect_format("events.ndjson"), detect_format("x.CSV"), detect_format("y.avro")
    ('jsonl', 'csv', 'avro')
    """
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise SchemaLoadError(f"cannot tell the format of {path} from its name; pass fmt= one of {FORMATS}")
    return fmt


def _load_schema(schema: Schema | str | Path | None) -> Schema | None:
    if schema is None:
        return None
    if isinstance(schema, Path) or (isinstance(schema, str) and schema.endswith(".avsc")):
        return load_avsc(schema)
    return parse(schema)


class _Type(NamedTuple):
    kind: str
    schema: Any
    logical: str | None


def _type(s: Schema, names: dict[str, Schema]) -> _Type:
    if isinstance(s, list):
        return _Type("union", s, None)
    if isinstance(s, str):
        return _type(names[s], names) if s in names else _Type(s, s, None)
    t = s["type"]
    if isinstance(t, (list, dict)) or (isinstance(t, str) and t in names):
        return _type(t, names)
    return _Type("record" if t == "error" else t, s, s.get("logicalType"))


def _iso_to_ms(text: str, path: str) -> int:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _CoerceError(f"field '{path}': {text!r} is neither ms since epoch nor an ISO-8601 time") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _from_text(text: str, s: Schema, path: str, names: dict[str, Schema]) -> Any:
    """A CSV cell converted to the field's Avro type."""
    t = _type(s, names)
    if t.kind == "union":
        if text == "" and any(_type(b, names).kind == "null" for b in t.schema):
            return None
        errors = []
        for branch in t.schema:
            if _type(branch, names).kind == "null":
                continue
            try:
                return _from_text(text, branch, path, names)
            except _CoerceError as exc:
                errors.append(str(exc))
        raise _CoerceError(errors[0] if len(errors) == 1 else f"field '{path}': {text!r} fits no branch of the union")
    if t.kind == "null":
        if text == "":
            return None
        raise _CoerceError(f"field '{path}': {text!r} should be empty (null)")
    if t.kind == "boolean":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _CoerceError(f"field '{path}': {text!r} is not a boolean (true/false, 1/0, yes/no)")
    if t.kind in ("int", "long"):
        try:
            return int(text.strip())
        except ValueError:
            if t.logical in _MS_LOGICAL and text.strip():
                return _iso_to_ms(text, path)
            raise _CoerceError(f"field '{path}': {text!r} is not an integer") from None
    if t.kind in ("float", "double"):
        try:
            return float(text.strip())
        except ValueError:
            raise _CoerceError(f"field '{path}': {text!r} is not a number") from None
    if t.kind in ("string", "enum"):
        return text
    if t.kind in ("bytes", "fixed"):
        return text.encode("utf-8")
    if t.kind in ("array", "map", "record"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _CoerceError(f"field '{path}': a {t.kind} in a CSV cell must be JSON text ({exc.msg})") from exc
        return _from_json(value, s, path, names)
    raise _CoerceError(f"field '{path}': unsupported type {t.kind}")


def _from_json(v: Any, s: Schema, path: str, names: dict[str, Schema]) -> Any:
    """JSON value adapted where JSON cannot express the Avro value (bytes, ISO timestamps)."""
    t = _type(s, names)
    if t.kind == "union":
        if v is None:
            return None
        for branch in t.schema:
            bt = _type(branch, names)
            if bt.kind in ("bytes", "fixed") and isinstance(v, str):
                return v.encode("utf-8")
            if bt.logical in _MS_LOGICAL and isinstance(v, str):
                return _iso_to_ms(v, path)
            if bt.kind in ("record", "map", "array") and isinstance(v, (dict, list)):
                return _from_json(v, branch, path, names)
        return v
    if t.kind in ("bytes", "fixed") and isinstance(v, str):
        return v.encode("utf-8")
    if t.kind in ("int", "long") and t.logical in _MS_LOGICAL and isinstance(v, str):
        return _iso_to_ms(v, path)
    if t.kind == "array" and isinstance(v, list):
        return [_from_json(x, t.schema["items"], f"{path}[{i}]", names) for i, x in enumerate(v)]
    if t.kind == "map" and isinstance(v, dict):
        return {k: _from_json(x, t.schema["values"], f"{path}.{k}", names) for k, x in v.items()}
    if t.kind == "record" and isinstance(v, dict):
        fields = {f["name"]: f for f in t.schema["fields"]}
        out = dict(v)
        for k, x in v.items():
            if k in fields:
                out[k] = _from_json(x, fields[k]["type"], f"{path}.{k}" if path else k, names)
        return out
    return v


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_UNIT = {
    "timestamp-millis": timedelta(milliseconds=1),
    "local-timestamp-millis": timedelta(milliseconds=1),
    "timestamp-micros": timedelta(microseconds=1),
    "local-timestamp-micros": timedelta(microseconds=1),
    "time-millis": timedelta(milliseconds=1),
    "time-micros": timedelta(microseconds=1),
}


def _plain(v: Any, s: Schema, names: dict[str, Schema]) -> Any:
    """Undo fastavro's logical-type conversion (datetime/date/time back to ints), guided by `s`."""
    t = _type(s, names)
    if t.kind == "union":
        if isinstance(v, (datetime, date, time)):
            for branch in t.schema:
                if _type(branch, names).logical is not None:
                    return _plain(v, branch, names)
        if isinstance(v, (dict, list)):
            for branch in t.schema:
                bt = _type(branch, names)
                if (bt.kind == "array") == isinstance(v, list) and bt.kind in ("record", "map", "array"):
                    return _plain(v, branch, names)
        return v
    if isinstance(v, datetime) and t.logical in _UNIT:
        base = _EPOCH if v.tzinfo is not None else _EPOCH_NAIVE
        return (v - base) // _UNIT[t.logical]
    if isinstance(v, date) and not isinstance(v, datetime) and t.logical == "date":
        return (v - _EPOCH.date()).days
    if isinstance(v, time) and t.logical in _UNIT:
        delta = timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond)
        return delta // _UNIT[t.logical]
    if t.kind == "record" and isinstance(v, dict):
        for f in t.schema["fields"]:
            if f["name"] in v:
                v[f["name"]] = _plain(v[f["name"]], f["type"], names)
        return v
    if t.kind == "array" and isinstance(v, list):
        return [_plain(x, t.schema["items"], names) for x in v]
    if t.kind == "map" and isinstance(v, dict):
        return {k: _plain(x, t.schema["values"], names) for k, x in v.items()}
    return v


def fill_defaults(record: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """`record` with every missing top-level field that has a default set to that default."""
    if isinstance(schema, dict) and "fields" in schema:
        for f in schema["fields"]:
            if f["name"] not in record and "default" in f:
                record[f["name"]] = copy.deepcopy(f["default"])
    return record


class _Checker:
    def __init__(self, schema: Schema | None, allow_non_finite: bool, allow_extra: bool) -> None:
        self.schema = schema
        self.names = named_types(schema) if schema is not None else {}
        self.strict = strip_time_logical_types(schema) if schema is not None else None
        self.allow_non_finite = allow_non_finite
        self.allow_extra = allow_extra

    def check(self, line_no: int, record: dict[str, Any]) -> RowResult:
        if self.schema is None:
            return RowResult(line_no, record, None)
        fill_defaults(record, self.schema)
        problems = validation_errors(
            record, self.strict, allow_non_finite=self.allow_non_finite, allow_extra=self.allow_extra
        )
        if problems:
            return RowResult(line_no, None, "; ".join(problems))
        return RowResult(line_no, record, None)


def _read_jsonl(path: Path, chk: _Checker) -> Iterator[RowResult]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RowResult(line_no, None, f"invalid JSON at column {exc.colno}: {exc.msg}")
                continue
            if not isinstance(value, dict):
                yield RowResult(line_no, None, f"expected a JSON object, got {type(value).__name__}")
                continue
            if chk.schema is not None:
                try:
                    value = _from_json(value, chk.schema, "", chk.names)
                except _CoerceError as exc:
                    yield RowResult(line_no, None, str(exc))
                    continue
            yield chk.check(line_no, value)


def _read_csv(path: Path, chk: _Checker) -> Iterator[RowResult]:
    fields: dict[str, Any] = {}
    if chk.schema is not None and isinstance(chk.schema, dict):
        fields = {f["name"]: f for f in chk.schema.get("fields", [])}
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowResult(1, None, f"unreadable CSV header: {exc}")
            return
        header = [h.strip() for h in header]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            yield RowResult(1, None, f"CSV header repeats column(s) {dupes}; rename them")
            return
        last = reader.line_num
        while True:
            start = last + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                last = reader.line_num
                yield RowResult(start, None, f"unreadable CSV row: {exc}")
                continue
            last = reader.line_num
            if not row or all(not c.strip() for c in row) and len(row) <= 1:
                continue
            if len(row) != len(header):
                yield RowResult(start, None, f"row has {len(row)} values but the header has {len(header)} columns")
                continue
            record: dict[str, Any] = {}
            errors = []
            for name, cell in zip(header, row):
                f = fields.get(name)
                if f is None:
                    record[name] = cell
                    continue
                try:
                    record[name] = _from_text(cell, f["type"], name, chk.names)
                except _CoerceError as exc:
                    errors.append(str(exc))
            if errors:
                yield RowResult(start, None, "; ".join(errors))
                continue
            yield chk.check(start, record)


def _read_avro(path: Path, chk: _Checker) -> Iterator[RowResult]:
    with path.open("rb") as fh:
        try:
            head = fastavro.reader(fh)
            writer = parse(head.writer_schema)
        except (ValueError, EOFError, OSError, SchemaLoadError) as exc:
            yield RowResult(0, None, f"{path} is not an Avro object container file: {exc}")
            return
        # fastavro converts logical types by the *writer* schema; turn them back into ints.
        wnames = named_types(writer)
        records = iter(head)
        n = 0
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - any failure inside the container ends the file
                yield RowResult(n + 1, None, f"corrupt Avro file after record {n}: {type(exc).__name__}: {exc}")
                return
            n += 1
            yield chk.check(n, _plain(record, writer, wnames))


def read_records(
    path: str | Path,
    fmt: str | None = None,
    schema: Schema | str | Path | None = None,
    *,
    allow_non_finite: bool = False,
    allow_extra: bool = False,
) -> Iterator[RowResult]:
    """Yield one `RowResult` per row of a JSON-lines, CSV or Avro container file.

    `fmt`: `jsonl`, `csv` or `avro` (default: from the suffix). `schema` (parsed, JSON text or an
    `.avsc` path): CSV cells are converted to the field types (an empty cell is null for a
    nullable field; ISO-8601 is accepted for timestamp-millis fields), missing fields with a
    default get it, and every row is validated. Without a schema, rows pass unchecked (CSV
    values stay strings). NaN/inf and columns the schema does not know are errors unless allowed.
    A bad file name, format or schema raises `SchemaLoadError` at the call, before any row.
    """
    p = Path(path)
    fmt = (fmt or detect_format(p)).lower()
    if fmt == "json":
        fmt = "jsonl"
    if fmt not in FORMATS:
        raise SchemaLoadError(f"unknown input format {fmt!r}; use one of {FORMATS}")
    if not p.exists():
        raise SchemaLoadError(f"input file {p} does not exist")
    chk = _Checker(_load_schema(schema), allow_non_finite, allow_extra)
    reader = {"jsonl": _read_jsonl, "csv": _read_csv, "avro": _read_avro}[fmt]
    return reader(p, chk)
