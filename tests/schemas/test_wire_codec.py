"""Confluent wire format codec: round trips, every DLQ error class from crafted bytes, fuzzing."""

from __future__ import annotations

import io
import math
import random
import struct

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st
from schemas_testkit import EVENT_V1, event

from schemas import (
    ERROR_CLASSES,
    AvroCodec,
    BadMagicError,
    CorruptAvroError,
    DecodeFailure,
    DuplicateError,
    EncodeError,
    FolderRegistry,
    IngestRules,
    NotFiniteError,
    RuleViolationError,
    SchemaMismatchError,
    TooLargeError,
    TruncatedError,
    UnknownSchemaIdError,
    check_rules,
    header,
    load_builtin,
    parse,
    strip_time_logical_types,
)

SUBJECT = "fraud.events-value"


def raw_message(schema_id: int, schema, record) -> bytes:
    """Bytes a careless producer might send: any schema id, any body, no validation."""
    buf = io.BytesIO()
    buf.write(header(schema_id))
    schemaless_writer(buf, strip_time_logical_types(parse(schema)), record, strict_allow_default=False)
    return buf.getvalue()


def test_round_trip_header_and_body(codec):
    data = codec.encode(SUBJECT, event(3))
    sid, _ = codec.schema_for(SUBJECT)
    assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] == sid
    assert codec.decode(data) == event(3)


def test_timestamps_stay_int_milliseconds(codec):
    rec = codec.decode(codec.encode(SUBJECT, event(1)))
    assert rec["ts"] == event(1)["ts"] and type(rec["ts"]) is int


def test_decode_with_same_reader_schema(codec):
    data = codec.encode(SUBJECT, event(2))
    assert codec.decode(data, reader_schema=parse(EVENT_V1)) == event(2)


def test_encode_refuses_wrong_type_naming_field(codec):
    with pytest.raises(EncodeError, match="field 'amount' expects double, got str 'ten'"):
        codec.encode(SUBJECT, event(1, amount="ten"))


def test_encode_refuses_missing_required_field(codec):
    rec = event(1)
    del rec["card_id"]
    with pytest.raises(EncodeError, match="field 'card_id' is missing"):
        codec.encode(SUBJECT, rec)


def test_encode_refuses_bad_enum_and_int_overflow(codec):
    with pytest.raises(EncodeError) as err:
        codec.encode(SUBJECT, event(1, currency="JPY", n_items=2**40))
    text = str(err.value)
    assert "field 'currency' = 'JPY' is not one of the symbols" in text and "n_items" in text
    assert len(err.value.problems) == 2


def test_encode_refuses_nan_unless_allowed(codec):
    with pytest.raises(EncodeError, match="field 'amount' is nan"):
        codec.encode(SUBJECT, event(1, amount=math.nan))
    data = codec.encode(SUBJECT, event(1, amount=math.nan), allow_non_finite=True)
    assert data[:1] == b"\x00"


def test_encode_unknown_subject(codec):
    with pytest.raises(EncodeError, match="no schema for subject 'nope-value'"):
        codec.encode("nope-value", event(1))


def test_encode_with_id(codec):
    sid, _ = codec.schema_for(SUBJECT)
    assert codec.encode_with_id(sid, event(4)) == codec.encode(SUBJECT, event(4))


def test_schema_for_uses_registry_latest(registry):
    AvroCodec(registry).register(SUBJECT, EVENT_V1)
    fresh = AvroCodec(registry)
    assert fresh.decode(fresh.encode(SUBJECT, event(5))) == event(5)


# -- one crafted input per error class -------------------------------------------------------


def failure_of(codec, data, **kw) -> DecodeFailure:
    records, failures = codec.decode_batch([data], **kw)
    assert records == [None]
    assert failures[0] is not None and failures[0].reason
    return failures[0]


def test_bad_magic(codec):
    assert failure_of(codec, b'{"event_id": "e1"}').error_class == "bad_magic"
    with pytest.raises(BadMagicError, match="0x7b, not the Confluent magic byte"):
        codec.decode(b'{"event_id": "e1"}')


def test_unknown_schema_id(codec):
    data = bytearray(codec.encode(SUBJECT, event(1)))
    data[1:5] = (999).to_bytes(4, "big")
    f = failure_of(codec, bytes(data))
    assert (f.error_class, f.schema_id) == ("unknown_schema_id", 999)
    with pytest.raises(UnknownSchemaIdError, match="schema id 999 is not in the registry"):
        codec.decode(bytes(data))


def test_an_unknown_schema_id_is_asked_for_once_per_period(codec, monkeypatch):
    """A flood of messages with a bad id must not ask the registry (an HTTP GET with Confluent)
    per message; an id registered later is read once the period is over."""
    from schemas import codec as codec_module

    asked = []
    get_by_id = codec.registry.get_by_id
    monkeypatch.setattr(codec.registry, "get_by_id", lambda sid: asked.append(sid) or get_by_id(sid))
    future = codec.registry.register("fraud.events-v2-value", with_field(parse(EVENT_V1), "v2"))
    v3 = with_field(parse(EVENT_V1), "v3")
    bad = raw_message(future + 1, v3, event(1) | {"v3": "x"})
    _, failures = codec.decode_batch([bad] * 50)
    assert {f.error_class for f in failures} == {"unknown_schema_id"} and asked == [future + 1]
    now = [0.0]
    monkeypatch.setattr(codec_module.time, "monotonic", lambda: now[0])
    codec._failed.clear()
    codec.decode_batch([bad])
    assert codec.registry.register("fraud.events-v3-value", v3) == future + 1
    assert failure_of(codec, bad).error_class == "unknown_schema_id"  # remembered
    now[0] = codec_module.FAILED_ID_TTL + 1
    assert codec.decode(bad) == event(1) | {"v3": "x"}
    assert asked == [future + 1, future + 1, future + 1]


def with_field(schema: dict, name: str) -> dict:
    """`schema` with one more optional field (a new version)."""
    return {**schema, "fields": [*schema["fields"], {"name": name, "type": ["null", "string"], "default": None}]}


@pytest.mark.parametrize("cut", [0, 1, 3, 5, 6, 12, -1])
def test_truncated(codec, cut):
    data = codec.encode(SUBJECT, event(1))
    assert failure_of(codec, data[: len(data) + cut if cut < 0 else cut]).error_class == "truncated"


def test_truncated_reason_mentions_header(codec):
    with pytest.raises(TruncatedError, match="shorter than the 5-byte Confluent header"):
        codec.decode(b"\x00\x00\x01")


def test_corrupt_avro_trailing_bytes(codec):
    data = codec.encode(SUBJECT, event(1)) + b"\x00\x01"
    with pytest.raises(CorruptAvroError, match="2 byte\\(s\\) left after the record"):
        codec.decode(data)


def test_tombstone_is_truncated_not_a_crash(codec):
    """A null value (Kafka tombstone) given as None: a `truncated` slot, the others unaffected
    (callers such as replay pass `m.value` as is)."""
    good = codec.encode(SUBJECT, event(1))
    records, failures = codec.decode_batch([None, good])
    assert records == [None, event(1)] and failures[1] is None
    assert failures[0].error_class == "truncated" and "tombstone" in failures[0].reason
    with pytest.raises(TruncatedError, match="tombstone"):
        codec.decode(None)


def test_bad_length_or_index_is_corrupt_even_at_the_end(codec, registry):
    """fastavro reports a negative length as EOFError and a bad enum/union index as IndexError,
    like a body that ends early; the message is not short, it is corrupt (docs/schemas.md)."""
    good = codec.encode(SUBJECT, event(1))
    neg_len = good[:5] + b"\x01" + good[6:]  # event_id length -1, the rest intact
    assert failure_of(codec, neg_len).error_class == "corrupt_avro"
    enum = {"type": "record", "name": "En", "fields": [
        {"name": "e", "type": {"type": "enum", "name": "C", "symbols": ["A", "B"]}}]}
    union = {"type": "record", "name": "Un", "fields": [{"name": "u", "type": ["null", "string"]}]}
    for subject, schema in (("en-value", enum), ("un-value", union)):
        data = header(AvroCodec(registry).register(subject, schema)) + b"\x0a"  # index 5, the last byte
        assert failure_of(codec, data).error_class == "corrupt_avro"
    for cut in (6, 7, len(good) - 1):  # really cut: still truncated
        assert failure_of(codec, good[:cut]).error_class == "truncated"


def test_cut_in_a_field_the_reader_drops_is_still_truncated(codec, registry):
    """fastavro skips a writer field the reader schema does not have without checking that its
    bytes are there: a message cut inside it decoded as a good record (a producer one schema
    version ahead of the pipeline)."""
    writer = {**EVENT_V1, "fields": EVENT_V1["fields"] + [{"name": "note", "type": "string", "default": ""}]}
    codec.register("ahead-value", writer)
    data = codec.encode("ahead-value", {**event(1), "note": "a note of some length"})
    reader = parse(EVENT_V1)
    assert codec.decode(data, reader) == event(1)
    for cut in (len(data) - 1, len(data) - 10):
        assert failure_of(codec, data[:cut], reader_schema=reader).error_class == "truncated"
    cut_note = codec.encode("ahead-value", {**event(1), "note": ""})[:-1]  # the note's length byte too
    assert failure_of(codec, cut_note, reader_schema=reader).error_class == "truncated"
    neg = codec.encode("ahead-value", {**event(1), "note": ""})[:-1] + b"\x01xyz"  # note length -1
    assert failure_of(codec, neg, reader_schema=reader).error_class == "corrupt_avro"


def test_corrupt_avro_bad_union_branch_and_utf8(codec, registry):
    sid, _ = codec.schema_for(SUBJECT)
    good = codec.encode(SUBJECT, event(1, merchant=None))
    # merchant union index is the byte after amount/currency/ts: craft an invalid branch index 7
    bad_union = header(sid) + b"\x04e1\x04c1" + struct.pack("<d", 1.0) + b"\x00" + b"\x80\xa0\xe9\xce\xbc\x63" + b"\x0e" + b"\x00"
    assert failure_of(codec, bad_union).error_class == "corrupt_avro"
    bad_utf8 = header(sid) + b"\x04\xff\xfe" + good[8:]
    assert failure_of(codec, bad_utf8).error_class == "corrupt_avro"


def test_schema_mismatch_wrong_types(codec, registry):
    other = {"type": "record", "name": "Transaction", "namespace": "examples.fraud",
             "fields": [{"name": "event_id", "type": "string"}, {"name": "amount", "type": "string"}]}
    sid = registry.register("other-value", other)
    data = raw_message(sid, other, {"event_id": "e1", "amount": "ten"})
    f = failure_of(codec, data, reader_schema=parse(EVENT_V1))
    assert f.error_class == "schema_mismatch" and f.schema_id == sid
    assert "field 'amount'" in f.reason and "card_id" in f.reason
    # without a reader schema the same bytes decode as written
    assert codec.decode(data) == {"event_id": "e1", "amount": "ten"}


def test_schema_mismatch_other_record(codec):
    reader = load_builtin("label")
    data = codec.encode(SUBJECT, event(1))
    with pytest.raises(SchemaMismatchError, match="changed its record name"):
        codec.decode(data, reader_schema=reader)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_not_finite(codec, value):
    data = codec.encode(SUBJECT, event(1, amount=value), allow_non_finite=True)
    f = failure_of(codec, data)
    assert f.error_class == "not_finite" and "field 'amount'" in f.reason
    with pytest.raises(NotFiniteError):
        codec.decode(data)


def test_not_finite_inside_a_map(registry):
    codec = AvroCodec(registry)
    codec.register("p.scores-value", load_builtin("score"))
    rec = score_record(features={"f1": 1.0, "f2": math.inf})
    data = codec.encode("p.scores-value", rec, allow_non_finite=True)
    assert "field 'features.f2' is inf" in failure_of(codec, data).reason


def test_not_finite_check_can_be_disabled(registry):
    codec = AvroCodec(registry, check_finite=False)
    codec.register(SUBJECT, EVENT_V1)
    data = codec.encode(SUBJECT, event(1, amount=math.nan), allow_non_finite=True)
    assert math.isnan(codec.decode(data)["amount"])


def test_too_large(registry):
    codec = AvroCodec(registry, max_bytes=40)
    codec.register(SUBJECT, EVENT_V1)
    data = codec.encode(SUBJECT, event(1, merchant="x" * 100))
    with pytest.raises(TooLargeError, match=f"{len(data)} bytes, more than the limit of 40"):
        codec.decode(data)


def test_rule_violation_and_duplicate_failures(codec):
    rec = codec.decode(codec.encode(SUBJECT, event(1, amount=-5.0)))
    violations = check_rules(rec, IngestRules(ranges={"amount": {"min": 0}}), now_ms=rec["ts"])
    f = DecodeFailure.of(RuleViolationError("; ".join(violations), 1))
    assert (f.error_class, f.reason) == ("rule_violation", "amount=-5.0 is below min 0")
    assert DecodeFailure.of(DuplicateError("event id e1 already seen")).error_class == "duplicate"


def test_error_classes_are_stable():
    assert ERROR_CLASSES == (
        "bad_magic", "unknown_schema_id", "truncated", "corrupt_avro", "schema_mismatch",
        "not_finite", "rule_violation", "duplicate", "too_large",
    )


def test_batch_keeps_slots_aligned(codec):
    good = [codec.encode(SUBJECT, event(i)) for i in range(3)]
    batch = [good[0], b"\x01junk", good[1], b"", good[2]]
    records, failures = codec.decode_batch(batch)
    assert [r is not None for r in records] == [True, False, True, False, True]
    assert [f.error_class if f else None for f in failures] == [None, "bad_magic", None, "truncated", None]
    assert records[4] == event(2)


class CountingRegistryFake(FolderRegistry):
    """Fake that counts schema look-ups, to prove decode_batch caches per id."""

    calls = 0

    def get_by_id(self, schema_id):
        type(self).calls += 1
        return super().get_by_id(schema_id)


def test_batch_fetches_each_schema_once(tmp_path):
    writer = AvroCodec(FolderRegistry(tmp_path))
    writer.register(SUBJECT, EVENT_V1)
    data = [writer.encode(SUBJECT, event(i)) for i in range(50)]
    CountingRegistryFake.calls = 0
    reader = AvroCodec(CountingRegistryFake(tmp_path))
    records, _ = reader.decode_batch(data, reader_schema=parse(EVENT_V1))
    reader.decode_batch(data, reader_schema=parse(EVENT_V1))
    assert records == [event(i) for i in range(50)] and CountingRegistryFake.calls == 1


def test_fuzz_never_raises_and_always_explains(codec):
    rng = random.Random(7)
    good = codec.encode(SUBJECT, event(1, merchant="shop"))
    sid = good[1:5]
    msgs = []
    for _ in range(3000):
        k = rng.random()
        if k < 0.25:
            m = rng.randbytes(rng.randint(0, 60))
        elif k < 0.5:
            m = b"\x00" + sid + rng.randbytes(rng.randint(0, 60))
        elif k < 0.75:
            m = good[: rng.randint(0, len(good) - 1)]
        else:
            b = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(5, len(b))] = rng.randrange(256)
            m = bytes(b)
        msgs.append(m)
    records, failures = codec.decode_batch(msgs, reader_schema=parse(EVENT_V1))
    for rec, f in zip(records, failures):
        assert (rec is None) != (f is None)
        if f is not None:
            assert f.error_class in ERROR_CLASSES and len(f.reason) > 10
    seen = {f.error_class for f in failures if f}
    assert {"bad_magic", "truncated", "corrupt_avro"} <= seen


def score_record(**over):
    rec = dict(
        event_id="e1", key="k1", event_ts=1_700_000_000_000, model="hoeffding", model_version=3,
        role="champion", shadow=False, prediction=0.25, predicted_label=None,
        served_ts=1_700_000_000_005, latency_ms=1.5, run_id="live", features={"amount_sum_1h": 12.0},
        segments={"country": "FR"}, late=False, degraded=False,
    )
    rec.update(over)
    return rec


# -- hypothesis: any valid record survives the round trip ------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
text = st.text(max_size=20)
records = st.fixed_dictionaries(
    {
        "event_id": text,
        "key": text,
        "event_ts": st.integers(0, 2**62),
        "model": text,
        "model_version": st.integers(-(2**31), 2**31 - 1),
        "role": st.sampled_from(["champion", "challenger", "baseline"]),
        "shadow": st.booleans(),
        "prediction": finite,
        "predicted_label": st.none() | text,
        "served_ts": st.integers(-(2**63), 2**63 - 1),
        "latency_ms": finite,
        "run_id": text,
        "features": st.dictionaries(text, finite, max_size=5),
        "segments": st.dictionaries(text, text, max_size=5),
        "late": st.booleans(),
        "degraded": st.booleans(),
    }
)


@pytest.fixture(scope="module")
def score_codec(tmp_path_factory):
    codec = AvroCodec(FolderRegistry(tmp_path_factory.mktemp("reg")))
    codec.register("p.scores-value", load_builtin("score"))
    return codec


@settings(max_examples=200, deadline=None)
@given(rec=records)
def test_hypothesis_round_trip(score_codec, rec):
    data = score_codec.encode("p.scores-value", rec)
    assert score_codec.decode(data) == rec
    out, fails = score_codec.decode_batch([data, data[:-1] if len(data) > 5 else b""])
    assert out[0] == rec and fails[0] is None and fails[1] is not None


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80))
def test_hypothesis_random_bytes_never_crash(score_codec, data):
    records, failures = score_codec.decode_batch([data, b"\x00\x00\x00\x00\x01" + data])
    for rec, f in zip(records, failures):
        assert (rec is None) != (f is None)
        if f is not None:
            assert f.error_class in ERROR_CLASSES


def test_every_strict_prefix_is_truncated(score_codec):
    data = score_codec.encode("p.scores-value", score_record(features={"a": 1.0, "b": 2.0}, predicted_label="x"))
    _, failures = score_codec.decode_batch([data[:n] for n in range(len(data))])
    assert {f.error_class for f in failures} == {"truncated"}
