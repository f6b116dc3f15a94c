"""The recommendation example end to end on real components: impressions (user, item, context)
as Avro on Tansu -> worker (features in Redis, BiasedMF champion, FunkMF challenger, popularity
baseline) -> scores topic -> ClickHouse; click labels seconds later joined and learned. The
factorization model ranks held-out impressions (scored before their click was learned) better
than popularity."""

from __future__ import annotations

import pytest

from streams.config import load_config
from streams.harness import (
    WorkerProcess,
    counters,
    example_config,
    example_generator,
    produce_merged,
    wait_for_counters,
    wait_until,
)

pytestmark = pytest.mark.integration

N = 6000
HELD_OUT = 0.3  # the last 30% of impressions


def reco_generator():
    return example_generator("reco")


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reco")
    cfg_path = example_config(tmp, "it_reco", "reco", partitions=2)
    cfg = load_config(cfg_path)
    events, labels = reco_generator().generate(N, seed=61)
    with WorkerProcess(cfg_path, stack, stack.home / "logs" / "reco.log") as worker:
        # paced like live traffic (clicks 2-8 s after the impression): a worker that falls behind
        # scores a backlog with models that have not learned the clicks in between yet
        produce_merged(cfg, stack, events, labels, rate=600.0)

        wait_for_counters(cfg, stack.endpoints.redis, worker, scored=N, labels=N)

        def sunk() -> bool:
            p = cfg.pipeline
            return clickhouse.query(f"SELECT count() AS n FROM eddy.predictions FINAL WHERE pipeline = '{p}'")[0]["n"] >= 3 * N \
                and clickhouse.query(f"SELECT count() AS n FROM eddy.labels FINAL WHERE pipeline = '{p}'")[0]["n"] >= N

        wait_until(sunk, 120, "the sink to write every score and label")
        final = counters(cfg, stack.endpoints.redis)
    return cfg, events, labels, final


def test_every_impression_scored_once_by_each_model(run, clickhouse):
    cfg, _events, _labels, c = run
    rows = clickhouse.query(f"SELECT model, role, count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions FINAL "
                            f"WHERE pipeline = '{cfg.pipeline}' GROUP BY model, role ORDER BY model")
    assert rows == [{"model": "baseline", "role": "baseline", "n": N, "ids": N},
                    {"model": "funk", "role": "challenger", "n": N, "ids": N},
                    {"model": "mf", "role": "champion", "n": N, "ids": N}]
    assert c["scored"] == N and c.get("dlq", 0) == 0


def test_every_click_label_learned(run, clickhouse):
    cfg, _events, labels, c = run
    assert c["labels_learned"] == len(labels) and c.get("labels_orphan", 0) == 0
    joined = clickhouse.query(f"SELECT count() AS n FROM eddy.labelled_predictions WHERE pipeline = '{cfg.pipeline}' "
                              f"AND model = 'mf'")
    assert joined == [{"n": N}]


def test_factorization_beats_popularity_on_held_out_clicks(run, clickhouse):
    cfg, events, _labels, _c = run
    cut = events[int((1 - HELD_OUT) * N)]["ts"]
    rows = clickhouse.query(
        f"SELECT model, max(model_version) AS v, arrayAUC(groupArray(prediction), groupArray(y)) AS auc "
        f"FROM eddy.labelled_predictions WHERE pipeline = '{cfg.pipeline}' "
        f"AND toUnixTimestamp64Milli(event_ts) >= {cut} GROUP BY model")
    auc = {r["model"]: r["auc"] for r in rows}
    print("\nheld-out AUC:", auc)
    assert min(r["v"] for r in rows) > 1  # scored by versions the learner published
    assert auc["mf"] > auc["baseline"] + 0.02
    assert auc["mf"] > 0.6
