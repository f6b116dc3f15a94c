"""`streams.wiring.ScoreEncoder`: score records with the shared parts encoded once, same bytes."""

from __future__ import annotations

import math
import random

import pytest

from schemas import FolderRegistry
from streams.config import load_config
from streams.harness import example_config
from streams.wiring import Codecs, ScoreEncoder


@pytest.fixture
def codecs(tmp_path):
    cfg = load_config(example_config(tmp_path, "enc", "fraud"))
    return Codecs.build(cfg, FolderRegistry(tmp_path / "registry"))


def records(n: int, seed: int = 1) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    scores, shadow = [], []
    for i in range(n):
        features = {"amount": rng.random() * 100, "n_1h": float(rng.randint(0, 9)), "ratio": math.pi * i}
        segments = {"country": rng.choice(["FR", "DE"])}
        base = {"event_id": f"e{i}", "key": f"card{i % 7}", "event_ts": 1_700_000_000_000 + i, "served_ts": 1_700_000_000_500 + i,
                "latency_ms": rng.random(), "run_id": "enc-live", "features": features, "segments": segments,
                "late": i % 5 == 0, "degraded": False}
        for model, role in (("logreg", "champion"), ("tree", "challenger"), ("baseline", "baseline")):
            rec = {**base, "model": model, "model_version": rng.randint(0, 50), "role": role, "shadow": role != "champion",
                   "prediction": rng.random(), "predicted_label": None if i % 2 else "1"}
            (shadow if rec["shadow"] else scores).append(rec)
    return scores, shadow


def test_same_bytes_as_whole_record_encoding(codecs):
    enc = ScoreEncoder(codecs)
    scores, shadow = records(50)
    cache: dict = {}
    assert enc.encode("scores", scores, cache) == [codecs.encode("scores", r, trusted=True) for r in scores]
    assert enc.encode("shadow_scores", shadow, cache) == [codecs.encode("shadow_scores", r, trusted=True) for r in shadow]
    assert len(cache) == 50  # one shared head/tail per event


def test_equal_looking_records_with_other_maps_are_not_mixed_up(codecs):
    enc = ScoreEncoder(codecs)
    scores, _ = records(2)
    twin = {**scores[0], "features": {**scores[0]["features"], "amount": -1.0}}  # same scalars, other map
    got = enc.encode("scores", [scores[0], twin], {})
    assert got == [codecs.encode("scores", r, trusted=True) for r in (scores[0], twin)]


def test_a_bad_record_is_explained(codecs):
    enc = ScoreEncoder(codecs)
    scores, _ = records(1)
    with pytest.raises(Exception, match="prediction"):
        enc.encode("scores", [{**scores[0], "prediction": "high"}])


def test_hand_written_model_part_matches_fastavro_on_edge_values(codecs):
    enc = ScoreEncoder(codecs)
    scores, _ = records(1)
    edge = [{**scores[0], "model": m, "model_version": v, "predicted_label": lab, "prediction": p}
            for m, v, lab, p in (("modèle", -5, "é", float("nan")), ("m" * 200, 2**31 - 1, "x" * 130, -0.0),
                                 ("", -(2**31), None, 1e308), ("lr", 63, "", 0), ("lr", 64, None, -1))]
    assert enc.encode("scores", edge, {}) == [codecs.encode("scores", r, trusted=True) for r in edge]
