"""A catch-up on real components: a backlog of events whose labels are all in Kafka before the
worker starts. The labels feed must not read far ahead of the events (`worker.labels_ahead`):
early labels stay few (checkpoints small, none orphaned by the pending buffer or its wait), and
every label is still learned once."""

from __future__ import annotations

import threading

import pytest
import redis

from streams.config import load_config
from streams.harness import (
    WorkerGroup,
    WorkerProcess,
    counters,
    produce_merged,
    wait_for_counters,
    wait_until,
)
from streams.wiring import model_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 6000
AHEAD, BATCH = 100, 200


def catch_up(stack, tmp_path, pipeline: str, roles: list[str]) -> tuple[dict, int, str]:
    """Labels, then events, produced before the workers (one per entry of `roles`) start; returns
    the final counters, the most pending labels a checkpoint carried, and the learner's log."""
    cfg_path = write_config(tmp_path, pipeline, partitions=2,
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
    logs = tmp_path / "logs"
    workers = [WorkerProcess(cfg_path, stack, logs / f"{pipeline}-{r}.log", ["--roles", r]) for r in roles]
    group = WorkerGroup.of(workers)
    watcher.start()
    try:
        for worker, role in zip(workers, roles):
            worker.start()
            if role == "learn":  # a learner alone first: nothing is scored while it reads labels
                def holding(w: WorkerProcess = worker) -> bool:
                    assert w.alive(), w.log_tail()
                    return counters(cfg, stack.endpoints.redis).get("labels_early", 0) >= AHEAD

                wait_until(holding, 120, "the learner to hold early labels")
        try:
            final = wait_for_counters(cfg, stack.endpoints.redis, group, scored=N, labels=N, timeout=180)
        finally:
            done.set()
            watcher.join(5)
        log = next(w for w, r in zip(workers, roles) if "learn" in r).log_path.read_text(errors="replace")
    finally:
        group.stop()
    return final, most_pending[0], log


def test_labels_wait_in_kafka_while_the_events_catch_up(stack, tmp_path):
    final, most_pending, log = catch_up(stack, tmp_path, "it_catch_up", ["score,learn,sink"])
    assert final["labels_learned"] == N and final.get("labels_orphan", 0) == 0
    assert final["labels_early"] > 0  # the labels did arrive ahead of their events
    assert 0 < most_pending <= AHEAD + BATCH, most_pending
    assert "labels feed paused" in log and "labels feed resumed" in log


def test_a_learner_apart_waits_for_the_scorers_it_reads_in_their_heartbeats(stack, tmp_path):
    """`--roles learn` beside `--roles score,sink`: the learner cannot see the events feed; it
    reads the scorers' lag from their heartbeats (unknown until they report: assumed behind).
    It starts first, so it meets every label before any event is scored."""
    final, most_pending, log = catch_up(stack, tmp_path, "it_catch_up_split", ["learn", "score,sink"])
    assert final["labels_learned"] == N and final.get("labels_orphan", 0) == 0
    assert 0 < most_pending <= AHEAD + BATCH, most_pending
    assert "labels feed paused" in log and "labels feed resumed" in log
