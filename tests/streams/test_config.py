"""The pipeline config: the bundled examples load; mistakes give errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.config import load_config
from streams.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_fraud_example_loads():
    cfg = load_config(ROOT / "examples" / "fraud" / "config.yaml")
    assert cfg.topics.events == "fraud.events"
    assert cfg.topics.layout()[cfg.topics.labels] == 1
    assert len(cfg.features.windows) == 6
    assert cfg.schema_file.exists()


def _write(tmp_path: Path, mutate) -> Path:  # noqa: ANN001
    raw = yaml.safe_load((ROOT / "examples" / "fraud" / "config.yaml").read_text())
    mutate(raw)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r.update(unknown_key=1), "unknown_key"),
        (lambda r: r["event"].update(id_feild="x"), "id_feild"),
        (lambda r: r.update(pipeline="Bad Name!"), "pipeline"),
        (lambda r: r["features"]["windows"][0].update(window="7m", bucket="2m"), "windows"),
        (lambda r: r["models"]["champion"].update(model="no_such_model"), "no_such_model"),
        (lambda r: r["labels"].update(snapshot_ttl="soon"), "snapshot_ttl"),
        # a learner that forgets a learned id while its snapshot lives would learn a re-sent label twice
        (lambda r: r["labels"].update(snapshot_ttl="10m", dedup_horizon="5s"), "learned twice"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, mutate, needle):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, mutate))
    assert needle in str(err.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_digest_is_stable_and_sensitive(tmp_path):
    a = load_config(ROOT / "examples" / "fraud" / "config.yaml")
    b = load_config(_write(tmp_path, lambda r: None))
    c = load_config(_write(tmp_path, lambda r: r["models"].update(seed=43)))
    assert a.digest() == b.digest() != c.digest()
    moved = load_config(_write(tmp_path, lambda r: r["event"].update(schema=str(a.schema_file))))
    assert moved.digest() == a.digest()  # where the schema file is does not change results


def test_the_labels_dedup_horizon_follows_the_snapshot_ttl(tmp_path):
    """Left out, `labels.dedup_horizon` is `snapshot_ttl`: a label is learned only while its
    snapshot lives, so that is as long as the learner must remember it."""
    cfg = load_config(_write(tmp_path, lambda r: r["labels"].update(snapshot_ttl="14d")))
    assert cfg.labels.dedup_horizon == cfg.labels.snapshot_ttl == 14 * 86_400_000
    cfg = load_config(_write(tmp_path, lambda r: r["labels"].update(snapshot_ttl="1h", dedup_horizon="1d")))
    assert cfg.labels.dedup_horizon == 86_400_000


def test_a_recommendation_pipeline_needs_user_and_item_features(tmp_path):
    """Its models read `x["user"]` and `x["item"]`: without them the first event would stop the
    worker (an audit), so the config is refused when loaded, with what to add."""
    raw = yaml.safe_load((ROOT / "examples" / "reco" / "config.yaml").read_text())
    raw["event"]["schema"] = str(ROOT / "examples" / "reco" / raw["event"]["schema"])
    raw["features"]["passthrough"] = [p for p in raw["features"]["passthrough"] if p["name"] != "item"]
    p = tmp_path / "reco.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="'item' missing: add a passthrough"):
        load_config(p)


def test_lateness_warning_only_for_other_entities_across_partitions_with_no_lateness(tmp_path):
    """The fraud example keys its merchant windows by another field than the topic key: with 4
    partitions and no allowed lateness the worker warns; with lateness, one partition, or only
    the key's own windows it does not."""
    from streams.config import lateness_warnings

    def no_lateness(r):  # noqa: ANN001, ANN202
        r["features"].pop("allowed_lateness")

    warned = lateness_warnings(load_config(_write(tmp_path, no_lateness)))
    assert len(warned) == 1 and "'merchant_id'" in warned[0] and "4 partitions" in warned[0]
    assert lateness_warnings(load_config(ROOT / "examples" / "fraud" / "config.yaml")) == []  # 1h

    def one_partition(r):  # noqa: ANN001, ANN202
        no_lateness(r)
        r["partitions"] = 1

    assert lateness_warnings(load_config(_write(tmp_path, one_partition))) == []

    def card_only(r):  # noqa: ANN001, ANN202
        no_lateness(r)
        r["features"]["windows"] = [w for w in r["features"]["windows"] if w["entity"] == "card_id"]
        r["features"]["derived"] = []

    assert lateness_warnings(load_config(_write(tmp_path, card_only))) == []


def test_fields_the_schema_does_not_have_are_refused_before_any_event(tmp_path):
    """A misspelt field would dead-letter every event (id, time) or leave keys and segments empty,
    silently: the codecs of a worker, `eddy produce` and replay refuse the config, naming each."""
    from streams.wiring import Codecs, schema_registry

    def typos(r):  # noqa: ANN001, ANN202
        r["event"]["schema"] = str(ROOT / "examples" / "fraud" / "transaction.avsc")
        r["event"]["key_field"] = "cardid"
        r["features"]["windows"][5]["field"] = "card"
        r["segments"] = ["country", "chanel"]

    cfg = load_config(_write(tmp_path, typos))
    with pytest.raises(ConfigError) as err:
        Codecs.build(cfg, schema_registry(None, tmp_path / "home"))
    message = str(err.value)
    assert "event.key_field: 'cardid'" in message and "'merchant_cards_1h'.field: 'card'" in message
    assert "segments: 'chanel'" in message and "'country'" not in message
    fine = load_config(ROOT / "examples" / "fraud" / "config.yaml")
    assert Codecs.build(fine, schema_registry(None, tmp_path / "home")).event_schema["name"]
