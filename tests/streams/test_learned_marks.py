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


def test_a_learner_keeps_max_learned_ids_in_memory_and_asks_the_marks_for_older_ones(tmp_path: Path, redis_url: str):
    """The learned ids of a dedup horizon (7 d by default, ~190 B each) would outgrow a live
    learner's memory at any real label rate: it keeps `labels.max_learned_ids` and looks older
    ones up in their learned marks, which the checkpoints wrote. A label sent again long after is
    still a duplicate, never learned twice."""
    from streams.processor import Source
    from tests.integration.fixtures import fraud_generator

    cfg = load_config(write_config(tmp_path, "max_learned", partitions=1, labels={"max_learned_ids": 5}))
    rt = WorkerRuntime(cfg, Endpoints("127.0.0.1:9", redis_url, ""), codecs=None, run_id="max_learned-live")
    rt.adopt_learning()
    proc, learner = rt.processor, rt.processor.learner
    events, labels = fraud_generator().generate(40, seed=2)
    now = events[-1]["ts"] + 1_000
    proc.score(events, [Source("e", 0, i) for i in range(40)], now_ms=now)
    for i in range(0, 40, 10):  # four checkpoints' worth, each marked after it
        out = proc.learn(labels[i:i + 10], now + i, [(0, i + k) for k in range(10)])
        assert {o.status for o in out.outcomes} == {"learned"}
        rt.mark_learned()
        assert len(learner._learned) <= 5
    assert learner.forgot_until_ms is not None and not learner.knows(labels[0]["event_id"])
    again = proc.learn([labels[0], labels[17]], now + 100, [(0, 500), (0, 501)])  # sent again, new offsets
    assert [o.status for o in again.outcomes] == ["duplicate", "duplicate"]
    assert learner.counts["learned"] == 40
