"""The malformed-message kit: 1,200 bad messages interleaved with valid ones, all classified."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from schemas_testkit import EVENT_V1, event

from schemas import load_builtin, parse
from schemas.testing import MALFORMED_KINDS, malformed

SUBJECT = "fraud.events-value"


def test_every_malformed_message_gets_its_class_and_valid_ones_decode_once(codec):
    rng = random.Random(42)
    reader = parse(EVENT_V1)
    messages, expected = [], []
    for i in range(1200):
        messages.append(codec.encode(SUBJECT, event(i)))
        expected.append(("ok", f"e{i}"))
        data, error_class = malformed(codec, SUBJECT, event(i), MALFORMED_KINDS[i % len(MALFORMED_KINDS)], rng)
        messages.append(data)
        expected.append((error_class, None))
    records, failures = codec.decode_batch(messages, reader_schema=reader)
    got = []
    for rec, f in zip(records, failures):
        got.append(("ok", rec["event_id"]) if f is None else (f.error_class, None))
        assert f is None or len(f.reason) > 20
    assert got == expected
    counts = Counter(e for e, _ in got)
    assert counts["ok"] == 1200 and sum(v for k, v in counts.items() if k != "ok") == 1200
    assert len(counts) == 1 + len(MALFORMED_KINDS)


def test_not_finite_needs_a_float_field(registry):
    from schemas import AvroCodec

    codec = AvroCodec(registry)
    codec.register("l-value", load_builtin("model_event"))
    rec = dict(pipeline="p", run_id="r", model="m", version=1, action="snapshot", ts=1, detail="")
    with pytest.raises(ValueError, match="no top-level float/double field"):
        malformed(codec, "l-value", rec, "not_finite", random.Random(0))
    with pytest.raises(ValueError, match="unknown malformed kind"):
        malformed(codec, "l-value", rec, "gremlins", random.Random(0))
