"""Redis emptied while no worker ran (a restart without persistence between deploys): the epoch
marker cannot tell that from a first run, Kafka can. A worker that starts finds the versions
`<p>.model-events` names, continues them (a version names one snapshot for good, never a second
one from 1), and raises `state_lost` with its first check, as after a loss while running. A
learner started after scorers re-marked the epoch (it was down during the loss) continues the
versions too, without a second alert."""

from __future__ import annotations

import pytest

from learners import save_checkpoint
from streams.app import WorkerRuntime
from streams.config import load_config
from streams.kafka_io import ensure_topics, make_producer
from streams.wiring import Codecs, schema_registry
from tests.integration.fixtures import write_config

pytestmark = pytest.mark.integration


def publish_versions(cfg, codecs: Codecs, servers: str, upto: int) -> None:  # noqa: ANN001
    ensure_topics(servers, cfg.topics.layout())
    producer = make_producer(servers)
    for name in ("logreg", "tree", "baseline"):
        for v in range(1, upto + 1):
            rec = {"pipeline": cfg.pipeline, "run_id": f"{cfg.pipeline}-live", "model": name, "version": v,
                   "action": "created" if v == 1 else "snapshot", "ts": 1_700_000_000_000 + v, "detail": ""}
            producer.send(cfg.topics.model_events, name.encode(), codecs.encode("model_events", rec))
    producer.flush()


def test_a_worker_starting_on_an_emptied_redis_continues_versions_and_alerts(stack, tmp_path):
    cfg = load_config(write_config(tmp_path, "lost_at_start", partitions=1))
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    publish_versions(cfg, codecs, stack.endpoints.kafka, upto=7)
    rt = WorkerRuntime(cfg, stack.endpoints, codecs, run_id="lost_at_start-live")
    assert rt.lost_at_start is not None and rt.lost_at_start["kind"] == "state_lost"
    assert "versions" in rt.lost_at_start["detail"], rt.lost_at_start["detail"]
    rt.adopt_learning()
    versions = save_checkpoint(rt.registry, rt.learning, rt.processor.learner.state_json(), now_ms=1)
    assert versions == {"logreg": 8, "tree": 8, "baseline": 8}
    assert {e["action"] for e in rt.registry.drain_events()} == {"reset"}  # fresh models, counted versions


def test_a_learner_that_was_down_continues_versions_without_a_second_alert(stack, tmp_path):
    cfg = load_config(write_config(tmp_path, "lost_learner_down", partitions=1))
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    publish_versions(cfg, codecs, stack.endpoints.kafka, upto=3)
    scorer = WorkerRuntime(cfg, stack.endpoints, codecs, run_id="lost_learner_down-live", learner=False)
    assert scorer.lost_at_start is not None  # the scorer raised it (and marked the epoch)
    scorer.redis.delete(*scorer.redis.keys(f"eddy:{{{cfg.pipeline}}}:model:*"))  # ... as Redis lost them later
    learner = WorkerRuntime(cfg, stack.endpoints, codecs, run_id="lost_learner_down-live", scorer=False)
    assert learner.lost_at_start is None
    learner.adopt_learning()
    assert save_checkpoint(learner.registry, learner.learning, learner.processor.learner.state_json(),
                           now_ms=1) == {"logreg": 4, "tree": 4, "baseline": 4}


def test_a_loss_while_running_continues_past_every_version_the_model_events_name(stack, tmp_path):
    """Redis lost the registry while this learner runs, after a CLI rollback made a version it has
    not adopted (scorers may have served it): its next save must not reuse that number."""
    cfg = load_config(write_config(tmp_path, "lost_running", partitions=1))
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    rt = WorkerRuntime(cfg, stack.endpoints, codecs, run_id="lost_running-live")
    rt.adopt_learning()
    assert save_checkpoint(rt.registry, rt.learning, rt.processor.learner.state_json(), now_ms=1) == {
        "logreg": 1, "tree": 1, "baseline": 1}
    publish_versions(cfg, codecs, stack.endpoints.kafka, upto=2)  # e.g. `eddy models rollback`: v2
    rt.redis.delete(*rt.redis.keys(f"eddy:{{{cfg.pipeline}}}:model:*"))  # Redis lost the registry
    rt.continue_after_loss()  # then republished as the worker's state check does (nothing to compare with)
    assert rt.registry.save_many(rt.learning.models, rt.processor.learner.state_json(), now_ms=2,
                                 roles=rt.learning.roles) == {"logreg": 3, "tree": 3, "baseline": 3}


def test_the_model_events_are_read_to_their_end_however_long_it_takes(stack):
    """A topic of months of checkpoints takes longer to read than `timeout` (only a stall of
    `stall` s before the end stops it, with an error): the versions come from all of it (the old reader stopped at `timeout` and answered 77,882 of 100,000 here,
    and the versions it continued could name a second snapshot). An empty topic answers {}."""
    import json

    from streams.lost_state import last_versions

    servers = stack.endpoints.kafka
    ensure_topics(servers, {"lost_long.model-events": 1, "lost_long.empty": 1})
    producer = make_producer(servers)
    for v in range(1, 100_001):
        producer.send("lost_long.model-events", b"m", json.dumps({"model": "m", "version": v}).encode())
    producer.flush()
    assert last_versions(servers, "lost_long.model-events", json.loads, timeout=0.3) == {"m": 100_000}
    assert last_versions(servers, "lost_long.empty", json.loads, timeout=2.0) == {}
