"""DLQ records match eddy.DlqRecord and keep the original bytes."""

from __future__ import annotations

import pytest

from schemas import (
    AvroCodec,
    DecodeFailure,
    FolderRegistry,
    dlq_record_from_failure,
    load_builtin,
    make_dlq_record,
    validation_errors,
)

NOW = 1_700_000_000_000


def test_record_matches_schema_and_round_trips(tmp_path):
    rec = make_dlq_record("fraud", "fraud.events", 2, 1234, b"card-7", b"\x00\x00\x00\x03\xe7\x01", "unknown_schema_id",
                          "schema id 999 is not in the registry", NOW, schema_id=999)
    assert validation_errors(rec, load_builtin("dlq")) == []
    codec = AvroCodec(FolderRegistry(tmp_path))
    codec.register("fraud.dlq-value", load_builtin("dlq"))
    assert codec.decode(codec.encode("fraud.dlq-value", rec)) == rec


def test_key_may_be_none_or_text():
    rec = make_dlq_record("p", "p.events", 0, 0, None, b"x", "bad_magic", "r", NOW)
    assert rec["key"] is None and rec["schema_id"] is None
    assert make_dlq_record("p", "p.events", 0, 0, "k", "v", "bad_magic", "r", NOW)["key"] == b"k"


def test_reason_is_required_and_capped():
    with pytest.raises(ValueError, match="reason"):
        make_dlq_record("p", "t", 0, 0, None, b"", "truncated", "", NOW)
    long = make_dlq_record("p", "t", 0, 0, None, b"", "truncated", "x" * 10_000, NOW)["reason"]
    assert len(long) == 4000 and long.endswith("...")


def test_from_failure():
    f = DecodeFailure("truncated", "message has 3 bytes", None)
    rec = dlq_record_from_failure("p", "p.events", 1, 9, b"k", b"\x00\x00\x01", f, NOW)
    assert (rec["error_class"], rec["reason"], rec["partition"], rec["offset"]) == ("truncated", f.reason, 1, 9)


def test_worker_side_letters_record_the_schema_id_of_the_header():
    """A rule violation or a duplicate was decoded fine: its header's id is recorded, as the
    docs promise for every letter whose header could be read."""
    good = b"\x00\x00\x00\x00\x07rest-of-avro"
    assert make_dlq_record("p", "p.events", 0, 0, None, good, "rule_violation", "amount < 0", NOW)["schema_id"] == 7
    assert make_dlq_record("p", "p.events", 0, 0, None, good, "duplicate", "seen", NOW, schema_id=3)["schema_id"] == 3
    for value in (b"\x01\x00\x00\x00\x07x", b"\x00\x00\x07", b"", None):
        assert make_dlq_record("p", "p.events", 0, 0, None, value, "truncated", "r", NOW)["schema_id"] is None


@pytest.mark.parametrize(("value", "reason"), [
    (b"\x00\x80\x00\x00\x00\x02x", "unknown schema id 2147483648"),  # an id past an Avro int
    (b"\x00\xff\xff\xff\xffx", "unknown schema id 4294967295"),
    (b"\x00\x00\x00\x00\x07x", "model 'm' failed (ValueError: bad \udc80 byte)"),  # a lone surrogate
])
def test_every_letter_encodes(tmp_path, value, reason):
    """A letter that does not encode stopped the worker, and every restart stopped at the same
    message: the header's unsigned id past 2**31 - 1 is left out (it stays in `value`), a reason
    that is no UTF-8 is escaped."""
    rec = make_dlq_record("p", "p.events", 0, 5, b"k", value, "unknown_schema_id", reason, NOW)
    codec = AvroCodec(FolderRegistry(tmp_path))
    codec.register("p.dlq-value", load_builtin("dlq"))
    back = codec.decode(codec.encode("p.dlq-value", rec))
    assert back["value"] == value and back["schema_id"] == (7 if value[1:5] == b"\x00\x00\x00\x07" else None)
    assert back["reason"] == reason.encode("utf-8", "backslashreplace").decode("utf-8")
