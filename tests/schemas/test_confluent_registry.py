"""ConfluentRegistry against a fake Schema Registry HTTP server (unit tests only)."""

from __future__ import annotations

import copy

import pytest
from schemas_testkit import EVENT_V1, FakeConfluentServer, event

from schemas import (
    AvroCodec,
    ConfluentRegistry,
    IncompatibleSchemaError,
    RegistryError,
    RegistryUnavailableError,
    SchemaNotFoundError,
    canonical,
    header,
    parse,
)


def test_register_get_latest(fake_confluent):
    reg = ConfluentRegistry(fake_confluent.url)
    sid = reg.register("fraud.events-value", EVENT_V1)
    assert reg.register("fraud.events-value", EVENT_V1) == sid
    assert canonical(ConfluentRegistry(fake_confluent.url).get_by_id(sid)) == canonical(EVENT_V1)
    latest_id, latest = reg.latest("fraud.events-value")
    assert latest_id == sid and canonical(latest) == canonical(EVENT_V1)


def test_compatibility_is_checked_before_registering(fake_confluent):
    reg = ConfluentRegistry(fake_confluent.url)
    reg.register("t-value", EVENT_V1)
    paths = [p for m, p, _ in fake_confluent.requests if m == "POST"]
    assert paths[0].startswith("/compatibility/subjects/t-value/versions/latest")
    assert paths[1] == "/subjects/t-value/versions"


def test_incompatible_schema_refused_naming_the_field(fake_confluent):
    reg = ConfluentRegistry(fake_confluent.url)
    reg.register("t-value", EVENT_V1)
    bad = copy.deepcopy(EVENT_V1)
    bad["fields"].append({"name": "country", "type": "string"})
    n_before = len(fake_confluent.schemas)
    with pytest.raises(IncompatibleSchemaError, match="add a default to field 'country'"):
        reg.register("t-value", bad)
    assert len(fake_confluent.schemas) == n_before


def test_unknown_id_and_subject(fake_confluent):
    reg = ConfluentRegistry(fake_confluent.url)
    with pytest.raises(SchemaNotFoundError, match="schema id 7"):
        reg.get_by_id(7)
    with pytest.raises(SchemaNotFoundError, match="subject 'nope-value'"):
        reg.latest("nope-value")


def test_subject_names_are_url_quoted(fake_confluent):
    reg = ConfluentRegistry(fake_confluent.url)
    sid = reg.register("odd/topic name-value", EVENT_V1)
    assert reg.latest("odd/topic name-value")[0] == sid
    assert any("odd%2Ftopic%20name-value" in p for _, p, _ in fake_confluent.requests)


def test_basic_auth():
    with FakeConfluentServer(auth=("u", "secret")) as server:
        assert ConfluentRegistry(server.url, auth=("u", "secret")).register("t-value", EVENT_V1) == 1
        with pytest.raises(RegistryError, match="HTTP 401"):
            ConfluentRegistry(server.url, auth=("u", "wrong")).register("t-value", EVENT_V1)


def test_unreachable_registry():
    with pytest.raises(RegistryUnavailableError, match="cannot reach the Schema Registry"):
        ConfluentRegistry("http://127.0.0.1:9", timeout=2).get_by_id(1)


def test_codec_over_confluent_registry(fake_confluent):
    writer = AvroCodec(ConfluentRegistry(fake_confluent.url))
    writer.register("fraud.events-value", EVENT_V1)
    data = [writer.encode("fraud.events-value", event(i)) for i in range(10)]
    reader = AvroCodec(ConfluentRegistry(fake_confluent.url))
    records, failures = reader.decode_batch(data + [b"\x00\x00\x00\x00\x63xx"], reader_schema=parse(EVENT_V1))
    assert records[:10] == [event(i) for i in range(10)]
    assert failures[10].error_class == "unknown_schema_id"
    gets = [p for m, p, _ in fake_confluent.requests if m == "GET" and p.startswith("/schemas/ids/")]
    assert gets == ["/schemas/ids/1", "/schemas/ids/99"]  # one look-up per id, cached after


def test_non_avro_writer_schema_is_a_dead_letter_not_a_crash(fake_confluent):
    """A producer using Confluent's Protobuf / JSON Schema serializer (same magic byte, an id of a
    non-Avro schema), or an Avro schema Eddy cannot parse (references), is bad input: the batch
    gets a `schema_mismatch` failure in that slot and the good messages are still decoded."""
    codec = AvroCodec(ConfluentRegistry(fake_confluent.url))
    codec.register("fraud.events-value", EVENT_V1)
    good = codec.encode("fraud.events-value", event(1))
    fake_confluent.schemas[50] = 'syntax = "proto3"; message E { string event_id = 1; }'
    fake_confluent.schema_types[50] = "PROTOBUF"
    fake_confluent.schemas[51] = '{"type": "record", "name": "R", "fields": [{"name": "x", "type": "other.Ref"}]}'
    records, failures = codec.decode_batch([header(50) + b"\x00\x02", good, header(51) + b"\x02", good])
    assert records[1] == records[3] == event(1) and records[0] is records[2] is None
    assert [f.error_class if f else None for f in failures] == ["schema_mismatch", None, "schema_mismatch", None]
    assert "PROTOBUF, not Avro" in failures[0].reason and failures[0].schema_id == 50
    assert failures[2].schema_id == 51
