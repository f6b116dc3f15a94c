"""A catch-up on real components: a backlog of events whose labels are all in Kafka before the
worker starts. The labels feed must not read far ahead of the events (`worker.labels_ahead`):
early labels stay few (checkpoints small, none orphaned by the pending buffer or its wait), and
every label is still learned once."""

from __future__ import annotations

import threading

import pytest
import redis

from streams.config import load_config
from streams.harness import WorkerProcess, produce_merged, wait_for_counters
from streams.wiring import model_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 6000
AHEAD, BATCH = 100, 200


def test_labels_wait_in_kafka_while_the_events_catch_up(stack, tmp_path):
    cfg_path = write_config(tmp_path, "it_catch_up", partitions=2,
                            worker={"labels_ahead": AHEAD, "batch_size": BATCH, "publish_interval": 0.1})
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=5)
    # the labels first: a worker reading them as fast as it can would hold nearly all of them early
    produce_merged(cfg, stack, [], labels)
    produce_merged(cfg, stack, events)
    registry = model_registry(cfg, redis.Redis.from_url(stack.endpoints.redis))
    most_pending, done = [0], threading.Event()

    def watch_checkpoints() -> None:  # the pending labels each checkpoint carried
        while not done.wait(0.05):
            head = registry.heads(["logreg"]).get("logreg")
            if head is not None and head.version:
                meta = registry.snapshot("logreg", head.version).meta
                most_pending[0] = max(most_pending[0], len(meta.get("pending", [])))

    watcher = threading.Thread(target=watch_checkpoints, daemon=True)
    with WorkerProcess(cfg_path, stack) as worker:
        watcher.start()
        try:
            final = wait_for_counters(cfg, stack.endpoints.redis, worker, scored=N, labels=N, timeout=180)
        finally:
            done.set()
            watcher.join(5)
        log = worker.log_path.read_text(errors="replace")
    assert final["labels_learned"] == N and final.get("labels_orphan", 0) == 0
    assert final["labels_early"] > 0  # the labels did arrive ahead of their events
    assert 0 < most_pending[0] <= AHEAD + BATCH, most_pending[0]
    assert "labels feed paused" in log and "labels feed resumed" in log
