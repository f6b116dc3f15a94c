"""Scale-out: two scorer processes in one consumer group, one learner, one sink. Every event is
scored exactly once; every score names a version the learner published; the snapshot lag (a
version's publish, `model_events.ts`, to its first use in a score by another process,
`predictions.served_ts`) is measured and printed (figures in docs/scaling.md)."""

from __future__ import annotations

import bisect
import json
import os
import statistics
import threading

import pytest

from streams.config import load_config
from streams.harness import WorkerProcess, counters, labels_done, produce_merged, wait_until
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 4000
REFRESH = float(os.environ.get("EDDY_SCALING_REFRESH", "0.5"))  # worker.model_refresh (s)
RATE = 1000.0  # records/s (events + labels)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def snapshot_lag(published: dict[int, int], first_use: dict[int, int], uses: list[tuple[int, int]]) -> dict:
    """Figures of the snapshot lag.

    `published`: version -> publish ms; `first_use`: version -> first served ms; `uses`:
    (served ms, version) of every score. Versions behind = how many newer versions were
    already published when a score was served with an older one.
    """
    lags = [first_use[v] - published[v] for v in first_use if v in published]
    order = sorted((t, v) for v, t in published.items())
    times = [t for t, _ in order]
    behind, stale = [], []
    for served, version in uses:
        i = bisect.bisect_right(times, served)
        newest = order[i - 1][1] if i else 0
        behind.append(max(0, newest - version))
        newer = [published[v] for v in range(version + 1, newest + 1) if v in published]
        stale.append(served - min(newer) if newer else 0)  # how long a newer version had existed
    return {
        "versions_published": len(published),
        "versions_used": len(lags),
        "lag_ms_median": statistics.median(lags),
        "lag_ms_p90": percentile(lags, 0.9),
        "lag_ms_max": max(lags),
        "scores": len(uses),
        "scores_on_newest_version": sum(b == 0 for b in behind) / len(behind),
        "versions_behind_p90": percentile(behind, 0.9),
        "versions_behind_max": max(behind),
        "staleness_ms_median": statistics.median(stale),
        "staleness_ms_p90": percentile(stale, 0.9),
        "staleness_ms_max": max(stale),
    }


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scaling")
    # a checkpoint every 0.5 s: ~16 versions in the 8 s stream, so "many hot-swaps" is not borderline
    worker = {"batch_size": 100, "model_refresh": REFRESH, "publish_interval": 0.5}
    cfg_path = write_config(tmp, "it_scaling", partitions=4, worker=worker)
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=51)
    logs = stack.home / "logs"
    workers = [WorkerProcess(cfg_path, stack, logs / f"scaling-score-{i}.log", ["--roles", "score"]) for i in (1, 2)]
    workers += [WorkerProcess(cfg_path, stack, logs / "scaling-learn.log", ["--roles", "learn"]),
                WorkerProcess(cfg_path, stack, logs / "scaling-sink.log", ["--roles", "sink"])]
    out: dict = dict(cfg=cfg, events=events, labels=labels)
    for w in workers:
        w.start()
    try:
        def alive() -> None:
            for w in workers:
                assert w.alive(), w.log_tail()

        # warm up until both scorers hold partitions, then stream the rest at RATE
        warm = 40
        produce_merged(cfg, stack, events[:warm], [lab for lab in labels if lab["ts"] <= events[warm]["ts"]])

        def members() -> list[list[int]]:
            return [w.assigned(cfg.topics.events) for w in workers[:2]]

        def two_scorers() -> bool:
            alive()
            return sorted(p for ps in members() for p in ps) == [0, 1, 2, 3] and all(members())

        wait_until(two_scorers, 120, "two scorers with partitions")
        rest = threading.Thread(target=produce_merged, args=(cfg, stack, events[warm:],
                                                               [lab for lab in labels if lab["ts"] > events[warm]["ts"]]),
                                kwargs={"rate": RATE})
        rest.start()
        rest.join(120)

        def done() -> bool:
            alive()
            c = counters(cfg, stack.endpoints.redis)
            return c.get("scored", 0) >= N and labels_done(c) >= N

        wait_until(done, 180, "every event scored and every label learned")

        def sunk() -> bool:
            return clickhouse.query(f"SELECT uniqExact(event_id) AS n FROM eddy.predictions WHERE pipeline = "
                                    f"'{cfg.pipeline}' AND model = 'logreg'")[0]["n"] >= N
        wait_until(sunk, 120, "the sink")
        out["counters"] = counters(cfg, stack.endpoints.redis)
        out["members"] = members()
    finally:
        for w in workers:
            w.stop()
    p = cfg.pipeline
    published = {r["version"]: r["ms"] for r in clickhouse.query(
        f"SELECT version, min(toUnixTimestamp64Milli(ts)) AS ms FROM eddy.model_events WHERE pipeline = '{p}' "
        f"AND model = 'logreg' AND action IN ('created', 'snapshot') GROUP BY version")}
    uses = [(r["ms"], r["v"]) for r in clickhouse.query(
        f"SELECT toUnixTimestamp64Milli(served_ts) AS ms, model_version AS v FROM eddy.predictions FINAL "
        f"WHERE pipeline = '{p}' AND model = 'logreg'")]
    first_use: dict[int, int] = {}
    for ms, v in uses:
        if v and (v not in first_use or ms < first_use[v]):
            first_use[v] = ms
    out.update(published=published, uses=uses, first_use=first_use)
    out["lag"] = snapshot_lag(published, first_use, [u for u in uses if u[1]])
    print(f"\nsnapshot lag (model_refresh {REFRESH:.1f}s, {RATE:.0f} records/s):", json.dumps(out["lag"], indent=1))
    return out


def test_two_scorers_share_the_partitions(run):
    parts = sorted(p for ps in run["members"] for p in ps)
    assert all(run["members"]) and parts == [0, 1, 2, 3]  # still both at the end: no failover happened


def test_every_event_scored_exactly_once(run, clickhouse):
    p = run["cfg"].pipeline
    rows = clickhouse.query(f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions FINAL "
                            f"WHERE pipeline = '{p}' AND model = 'logreg'")
    assert rows == [{"n": N, "ids": N}]
    assert run["counters"]["scored"] == N
    assert run["counters"]["labels_learned"] == N


def test_scores_name_versions_the_learner_published(run):
    used = {v for _ms, v in run["uses"]}
    assert used - {0} <= set(run["published"])  # 0: before the learner's first checkpoint
    assert len(used - {0}) > 5  # the scorers hot-swapped many times


def test_snapshot_lag_is_bounded_by_the_refresh_interval(run):
    lag = run["lag"]
    assert lag["versions_used"] > 5
    assert 0 <= lag["lag_ms_median"] <= 4 * REFRESH * 1000 + 1000
