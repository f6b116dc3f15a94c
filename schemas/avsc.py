"""Parsing, cleaning and canonical forms of Avro schemas (pure helpers over fastavro).

>>> s = parse({"type": "record", "name": "E", "namespace": "x",
...            "fields": [{"name": "a", "type": {"type": "string"}, "doc": "hi"}]})
>>> s["name"]
'x.E'
>>> canonical(s)
'{"fields":[{"name":"a","type":"string"}],"name":"x.E","type":"record"}'
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType, fingerprint, to_parsing_canonical_form

from schemas.exceptions import SchemaLoadError

Schema = Any  # a parsed Avro schema: str, list (union) or dict

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
# Logical types stripped before encoding/decoding so values stay plain ints (ms since epoch).
TIME_LOGICAL_TYPES = frozenset(
    {
        "timestamp-millis",
        "timestamp-micros",
        "local-timestamp-millis",
        "local-timestamp-micros",
        "date",
        "time-millis",
        "time-micros",
    }
)
_DROPPED_KEYS = frozenset({"doc"})


def parse(schema: Schema | str) -> Schema:
    """Parse a schema given as a dict/list/name or as JSON text; raise `SchemaLoadError` if invalid."""
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise SchemaLoadError(f"schema is not valid JSON: {exc}; fix the JSON text") from exc
    try:
        return fastavro.parse_schema(schema, _force=True)
    except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SchemaLoadError(f"invalid Avro schema: {exc}; fix the schema definition") from exc


def load_avsc(path: str | Path) -> Schema:
    """Read and parse one `.avsc` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaLoadError(f"cannot read schema file {p}: {exc}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaLoadError(f"{p} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc
    try:
        return parse(raw)
    except SchemaLoadError as exc:
        raise SchemaLoadError(f"{p}: {exc}") from exc


def clean(schema: Schema) -> Schema:
    """A plain-JSON copy of a (parsed) schema without fastavro's private `__` keys."""
    if isinstance(schema, dict):
        return {k: clean(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [clean(s) for s in schema]
    return schema


def to_json(schema: Schema) -> str:
    """The schema as JSON text, fit for a registry or an `.avsc` file."""
    return json.dumps(clean(schema), sort_keys=True)


def _normalize(schema: Schema) -> Schema:
    if isinstance(schema, dict):
        out = {k: _normalize(v) for k, v in schema.items() if not k.startswith("__") and k not in _DROPPED_KEYS}
        if set(out) == {"type"} and out["type"] in PRIMITIVES:
            return out["type"]
        if "fields" in out:
            out["fields"] = [_normalize(f) for f in schema["fields"]]
        return out
    if isinstance(schema, list):
        return [_normalize(s) for s in schema]
    return schema


def canonical(schema: Schema | str) -> str:
    """The text that decides whether two schemas are the same.

    Parsing Canonical Form keeps only what affects the binary encoding, so two schemas that
    differ only by a default would collide; this form is PCF's spirit (full names, no docs,
    no whitespace, `{"type": "int"}` == `"int"`) but keeps defaults, aliases, orders and
    logical types, which matter to readers.
    """
    return json.dumps(_normalize(parse(schema)), sort_keys=True, separators=(",", ":"))


def pcf_fingerprint(schema: Schema | str) -> str:
    """CRC-64-AVRO fingerprint of the Parsing Canonical Form (hex), for reference."""
    return fingerprint(to_parsing_canonical_form(parse(schema)), "CRC-64-AVRO")


def _strip(schema: Schema) -> Schema:
    if isinstance(schema, dict):
        out = {k: _strip(v) for k, v in schema.items() if not k.startswith("__")}
        if out.get("logicalType") in TIME_LOGICAL_TYPES:
            del out["logicalType"]
            if set(out) == {"type"}:
                return out["type"]
        return out
    if isinstance(schema, list):
        return [_strip(s) for s in schema]
    return schema


def strip_time_logical_types(schema: Schema) -> Schema:
    """A parsed copy of `schema` where timestamp/date/time fields are plain ints.

    Eddy keeps time as ms ints everywhere; fastavro would otherwise return `datetime`s.
    """
    return parse(_strip(copy.deepcopy(clean(schema))))


def named_types(schema: Schema) -> dict[str, Schema]:
    """Map full name -> definition for every named type (record, enum, fixed) in a parsed schema."""
    names: dict[str, Schema] = {}

    def walk(s: Schema) -> None:
        if isinstance(s, list):
            for b in s:
                walk(b)
        elif isinstance(s, dict):
            t = s.get("type")
            if t in ("record", "error", "enum", "fixed") and "name" in s:
                if s["name"] in names:
                    return
                names[s["name"]] = s
            if t in ("record", "error"):
                for f in s.get("fields", []):
                    walk(f["type"])
            elif t == "array":
                walk(s["items"])
            elif t == "map":
                walk(s["values"])
            elif isinstance(t, (dict, list)):
                walk(t)

    walk(schema)
    return names


def type_name(schema: Schema) -> str:
    """Short readable name of a schema's type: `long`, `record eddy.Score`, `union[null,string]`."""
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union[" + ",".join(type_name(b) for b in schema) + "]"
    t = schema.get("type")
    if t in ("record", "error", "enum", "fixed"):
        return f"{t} {schema.get('name')}"
    if t == "array":
        return f"array<{type_name(schema['items'])}>"
    if t == "map":
        return f"map<{type_name(schema['values'])}>"
    return type_name(t)
