"""Ingestion rules: config parsing and readable violations."""

from __future__ import annotations

import math

import pytest
import yaml
from pydantic import ValidationError

from schemas import IngestRules, check_rules, check_size

NOW = 1_700_000_000_000

YAML = """
required: [event_id, card_id, amount, ts]
ranges:
  amount: {min: 0, max: 100000}
  n_items: {min: 1}
allowed:
  currency: [EUR, USD, GBP]
max_length:
  merchant: 8
max_string_length: 32
ts_field: ts
max_future: 5m
max_past: 7d
max_message_bytes: 65536
"""


@pytest.fixture
def rules() -> IngestRules:
    return IngestRules.model_validate(yaml.safe_load(YAML))


def good(**over):
    rec = {"event_id": "e1", "card_id": "c1", "amount": 12.5, "currency": "EUR", "ts": NOW, "merchant": "shop",
           "n_items": 2}
    rec.update(over)
    return rec


def test_yaml_parses_with_durations(rules):
    assert rules.max_future == 300_000 and rules.max_past == 7 * 86_400_000
    assert rules.ranges["amount"].max == 100000 and rules.allowed["currency"] == ("EUR", "USD", "GBP")


def test_unknown_key_and_bad_values_are_rejected():
    with pytest.raises(ValidationError, match="extra"):
        IngestRules.model_validate({"requried": ["a"]})
    with pytest.raises(ValidationError, match="cannot parse duration"):
        IngestRules(max_future="soon")
    with pytest.raises(ValidationError, match="above max"):
        IngestRules(ranges={"a": {"min": 5, "max": 1}})


def test_valid_record_passes(rules):
    assert check_rules(good(), rules, NOW) == []


def test_required(rules):
    rec = good(card_id=None)
    del rec["event_id"]
    assert check_rules(rec, rules, NOW) == [
        "field 'event_id' is required but missing",
        "field 'card_id' is required but null",
    ]


def test_ranges(rules):
    assert check_rules(good(amount=-5.0), rules, NOW) == ["amount=-5.0 is below min 0"]
    assert check_rules(good(amount=200000), rules, NOW) == ["amount=200000 is above max 100000"]
    assert check_rules(good(amount=math.nan), rules, NOW) == ["amount=nan is not a finite number"]
    assert check_rules(good(amount="12"), rules, NOW) == ["amount='12' is not a number (range needs one)"]
    assert check_rules(good(n_items=0), rules, NOW) == ["n_items=0 is below min 1"]


def test_allowed_values(rules):
    assert check_rules(good(currency="JPY"), rules, NOW) == ["currency='JPY' is not one of ['EUR', 'USD', 'GBP']"]
    flags = IngestRules(allowed={"flag": [1, 2]})
    assert check_rules({"flag": True}, flags, NOW) == ["flag=True is not one of [1, 2]"]
    assert check_rules({"flag": 1}, flags, NOW) == []


def test_string_lengths(rules):
    assert check_rules(good(merchant="x" * 9), rules, NOW) == ["merchant has length 9, more than max_length 8"]
    assert check_rules(good(card_id="c" * 33), rules, NOW) == [
        "card_id has length 33, more than max_string_length 32"
    ]


def test_timestamps_against_injected_clock(rules):
    ahead = check_rules(good(ts=NOW + 3_600_000), rules, NOW)
    assert ahead == [f"ts={NOW + 3_600_000} is 1h ahead of now ({NOW}), more than max_future 5m"]
    behind = check_rules(good(ts=NOW - 8 * 86_400_000), rules, NOW)
    assert behind == [f"ts={NOW - 8 * 86_400_000} is 8d behind now ({NOW}), more than max_past 7d"]
    assert check_rules(good(ts=NOW + 300_000), rules, NOW) == []  # exactly at the limit
    assert check_rules(good(ts="yesterday"), rules, NOW) == ["ts='yesterday' is not an int of ms since the epoch"]


def test_ts_field_override():
    rules = IngestRules(max_future="1s")
    assert check_rules({"event_time": NOW + 5000}, rules, NOW, ts_field="event_time") != []
    assert check_rules({"event_time": NOW + 5000}, rules, NOW) == []  # no ts field known: not checked


def test_dotted_paths():
    rules = IngestRules(required=["card.id"], allowed={"card.country": ["FR"]})
    assert check_rules({"card": {"id": "c", "country": "FR"}}, rules, NOW) == []
    assert check_rules({"card": {"country": "DE"}}, rules, NOW) == [
        "field 'card.id' is required but missing",
        "card.country='DE' is not one of ['FR']",
    ]


def test_message_size(rules):
    assert check_size(65_536, rules) is None
    assert check_size(65_537, rules) == "message has 65537 bytes, more than max_message_bytes 65536"
    assert IngestRules().is_empty and not rules.is_empty


def test_rules_are_frozen(rules):
    with pytest.raises(ValidationError):
        rules.max_past = 1
