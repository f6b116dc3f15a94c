"""A worker SIGKILLed in the middle of a stream and restarted resumes from the persisted models:
no reset (versions continue above the pre-kill maximum, its first predictions are not the
untrained 0.5), every event has one champion prediction in ClickHouse, every label is learned
exactly once (the learner bookkeeping stored atomically with the models says so)."""

from __future__ import annotations

import threading
import time

import pytest

from streams.config import load_config
from streams.harness import WorkerProcess, counters, produce_merged, wait_until
from streams.wiring import model_registry, redis_client
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 3000
SPLIT = 1800  # events produced before the restart (the kill lands while they are being scored)
RESENT = 5  # the oldest labels, sent again after a second restart


def split_stream(events: list[dict], labels: list[dict], at: int) -> tuple[tuple[list, list], tuple[list, list]]:
    """Two parts whose concatenation is `merge_by_time(events, labels)`."""
    cut = events[at]["ts"]
    return (events[:at], [lab for lab in labels if lab["ts"] <= cut]), (events[at:], [lab for lab in labels if lab["ts"] > cut])


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("restart")
    cfg_path = write_config(tmp, "it_restart", partitions=2, worker={"batch_size": 100, "model_refresh": 0.5})
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=23)
    (ev1, lab1), (ev2, lab2) = split_stream(events, labels, SPLIT)
    registry = model_registry(cfg, redis_client(stack.endpoints.redis))
    champion = "logreg"

    first = WorkerProcess(cfg_path, stack, stack.home / "logs" / "restart-1.log").start()
    try:
        # A warm-up chunk first, so the rest of part 1 streams in while the worker is running.
        (warm_ev, warm_lab), (ev1, lab1) = split_stream(ev1, lab1, 100)
        produce_merged(cfg, stack, warm_ev, warm_lab)
        wait_until(lambda: counters(cfg, stack.endpoints.redis).get("scored", 0) >= 100, 120,
                   "the first worker to start scoring")
        producer = threading.Thread(target=produce_merged, args=(cfg, stack, ev1, lab1), kwargs={"rate": 400.0})
        producer.start()

        def midway() -> bool:
            assert first.alive(), first.log_tail()
            c = counters(cfg, stack.endpoints.redis)
            return c.get("scored", 0) >= 900 and c.get("labels_learned", 0) >= 30

        wait_until(midway, 120, "the first worker to score and learn part of the stream")
        first.kill()
        killed = counters(cfg, stack.endpoints.redis)
        pre_kill_max = registry.current_version(champion)
        pre_kill_versions = {v.version for v in registry.list() if v.name == champion}
        producer.join(60)
    finally:
        first.kill()
    assert killed.get("scored", 0) < SPLIT, "the kill did not land in the middle of the stream"

    restart_ms = int(time.time() * 1000)
    with WorkerProcess(cfg_path, stack, stack.home / "logs" / "restart-2.log") as second:
        produce_merged(cfg, stack, ev2, lab2)

        def learned_all() -> bool:
            assert second.alive(), second.log_tail()
            meta = registry.snapshot(champion).meta
            return meta.get("counts", {}).get("learned", 0) + meta.get("counts", {}).get("orphan", 0) >= len(labels)

        wait_until(learned_all, 240, "the restarted worker to learn every label")

        def sunk() -> bool:
            rows = clickhouse.query(f"SELECT uniqExact(event_id) AS n FROM eddy.predictions "
                                    f"WHERE pipeline = '{cfg.pipeline}' AND model = '{champion}'")
            # checkpoints are throttled (worker.publish_interval): the last versions trail the scores
            newest = clickhouse.query(f"SELECT max(version) AS v FROM eddy.model_events "
                                      f"WHERE pipeline = '{cfg.pipeline}' AND model = '{champion}'")
            return rows[0]["n"] >= N and newest[0]["v"] > pre_kill_max

        wait_until(sunk, 120, "the sink to write every champion score")
        meta = registry.snapshot(champion).meta
        after_restart = counters(cfg, stack.endpoints.redis)

    # A third worker, then the oldest labels sent again with the other value: they were learned
    # two workers ago, far beyond the checkpoint's newest learned ids, and are found by their
    # learned marks in the snapshot store, as duplicates.
    resent = [{**lab, "label": 1.0 - lab["label"]} for lab in labels[:RESENT]]
    with WorkerProcess(cfg_path, stack, stack.home / "logs" / "restart-3.log") as third:
        before = counters(cfg, stack.endpoints.redis)
        produce_merged(cfg, stack, [], resent)

        def counted() -> bool:
            assert third.alive(), third.log_tail()
            c = counters(cfg, stack.endpoints.redis)
            return c.get("labels_duplicate", 0) + c.get("labels_learned", 0) >= \
                before.get("labels_duplicate", 0) + before.get("labels_learned", 0) + RESENT

        try:
            wait_until(counted, 240, "the third worker to count the labels sent again")
        except Exception as exc:
            raise AssertionError(f"{exc}: counters before {before}, now {counters(cfg, stack.endpoints.redis)}\n"
                                 f"{third.log_tail()}") from exc
        after = counters(cfg, stack.endpoints.redis)
    resent_counts = {k: after.get(k, 0) - before.get(k, 0) for k in ("labels_duplicate", "labels_learned")}
    return dict(cfg=cfg, events=events, labels=labels, champion=champion, pre_kill_max=pre_kill_max,
                pre_kill_versions=pre_kill_versions, restart_ms=restart_ms, meta=meta, registry=registry,
                resent_counts=resent_counts, after_restart=after_restart, killed=killed)


def test_versions_continue_above_the_pre_kill_maximum(run, clickhouse):
    r = run
    assert r["pre_kill_max"] > 1
    after = clickhouse.query(
        f"SELECT min(version) AS lo, max(version) AS hi, count() AS n FROM eddy.model_events "
        f"WHERE pipeline = '{r['cfg'].pipeline}' AND model = '{r['champion']}' "
        f"AND toUnixTimestamp64Milli(ts) >= {r['restart_ms']}")[0]
    assert after["n"] > 0 and after["lo"] > r["pre_kill_max"]
    assert r["registry"].current_version(r["champion"]) > r["pre_kill_max"]
    assert not [v for v in r["registry"].list() if v.action == "created" and v.created_ms >= r["restart_ms"]]


def test_restarted_worker_serves_the_persisted_model(run, clickhouse):
    r = run
    rows = clickhouse.query(
        f"SELECT event_id, prediction, model_version FROM eddy.predictions FINAL "
        f"WHERE pipeline = '{r['cfg'].pipeline}' AND model = '{r['champion']}' "
        f"AND toUnixTimestamp64Milli(served_ts) >= {r['restart_ms']} ORDER BY served_ts, event_id LIMIT 200")
    assert len(rows) == 200
    assert min(x["model_version"] for x in rows) >= r["pre_kill_max"]  # the restored version, never 0
    assert not [x for x in rows if x["prediction"] == 0.5]  # an untrained logreg serves exactly 0.5


def test_every_event_has_one_champion_prediction(run, clickhouse):
    r = run
    p = r["cfg"].pipeline
    final = clickhouse.query(f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions FINAL "
                             f"WHERE pipeline = '{p}' AND model = '{r['champion']}'")
    assert final == [{"n": N, "ids": N}]
    # A redelivered event (in flight at the kill) is republished exactly as it was first served.
    differing = clickhouse.query(
        f"SELECT count() AS n FROM (SELECT event_id, uniqExact(prediction, model_version, served_ts) AS u "
        f"FROM eddy.predictions WHERE pipeline = '{p}' AND model = '{r['champion']}' GROUP BY event_id HAVING u > 1)")
    assert differing == [{"n": 0}]
    ids = {x["event_id"] for x in clickhouse.query(
        f"SELECT DISTINCT event_id FROM eddy.predictions WHERE pipeline = '{p}' AND model = '{r['champion']}'")}
    assert ids == {e["event_id"] for e in r["events"]}


def test_every_label_learned_exactly_once(run):
    meta = run["meta"]
    labels = run["labels"]
    assert meta["counts"]["learned"] == len(labels)
    assert meta["counts"].get("orphan", 0) == 0 and not meta["pending"]
    # The checkpoint keeps the newest learned ids, and every id learned since the last one it
    # marked in the snapshot store (redeliveries are recognised by offset, older ids by mark).
    from streams.app import CHECKPOINT_LEARNED_IDS

    learned = [e for e, _t in meta["learned"]]
    assert len(learned) == len(set(learned)) >= min(len(labels), CHECKPOINT_LEARNED_IDS)
    assert set(learned) <= {lab["event_id"] for lab in labels}


def test_the_label_counters_count_each_label_once(run):
    """Labels the killed worker learned after its last checkpoint are learned again by the next
    one; the counters are settled to the checkpoint's counts, so they are not counted twice."""
    assert run["killed"].get("labels_learned", 0) > 0
    assert run["after_restart"]["labels_learned"] == len(run["labels"])


def test_a_label_sent_again_after_restarts_is_a_duplicate(run):
    """Its event's learned mark (written after the checkpoint that covered it) outlives the
    learner: the label is not learned a second time, with the other value."""
    from streams.app import CHECKPOINT_LEARNED_IDS

    assert len(run["labels"]) - RESENT > CHECKPOINT_LEARNED_IDS  # beyond the ids a checkpoint carries
    assert run["resent_counts"] == {"labels_duplicate": RESENT, "labels_learned": 0}
