"""Feature specs and durations: valid configs parse, invalid ones fail with clear errors."""

from __future__ import annotations

import logging
import re

import pydantic
import pytest
import yaml

from features import FeatureSet, FeatureSpecError, WindowFeature, parse_duration

YAML = """
windows:
  - {name: card_n_10m, entity: card_id, agg: count, window: 10m, bucket: 1m}
  - {name: card_amt_mean_1h, entity: card_id, agg: mean, field: amount, window: 1h, bucket: 5m}
  - {name: merch_cards_1d, entity: merchant_id, agg: distinct, field: card_id, window: 2d, bucket: 1h}
passthrough:
  - {name: amount, field: amount, default: 0.0}
derived:
  - {name: amount_vs_mean, op: ratio, left: amount, right: card_amt_mean_1h}
allowed_lateness: 2m
state_ttl: 7d
dedup_horizon: 1d
"""


def test_yaml_config_parses_with_durations():
    fs = FeatureSet.model_validate(yaml.safe_load(YAML))
    assert fs.names == ["card_n_10m", "card_amt_mean_1h", "merch_cards_1d", "amount", "amount_vs_mean"]
    assert fs.entities == ["card_id", "merchant_id"]
    assert fs.windows[1].window == 3_600_000 and fs.windows[1].n_buckets == 12
    assert fs.allowed_lateness == 120_000 and fs.state_ttl == 7 * 86_400_000 and fs.dedup_horizon == 86_400_000
    assert fs.windows[0].lateness_buckets(fs.allowed_lateness) == 2


@pytest.mark.parametrize(
    ("text", "ms"), [("500ms", 500), ("10s", 10_000), ("10m", 600_000), ("1h", 3_600_000), ("2d", 172_800_000), (42, 42), ("7", 7)]
)
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("bad", ["10 minutes", "1.5s", "-3s", -1, True, None, "s"])
def test_parse_duration_rejects(bad):
    with pytest.raises(FeatureSpecError, match="duration"):
        parse_duration(bad)


def window(**kw):
    base = {"name": "f", "entity": "card", "agg": "count", "window": "10m", "bucket": "1m"}
    return WindowFeature(**{**base, **kw})


def test_bucket_must_divide_window():
    with pytest.raises(pydantic.ValidationError, match="does not divide window"):
        window(window="10m", bucket="3m")


def test_a_window_of_too_many_buckets_is_refused_with_a_hint():
    FeatureSet(windows=[window(window="7d", bucket="1m")])  # 10,080 buckets
    with pytest.raises(pydantic.ValidationError, match="coarser"):
        FeatureSet(windows=[window(window="30d", bucket="1s")])
    with pytest.raises(pydantic.ValidationError, match="shorter allowed_lateness"):
        FeatureSet(windows=[window(window="1d", bucket="1s")], allowed_lateness="1d")


def test_the_ring_size_hint_suggests_a_window_the_default_state_ttl_holds():
    with pytest.raises(pydantic.ValidationError, match="coarser") as info:
        FeatureSet(windows=[window(window="30d", bucket="1s")], state_ttl="30d")
    bucket, win = re.search(r"e\.g\. (\w+) for a (\w+) window", str(info.value)).groups()
    FeatureSet(windows=[window(window=win, bucket=bucket)])


def test_a_state_ttl_shorter_than_window_plus_lateness_is_refused():
    """State expires state_ttl after a key's last write: a key idle that long would lose events
    still inside a longer window."""
    with pytest.raises(pydantic.ValidationError, match="state_ttl 1s is shorter than its window 1h") as info:
        FeatureSet(windows=[window(name="n_1h", window="1h", bucket="1m")], state_ttl="1s")
    assert "'n_1h'" in str(info.value) and "raise state_ttl to at least 1h" in str(info.value)
    FeatureSet(windows=[window(window="1h")], allowed_lateness="10m", state_ttl="70m")  # exactly W + lateness
    with pytest.raises(pydantic.ValidationError, match="allowed_lateness 10m.*at least 70m"):
        FeatureSet(windows=[window(window="1h")], allowed_lateness="10m", state_ttl="69m")
    with pytest.raises(pydantic.ValidationError, match="state_ttl 7d is shorter than its window 30d"):
        FeatureSet(windows=[window(window="30d", bucket="1h")])  # the default state_ttl


def test_a_dedup_horizon_shorter_than_a_window_is_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="eddy.features"):
        FeatureSet(windows=[window(window="1d", bucket="1h")])  # the default dedup_horizon 1d
        assert not caplog.records
        fs = FeatureSet(windows=[window(window="10m"), window(name="n_2d", window="2d", bucket="1h")])
    assert fs.dedup_horizon == 86_400_000
    [rec] = caplog.records
    assert rec.levelno == logging.WARNING
    assert "dedup_horizon 1d is shorter than the window 2d of feature 'n_2d'" in rec.getMessage()


def test_an_entity_with_a_colon_is_refused():
    """The state key is eddy:{ns}:st:{entity}:{key}: entity 'a' with key 'b:c' and entity 'a:b'
    with key 'c' would share one Redis key."""
    with pytest.raises(pydantic.ValidationError, match="entity 'a:b' contains ':'"):
        window(entity="a:b")
    window(entity="a_b")


def test_field_required_except_count_and_since_prev():
    window(agg="since_prev")
    for agg in ("sum", "mean", "min", "max", "std", "last", "distinct"):
        with pytest.raises(pydantic.ValidationError, match="needs a value `field`"):
            window(agg=agg)


def test_unknown_agg_and_unknown_keys_are_rejected():
    with pytest.raises(pydantic.ValidationError):
        window(agg="median")
    with pytest.raises(pydantic.ValidationError, match="extra"):
        window(colour="red")


def test_specs_are_frozen():
    w = window()
    with pytest.raises(pydantic.ValidationError):
        w.name = "g"  # type: ignore[misc]


def test_names_must_be_unique():
    with pytest.raises(pydantic.ValidationError, match="used twice"):
        FeatureSet(windows=[window()], passthrough=[{"name": "f", "field": "x"}])


def test_derived_must_refer_to_earlier_features():
    with pytest.raises(pydantic.ValidationError, match="refers to 'later'"):
        FeatureSet(
            windows=[window()],
            derived=[{"name": "a", "op": "sum", "left": "f", "right": "later"},
                     {"name": "later", "op": "sum", "left": "f", "right": "f"}],
        )
    with pytest.raises(pydantic.ValidationError):
        FeatureSet(windows=[window()], derived=[{"name": "a", "op": "pow", "left": "f", "right": "f"}])


def test_zero_window_rejected():
    with pytest.raises(pydantic.ValidationError, match="must be > 0"):
        window(window=0, bucket=0)


def test_docs_yaml_example_parses():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", doc, re.DOTALL).group(1)
    fs = FeatureSet.model_validate(yaml.safe_load(example)["features"])
    assert fs.entities == ["card_id", "merchant_id"] and fs.allowed_lateness == 120_000
