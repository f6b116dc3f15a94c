"""Schema evolution end to end: old data through a new reader schema, and refused changes."""

from __future__ import annotations

import copy

import pytest
from schemas_testkit import EVENT_V1, event

from schemas import AvroCodec, IncompatibleSchemaError, parse

SUBJECT = "fraud.events-value"


def v2() -> dict:
    """EVENT_V1 + `channel` (added with a default) - `merchant` (optional field removed)."""
    s = copy.deepcopy(EVENT_V1)
    s["fields"] = [fl for fl in s["fields"] if fl["name"] != "merchant"]
    s["fields"].append({"name": "channel", "type": "string", "default": "web"})
    return s


def test_old_events_read_with_new_reader_schema(codec, registry):
    old_bytes = [codec.encode(SUBJECT, event(i, merchant=f"m{i}")) for i in range(5)]
    id_v1, _ = codec.schema_for(SUBJECT)
    id_v2 = codec.register(SUBJECT, v2())  # allowed: BACKWARD compatible
    assert id_v2 != id_v1 and registry.versions(SUBJECT) == [id_v1, id_v2]

    reader = parse(v2())
    records, failures = codec.decode_batch(old_bytes, reader_schema=reader)
    assert failures == [None] * 5
    for i, rec in enumerate(records):
        assert rec["channel"] == "web"  # added field: default filled in
        assert "merchant" not in rec  # removed optional field: dropped
        assert rec["amount"] == event(i)["amount"] and rec["ts"] == event(i)["ts"]


def test_new_events_read_with_old_reader_schema(codec):
    codec.register(SUBJECT, v2())
    new_event = {k: v for k, v in event(1).items() if k != "merchant"} | {"channel": "pos"}
    data = codec.encode(SUBJECT, new_event)
    rec = codec.decode(data, reader_schema=parse(EVENT_V1))  # an old consumer (FORWARD direction)
    assert rec["merchant"] is None and "channel" not in rec and rec["event_id"] == "e1"


def test_mixed_stream_of_old_and_new_writers(codec):
    old = codec.encode(SUBJECT, event(1))
    codec.register(SUBJECT, v2())
    new = codec.encode(SUBJECT, {k: v for k, v in event(2).items() if k != "merchant"} | {"channel": "app"})
    records, failures = codec.decode_batch([old, new, old], reader_schema=parse(v2()))
    assert failures == [None, None, None]
    assert [r["channel"] for r in records] == ["web", "app", "web"]


def test_field_added_without_default_is_refused_with_the_field_name(codec, registry):
    bad = copy.deepcopy(EVENT_V1)
    bad["fields"].append({"name": "country", "type": "string"})
    with pytest.raises(IncompatibleSchemaError) as err:
        codec.register(SUBJECT, bad)
    msg = str(err.value)
    assert "field 'country'" in msg and "add a default to field 'country'" in msg
    assert len(registry.versions(SUBJECT)) == 1  # nothing registered


def test_type_change_is_refused_with_the_field_name(codec):
    bad = copy.deepcopy(EVENT_V1)
    for fl in bad["fields"]:
        if fl["name"] == "amount":
            fl["type"] = "string"
    with pytest.raises(IncompatibleSchemaError, match="field 'amount' changed type from double to string"):
        codec.register(SUBJECT, bad)


def test_removed_enum_symbol_is_refused(codec):
    bad = copy.deepcopy(EVENT_V1)
    bad["fields"][3]["type"] = {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD"]}
    with pytest.raises(IncompatibleSchemaError, match=r"field 'currency'.*\['GBP'\]"):
        codec.register(SUBJECT, bad)


def test_full_compatibility_refuses_removing_a_required_field(tmp_path):
    from schemas import FolderRegistry

    codec = AvroCodec(FolderRegistry(tmp_path, compatibility="FULL"))
    codec.register(SUBJECT, EVENT_V1)
    codec.register(SUBJECT, v2())  # merchant had a default, channel has one: FULL ok
    bad = copy.deepcopy(v2())
    bad["fields"] = [fl for fl in bad["fields"] if fl["name"] != "card_id"]
    with pytest.raises(IncompatibleSchemaError, match="field 'card_id' was removed"):
        codec.register(SUBJECT, bad)
