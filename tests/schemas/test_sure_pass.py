"""`schemas.sure_pass`: the rules' quick test may be unsure of a good record, never sure of a bad one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import IngestRules, check_rules, sure_pass

FIELD_VALUES = [None, True, False, 0, -5, 7, 100001, 0.5, -0.0, float("nan"), float("inf"), 1e6, "pos", "online",
                "atm", "ATM", "x" * 70, "", b"pos", ["pos"], {"a": 1}, ("atm",),
                # times around now = 10_000_000 (max_past 1 h, max_future 5 min)
                10_000_000, 10_000_000 - 3_600_000, 10_000_000 - 3_600_001, 10_000_000 + 300_000, 10_000_000 + 300_001,
                10_000_000.0]
NOW = 10_000_000


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["event_id", "ts", "card_id", "merchant_id", "amount", "channel", "note", "n"]),
                       st.sampled_from(FIELD_VALUES)),
       st.sampled_from([None, 64, 3]), st.booleans(), st.booleans())
def test_sure_only_of_what_check_rules_passes(record, longest, limit_note, timed):
    rules = IngestRules(required=["event_id", "ts", "card_id"], ranges={"amount": {"min": 0, "max": 100000}, "n": {"min": 1}},
                        allowed={"channel": ["pos", "online", "atm", 1, True]}, max_string_length=longest,
                        max_length={"note": 2} if limit_note else {},
                        **({"max_past": "1h", "max_future": "5m"} if timed else {}))
    sure = sure_pass(rules, ts_field="ts")
    assert sure is not None
    good = check_rules(record, rules, NOW, ts_field="ts") == []
    if sure(record, NOW):
        assert good
    plain = all(type(v) in (int, float, str) for v in record.values()) and type(record.get("ts", 0)) is int
    if good and plain and not isinstance(record.get("channel", ""), (int, float)):
        assert sure(record, NOW)  # and it is sure of plain good records (else it would not save anything)


def test_no_quick_test_for_dotted_names():
    assert sure_pass(IngestRules(required=["card.id"])) is None
    assert sure_pass(IngestRules(required=["a"], max_past="1h"), ts_field="event.ts") is None
    assert sure_pass(IngestRules(required=["a"], max_past="1h"), ts_field="ts") is not None
    assert sure_pass(IngestRules())({"anything": 1}, 0)
