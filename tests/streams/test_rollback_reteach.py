"""`eddy models rollback` runs in another process than the learner, which adopts it at its next
refresh (every `worker.model_refresh`) or checkpoint conflict. The labels that reached the learner
in between were taught the copy the rollback replaced and are counted learned: adopting the
rollback must teach them again to the restored content, or they are lost for it for good
(docs/models.md: learning continues on top of the rolled-back content)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from learners import predict, save_checkpoint
from streams.app import WorkerRuntime
from streams.config import load_config
from streams.endpoints import Endpoints
from tests.integration.fixtures import write_config

pytestmark = pytest.mark.integration


def x_of(i: int) -> dict:
    return {"amount": float(i % 7) * 10.0, "card_txn_count_1h": float(i % 3), "merchant_distinct_cards_1d": 1.0 + i % 5}


def learn(rt: WorkerRuntime, ids: range, now_ms: int) -> None:
    for i in ids:
        rt.processor.learner.learn({"event_id": f"e{i}", "label": float(i % 2), "ts": i},
                                   {"x": x_of(i), "predictions": {}}, now_ms=now_ms)


def checkpoint(rt: WorkerRuntime, now_ms: int) -> dict[str, int]:
    versions = save_checkpoint(rt.registry, rt.learning, rt.processor.learner.state_json(), now_ms=now_ms)
    rt.processor.learner.saved()
    return versions


def test_labels_learned_after_a_rollback_are_taught_to_the_restored_model(tmp_path: Path, redis_url: str):
    cfg = load_config(write_config(tmp_path, "rollback_reteach", partitions=1))
    rt = WorkerRuntime(cfg, Endpoints("127.0.0.1:9", redis_url, ""), codecs=None, run_id="rollback_reteach-live")
    rt.adopt_learning()
    name = rt.learning.champion_name
    learn(rt, range(40), now_ms=1_000)
    target = checkpoint(rt, 2_000)[name]
    learn(rt, range(40, 80), now_ms=3_000)
    checkpoint(rt, 4_000)
    learn(rt, range(80, 100), now_ms=5_000)  # unsaved, before the rollback: the content rolled back from
    rolled = rt.registry.rollback(name, target, now_ms=6_000)  # `eddy models rollback`, another process
    learn(rt, range(100, 130), now_ms=7_000)  # after it, into the replaced copy

    expected = copy.deepcopy(rt.registry.load(name, target))
    for i in range(100, 130):
        expected.learn_one(x_of(i), bool(i % 2))
    rt.refresh_models()  # the learner's housekeeping adopts the rollback

    assert rt.learning.versions[name] == rolled
    probe = [x_of(i) for i in range(200, 221)]
    got = [predict(cfg.models.task, rt.learning.model(name), x).score for x in probe]
    assert got == [predict(cfg.models.task, expected, x).score for x in probe]
    saved = checkpoint(rt, 8_000)[name]  # the next checkpoint carries them on
    assert saved == rolled + 1
    assert [predict(cfg.models.task, rt.registry.load(name), x).score for x in probe] == got
    rt.refresh_models()
    assert rt.processor.learner.reteach(name, since_ms=0) == 0  # nothing left once saved
