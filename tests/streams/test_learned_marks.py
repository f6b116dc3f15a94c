"""A checkpoint's learned marks are written after it, with an events batch let in between
(`after_checkpoint`): only the ids the checkpoint covers are marked. A label learned in between
(an early label the batch joined) is marked by the next checkpoint: marked now, a crash before
that checkpoint would make its successor skip it as learned, and the model would never learn it."""

from __future__ import annotations

from pathlib import Path

import pytest

from learners import save_checkpoint
from streams.app import WorkerRuntime
from streams.config import load_config
from streams.endpoints import Endpoints
from tests.integration.fixtures import write_config

pytestmark = pytest.mark.integration


def learn(rt: WorkerRuntime, *ids: str) -> None:
    for i, event_id in enumerate(ids):
        rt.processor.learner.learn({"event_id": event_id, "label": 1.0, "ts": i},
                                   {"x": {"amount": float(i)}, "predictions": {}}, now_ms=i)


def test_marks_cover_the_checkpoint_not_the_labels_learned_after_it(tmp_path: Path, redis_url: str):
    cfg = load_config(write_config(tmp_path, "marks_due", partitions=1))
    rt = WorkerRuntime(cfg, Endpoints("127.0.0.1:9", redis_url, ""), codecs=None, run_id="marks_due-live")
    rt.adopt_learning()
    learn(rt, "a", "b", "c")
    save_checkpoint(rt.registry, rt.learning, rt.processor.learner.state_json(), now_ms=1_000)
    rt.marks_due = len(rt.processor.learner.unmarked())  # as the checkpoint sets it
    learn(rt, "d", "e")  # between the save and its marks
    rt.mark_learned(rt.marks_due)
    rt.mark_learned(rt.marks_due)  # a retried after_checkpoint (its model events failed): marks nothing more
    assert rt.processor.snapshots.learned_many(["a", "b", "c", "d", "e"]) == [True, True, True, False, False]
    assert rt.processor.learner.unmarked() == ["d", "e"]
    rt.mark_learned()  # the next checkpoint's: the rest
    assert rt.processor.snapshots.learned_many(["d", "e"]) == [True, True]


def test_a_learner_apart_loads_no_model_to_serve(tmp_path: Path, redis_url: str):
    """`--roles learn` scores nothing: its checkpoints and hot-swaps load no served copy (a Hoeffding
    tree unpickles in a few ms, every second), while its own models still follow a CLI rollback."""
    cfg = load_config(write_config(tmp_path, "learn_apart", partitions=1))
    eps = Endpoints("127.0.0.1:9", redis_url, "")
    writer = WorkerRuntime(cfg, eps, codecs=None, run_id="learn_apart-live")
    writer.adopt_learning()
    learn(writer, "a")
    v1 = save_checkpoint(writer.registry, writer.learning, writer.processor.learner.state_json(), now_ms=1_000)
    learner = WorkerRuntime(cfg, eps, codecs=None, run_id="learn_apart-live", scorer=False)
    assert learner.learning.versions == v1
    assert set(learner.processor.models.versions.values()) == {0}
    name = next(iter(v1))
    learn(writer, "b")
    save_checkpoint(writer.registry, writer.learning, writer.processor.learner.state_json(), now_ms=2_000)
    rolled = writer.registry.rollback(name, v1[name], now_ms=3_000)
    loaded = learner.refresh_models()
    assert learner.learning.versions[name] == rolled and name in loaded
    assert set(learner.processor.models.versions.values()) == {0}
    scorer = WorkerRuntime(cfg, eps, codecs=None, run_id="learn_apart-live")
    assert scorer.processor.models.versions[name] == rolled
