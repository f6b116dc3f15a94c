"""Two default workers (`score,learn,sink` each): only the one that owns the labels partition
learns. Labels sent before their events wait in the owner's checkpoint; a second worker that
restores that checkpoint must not learn them into its own copy when it scores their events (it
did, and its saves then made the owner drop what it had learned). Every label is learned
exactly once: the champion's scaler has seen each feature once per label."""

from __future__ import annotations

import pytest

from streams.config import load_config
from streams.harness import WorkerProcess, counters, labels_done, produce_merged, wait_until
from streams.wiring import model_registry, redis_client
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 400


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-default")
    cfg_path = write_config(tmp, "it_two_default", partitions=2, labels={"early_label_wait": "10m"},
                            worker={"batch_size": 50, "model_refresh": 0.5})
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=31)
    registry = model_registry(cfg, redis_client(stack.endpoints.redis))
    logs = stack.home / "logs"
    a = WorkerProcess(cfg_path, stack, logs / "two-default-a.log").start()
    b = None
    try:
        # every label first: each waits for its event in the labels partition's owner
        produce_merged(cfg, stack, [], labels)
        wait_until(lambda: counters(cfg, stack.endpoints.redis).get("labels_early", 0) >= N, 120,
                   "the first worker to hold every label as early")
        # a second default worker joins both groups (it may or may not take the labels partition)
        b = WorkerProcess(cfg_path, stack, logs / "two-default-b.log").start()
        wait_until(lambda: "it_two_default.events:" in b.log_path.read_text(errors="replace"), 120,
                   "the second worker to be assigned partitions")
        produce_merged(cfg, stack, events, [])

        def learned_all() -> bool:
            assert a.alive(), a.log_tail()
            assert b.alive(), b.log_tail()
            return labels_done(counters(cfg, stack.endpoints.redis)) >= N

        wait_until(learned_all, 180, "every label to be learned")
        a.stop()  # the final checkpoints
        b.stop()
        champion = registry.load("logreg")
        meta = registry.info("logreg")["meta"]
        final = counters(cfg, stack.endpoints.redis)
    finally:
        a.stop()
        if b is not None:
            b.stop()
    return {"champion": champion, "meta": meta, "counters": final, "labels": labels}


def test_every_label_is_learned_exactly_once(run):
    scaler = run["champion"]["StandardScaler"]
    assert set(scaler.counts.values()) == {N}  # one learn_one per label, each feature seen N times
    assert run["meta"]["counts"]["learned"] == N and not run["meta"]["pending"]


def test_the_counters_count_each_label_once(run):
    c = run["counters"]
    assert c.get("labels_learned", 0) == N and c.get("labels_orphan", 0) == 0
