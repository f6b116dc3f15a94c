"""Input readers for `eddy produce`: JSON lines, CSV, Avro container files, with line numbers."""

from __future__ import annotations

import json

import fastavro
import pytest
from schemas_testkit import EVENT_V1, event

from schemas import SchemaLoadError, detect_format, parse, read_records


def results(rows):
    return [(r.line_no, r.record is not None, r.error) for r in rows]


def test_jsonl_reports_bad_lines_and_keeps_going(tmp_path):
    p = tmp_path / "events.jsonl"
    lines = [
        json.dumps(event(0)),
        "{not json",
        "",
        json.dumps(event(1, amount="ten")),
        json.dumps([1, 2]),
        json.dumps(event(2, currency="JPY")),
        json.dumps(event(3)),
    ]
    p.write_text("\n".join(lines) + "\n")
    rows = list(read_records(p, schema=EVENT_V1))
    assert [r.line_no for r in rows] == [1, 2, 4, 5, 6, 7]
    assert [r.record for r in rows if r.record] == [event(0), event(3)]
    errors = {r.line_no: r.error for r in rows if r.error}
    assert errors[2].startswith("invalid JSON")
    assert errors[4] == "field 'amount' expects double, got str 'ten'"
    assert errors[5] == "expected a JSON object, got list"
    assert "field 'currency' = 'JPY'" in errors[6]


def test_jsonl_fills_defaults_accepts_iso_time_and_refuses_nan(tmp_path):
    p = tmp_path / "e.ndjson"
    rec = {k: v for k, v in event(0).items() if k != "merchant"}
    p.write_text(
        json.dumps(rec) + "\n"
        + json.dumps(event(1, ts="2023-11-14T22:13:20Z")) + "\n"
        + '{"event_id": "e2", "card_id": "c", "amount": NaN, "currency": "EUR", "ts": 1, "n_items": 1}\n'
        + json.dumps(event(3, extra=1)) + "\n"
    )
    rows = list(read_records(p, schema=EVENT_V1))
    assert rows[0].record == event(0) | {"merchant": None}
    assert rows[1].record["ts"] == 1_700_000_000_000
    assert rows[2].error.startswith("field 'amount' is nan")
    assert rows[3].error == "field 'extra' is not in the schema; remove it or add it to the schema"
    nan_ok = list(read_records(p, schema=EVENT_V1, allow_non_finite=True, allow_extra=True))
    assert [r.error for r in nan_ok] == [None, None, None, None]


def test_csv_coerces_types_and_reports_line_numbers(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text(
        "event_id,card_id,amount,currency,ts,merchant,n_items\n"
        "e0,c0,10.0,EUR,1700000000000,m0,0\n"
        "e1,c1,oops,EUR,1700000000000,,1\n"
        'e2,c2,12.0,USD,2023-11-14T22:13:20Z,"multi\nline shop",2\n'
        "e3,c3,13.0,EUR,1700000000000,,x\n"
        "\n"
        "e4,c4,14.0,EUR,1700000000000,\n"
        "e5,c5,15.0,EUR,1700000000000,,5\n"
    )
    rows = list(read_records(p, schema=EVENT_V1))
    assert results(rows) == [
        (2, True, None),
        (3, False, "field 'amount': 'oops' is not a number"),
        (4, True, None),
        (6, False, "field 'n_items': 'x' is not an integer"),
        (8, False, "row has 6 values but the header has 7 columns"),
        (9, True, None),
    ]
    assert rows[0].record == event(0)
    assert rows[2].record["merchant"] == "multi\nline shop" and rows[2].record["ts"] == 1_700_000_000_000
    assert rows[5].record["merchant"] is None  # empty cell -> null for a nullable field


def test_csv_booleans_maps_and_bytes(tmp_path):
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "tags", "type": {"type": "map", "values": "double"}},
        {"name": "blob", "type": "bytes"},
        {"name": "score", "type": ["null", "double"], "default": None},
    ]}
    p = tmp_path / "r.csv"
    p.write_text('flag,tags,blob,score\nyes,"{""a"": 1.5}",xyz,\nmaybe,{},,0.5\nfalse,"{""a"": ""b""}",q,2\n')
    rows = list(read_records(p, schema=schema))
    assert rows[0].record == {"flag": True, "tags": {"a": 1.5}, "blob": b"xyz", "score": None}
    assert rows[1].error == "field 'flag': 'maybe' is not a boolean (true/false, 1/0, yes/no)"
    assert rows[2].error == "field 'tags.a' expects double, got str 'b'"


def test_csv_missing_required_column(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("event_id,amount\ne1,1.0\n")
    (row,) = read_records(p, schema=EVENT_V1)
    assert row.line_no == 2 and "field 'card_id' is missing" in row.error


def test_avro_container_file(tmp_path):
    p = tmp_path / "events.avro"
    records = [event(0), event(1), event(2, amount=float("inf"))]
    with p.open("wb") as fh:
        fastavro.writer(fh, parse(EVENT_V1), records)
    rows = list(read_records(p, schema=EVENT_V1))
    assert results(rows)[:2] == [(1, True, None), (2, True, None)]
    assert rows[0].record == event(0) and type(rows[0].record["ts"]) is int
    assert rows[2].line_no == 3 and "field 'amount' is inf" in rows[2].error
    # without a schema: the file's own schema, no validation against a target
    assert len(list(read_records(p, allow_non_finite=True))) == 3


def test_avro_file_with_an_incompatible_target_schema(tmp_path):
    p = tmp_path / "labels.avro"
    with p.open("wb") as fh:
        fastavro.writer(fh, parse({"type": "record", "name": "L", "fields": [{"name": "event_id", "type": "string"}]}),
                        [{"event_id": "e1"}])
    (row,) = read_records(p, schema=EVENT_V1)
    assert row.error and "field 'card_id' is missing" in row.error


def test_corrupt_avro_file(tmp_path):
    good = tmp_path / "g.avro"
    with good.open("wb") as fh:
        fastavro.writer(fh, parse(EVENT_V1), [event(i) for i in range(50)])
    data = good.read_bytes()
    bad = tmp_path / "b.avro"
    bad.write_bytes(data[: len(data) - 40])
    rows = list(read_records(bad, schema=EVENT_V1))
    assert rows[-1].error and rows[-1].error.startswith("corrupt Avro file")
    (tmp_path / "n.avro").write_bytes(b"not avro at all")
    (row,) = read_records(tmp_path / "n.avro")
    assert "not an Avro object container file" in row.error


def test_schema_from_avsc_path(tmp_path):
    avsc = tmp_path / "e.avsc"
    avsc.write_text(json.dumps(EVENT_V1))
    p = tmp_path / "e.jsonl"
    p.write_text(json.dumps(event(0)) + "\n")
    assert [r.record for r in read_records(p, schema=str(avsc))] == [event(0)]


def test_no_schema_passes_rows_through(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,\n")
    assert [r.record for r in read_records(p)] == [{"a": "1", "b": ""}]


def test_format_detection_and_errors(tmp_path):
    assert detect_format("a.json") == "jsonl"
    with pytest.raises(SchemaLoadError, match="pass fmt="):
        detect_format("a.txt")
    with pytest.raises(SchemaLoadError, match="does not exist"):
        read_records(tmp_path / "missing.csv")
    with pytest.raises(SchemaLoadError, match="unknown input format"):
        read_records(tmp_path / "x.csv", fmt="xml")
    p = tmp_path / "x.txt"
    p.write_text(json.dumps(event(0)) + "\n")
    assert [r.record for r in read_records(p, fmt="jsonl")] == [event(0)]
