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
from pathlib import Path
from typing import Any, NamedTuple

import fastavro

from schemas.avsc import Schema, load_avsc, named_types, parse, strip_time_logical_types
from schemas.coerce import CoerceError, from_json, from_text, plain_values
from schemas.exceptions import SchemaLoadError
from schemas.validate import validation_errors

FORMATS = ("jsonl", "csv", "avro")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".avro": "avro"}


class RowResult(NamedTuple):
    """One input row: `line_no` (1-based line; for Avro files the record number) and either a
    valid `record` or an `error` string."""

    line_no: int
    record: dict[str, Any] | None
    error: str | None


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
                    value = from_json(value, chk.schema, "", chk.names)
                except CoerceError as exc:
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
                    record[name] = from_text(cell, f["type"], name, chk.names)
                except CoerceError as exc:
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
            yield chk.check(n, plain_values(record, writer, wnames))


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
