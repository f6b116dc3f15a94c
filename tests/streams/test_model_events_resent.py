"""A learner that dies between a checkpoint (the versions are in the registry, scorers may serve
them) and the publishing of its model events loses those events: the registry's queue is in its
memory. Its successor queues them again when it resumes, so every version a score names has its
model event (ClickHouse keeps one row of each: the repeats are dropped by the sink)."""

from __future__ import annotations

from pathlib import Path

import pytest

from learners import save_checkpoint
from streams.app import WorkerRuntime
from streams.config import load_config
from streams.endpoints import Endpoints
from tests.integration.fixtures import write_config

pytestmark = pytest.mark.integration


def test_a_restarted_learner_sends_the_events_its_predecessor_lost(tmp_path: Path, redis_url: str, redis_client):
    cfg = load_config(write_config(tmp_path, "lost_events", partitions=1))
    eps = Endpoints("127.0.0.1:9", redis_url, "")  # no Kafka: nothing here reads or publishes
    first = WorkerRuntime(cfg, eps, codecs=None, run_id="lost_events-live")
    first.adopt_learning()
    emitted = []
    for i in range(3):
        first.processor.learner.learn({"event_id": f"e{i}", "label": 1.0, "ts": i},
                                      {"x": {"amount": float(i)}, "predictions": {}}, now_ms=i)
        save_checkpoint(first.registry, first.learning, first.processor.learner.state_json(), now_ms=1_000 + i)
        if i < 2:
            emitted += first.registry.drain_events()  # published
    lost = first.registry.drain_events()  # ... the crash: these never reach <p>.model-events
    assert {(e["model"], e["version"]) for e in lost} == {(m, 3) for m in first.learning.names}

    second = WorkerRuntime(cfg, eps, codecs=None, run_id="lost_events-live")
    second.adopt_learning()
    queued = second.registry.drain_events()
    for event in lost:
        assert event in queued, f"the event of {event['model']} v{event['version']} is lost for good"
    assert all(e in queued for e in emitted)  # repeats, exactly as first sent (the sink drops them)
