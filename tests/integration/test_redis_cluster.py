"""The same worker on a Redis Cluster (3 masters, 3 replicas; the embedded Tansu and chDB): every
event scored once, every label learned, model versions saved, the pipeline's keys in its one slot
on the node that serves it, `eddy status` (its pipelines part) and `eddy models` reading them there."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streams.config import load_config
from streams.harness import WorkerProcess, produce_merged, wait_for_counters, wait_until
from streams.keyspace import key
from tests.integration.fixtures import fraud_generator, write_config
from tests.redis_cluster import RedisCluster

pytestmark = pytest.mark.integration

N = 1500


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    cfg_path = write_config(tmp, "it_cluster", partitions=1, worker={"publish_interval": 0.2})
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=5)
    with RedisCluster(masters=3, replicas=1) as cluster, \
            WorkerProcess(cfg_path, stack, env={"EDDY_REDIS": cluster.url}) as worker:
        wait_until(lambda: worker.alive() and worker.consuming([cfg.topics.events, cfg.topics.labels]), 120,
                   "the worker to join its consumer groups")
        produce_merged(cfg, stack, events, labels, rate=1500)
        final = wait_for_counters(cfg, cluster.url, worker, scored=N, labels=N)
        wait_until(lambda: clickhouse.query(
            f"SELECT count() AS n FROM eddy.scores FINAL WHERE pipeline = '{cfg.pipeline}'")[0]["n"] >= N,
            120, "the sink to write every score")
        slot = int(cluster.client(cluster.ports[0]).execute_command("CLUSTER KEYSLOT", key(cfg.pipeline, "x")))
        placed = {port: cluster.client(port).dbsize() for port in cluster.masters()}
        owner = cluster.owner(slot)
        owner_keys = [k.decode() for k in cluster.client(owner).scan_iter(count=1000)]
        status = pipelines_status(cluster)
        models = cli(stack, cluster, "models", "ls", "-c", str(cfg_path))
    return cfg, final, placed, owner, owner_keys, status, models


def pipelines_status(cluster: RedisCluster) -> str:
    """The pipelines part of `eddy status`, for a stack whose Redis is the cluster."""
    from streams.cli import status_extra

    with status_extra.console.capture() as captured:
        status_extra.print_pipelines(SimpleNamespace(redis=cluster.url, clickhouse="", health=dict))
    return captured.get()


def cli(stack, cluster: RedisCluster, *args: str) -> str:  # noqa: ANN001
    from typer.testing import CliRunner

    from streams.cli.main import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **stack.env(), "EDDY_REDIS": cluster.url})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_event_is_scored_and_every_label_learned(run, clickhouse):
    cfg, final, *_ = run
    assert final["scored"] == N and final["labels_learned"] == N and final.get("dlq", 0) == 0
    rows = clickhouse.query(f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.scores FINAL "
                            f"WHERE pipeline = '{cfg.pipeline}'")
    assert rows == [{"n": N, "ids": N}]


def test_the_pipeline_keys_live_in_its_slot_on_one_master(run):
    cfg, _final, placed, owner, owner_keys, *_ = run
    assert placed[owner] == len(owner_keys) > N  # states, snapshots, seen ids, registry, counters
    assert all(n == 0 for port, n in placed.items() if port != owner)
    assert all(k.startswith(f"eddy:{{{cfg.pipeline}}}:") for k in owner_keys)
    assert any(k.startswith(f"eddy:{{{cfg.pipeline}}}:model:logreg:") for k in owner_keys)


def test_status_and_models_read_the_cluster(run):
    cfg, *_rest, status, models = run
    assert f"pipeline {cfg.pipeline}" in status and f"{cfg.pipeline}: models" in status
    assert "logreg" in models and "champion" in models
