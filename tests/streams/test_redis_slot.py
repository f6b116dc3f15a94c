"""Redis Cluster: a pipeline's client serves its slot on a real cluster (3 masters, 3 replicas),
scores as on a standalone server, and follows the slot through a resharding and a failover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import MovedError

from features import StateStoreError
from streams.config import load_config
from streams.keyspace import key
from streams.processor import Source
from streams.redis_slot import is_cluster, slot_client
from streams.stack.ports import free_port
from streams.wiring import live_processor
from tests.integration.fixtures import fraud_generator, write_config
from tests.redis_cluster import RedisCluster

PIPELINE = "slotted"
BATCH = 50


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster(masters=3, replicas=1) as c:
        yield c


@pytest.fixture(scope="module")
def batches() -> list[list[dict]]:
    events, _ = fraud_generator().generate(600, seed=11)
    return [events[i:i + BATCH] for i in range(0, len(events), BATCH)]


def slot_of(cluster: RedisCluster) -> int:
    return int(cluster.client(next(iter(cluster.procs))).execute_command("CLUSTER KEYSLOT", key(PIPELINE, "x")))


def served(out) -> list[tuple]:  # noqa: ANN001 - ScoreOutput
    return [(r["event_id"], r["model"], r["prediction"], tuple(sorted(r["features"].items())))
            for r in out.scores + out.shadow]


def processor(home: Path, client: redis.Redis):  # noqa: ANN201
    home.mkdir(parents=True, exist_ok=True)
    return live_processor(load_config(write_config(home, PIPELINE, partitions=1)), client, "run", learner=False)


def score(proc, batch: list[dict], at: int) -> list[tuple]:  # noqa: ANN001 - Processor
    return served(proc.score(batch, [Source("p.events", 0, at + i) for i in range(len(batch))], int(batch[-1]["ts"])))


def retrying(fn, timeout: float = 30.0):  # noqa: ANN001, ANN201
    """Call `fn` until it does not fail on a connection error (what the worker's `_retrying`
    does); returns the result and how many calls failed."""
    deadline, failed = time.monotonic() + timeout, 0
    while True:
        try:
            return fn(), failed
        except (redis.ConnectionError, StateStoreError) as exc:
            if not isinstance(exc.__cause__ if isinstance(exc, StateStoreError) else exc, redis.ConnectionError):
                raise
            if time.monotonic() > deadline:
                raise
            failed += 1
            time.sleep(0.2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, redis_client, batches) -> list[list[tuple]]:
    """What a worker on a standalone redis-server serves for each batch."""
    proc = processor(tmp_path_factory.mktemp("ref"), redis_client)
    redis_client.delete(*redis_client.keys(key(PIPELINE, "*")) or ["-"])
    return [score(proc, b, i * BATCH) for i, b in enumerate(batches)]


def test_a_standalone_server_gets_a_plain_client(redis_url):
    client = slot_client(redis_url, PIPELINE)
    assert not is_cluster(client)
    assert client.connection_pool.connection_class is redis.Connection


def test_the_pipeline_client_serves_its_slot_from_any_seed_node(cluster):
    owner = cluster.owner(slot_of(cluster))
    seed = next(p for p in cluster.ports if p != owner)
    client = slot_client(f"redis://127.0.0.1:{seed}/0", PIPELINE)
    client.set(key(PIPELINE, "probe"), b"1")
    assert cluster.client(owner).get(key(PIPELINE, "probe")) == b"1"
    with pytest.raises(MovedError):  # a plain client on the seed cannot
        cluster.client(seed).get(key(PIPELINE, "probe"))


def test_scoring_on_the_cluster_equals_a_standalone_server_through_a_resharding_and_a_failover(
        cluster, reference, batches, tmp_path):
    client = slot_client(cluster.url, PIPELINE)
    proc = processor(tmp_path, client)
    got = [score(proc, b, i * BATCH) for i, b in enumerate(batches[:4])]

    # resharding: the pipeline's slot (and its keys) move to another master
    slot = slot_of(cluster)
    source = cluster.owner(slot)
    target = next(p for p in cluster.masters() if p != source)
    move_slot(cluster, slot, source, target)
    assert cluster.owner(slot) == target
    moved = [retrying(lambda b=b, i=i: score(proc, b, i * BATCH)) for i, b in list(enumerate(batches))[4:8]]
    got += [out for out, _ in moved]
    assert [failed for _, failed in moved] == [1, 0, 0, 0]  # one MOVED, then at the new owner
    assert client.connection_pool.connection_kwargs["port"] == source  # (the pool's seed setting)
    assert {c.port for c in client.connection_pool._available_connections} == {target}

    # failover: the owner dies, its replica takes over (what was written is replicated first)
    cluster.client(target).execute_command("WAIT", 1, 5000)
    cluster.kill(target)
    RedisCluster._wait(cluster.ok, "the replica to take over")
    got += [retrying(lambda b=b, i=i: score(proc, b, i * BATCH))[0] for i, b in list(enumerate(batches))[8:]]
    assert cluster.owner(slot) != target
    assert got == reference


def move_slot(cluster: RedisCluster, slot: int, source: int, target: int) -> None:
    """`redis-cli --cluster reshard` for one slot: IMPORTING / MIGRATING, MIGRATE its keys, NODE."""
    src, dst = cluster.client(source), cluster.client(target)
    src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
    for port in cluster.masters():
        cluster.client(port).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


def test_a_failover_of_the_seed_node_that_owns_the_slot():
    """The URL's node is the pipeline's master and dies: the client knew no other node to ask
    who serves the slot now, and retried the dead one forever."""
    with RedisCluster(masters=3, replicas=1) as c:
        seed = c.ports[0]
        keyslot = lambda p: int(c.client(seed).execute_command("CLUSTER KEYSLOT", key(p, "x")))  # noqa: E731
        pipeline = next(p for p in (f"seeded{i}" for i in range(1000)) if c.owner(keyslot(p)) == seed)
        slot, client = keyslot(pipeline), slot_client(c.url, pipeline)
        client.set(key(pipeline, "k"), b"1")
        c.client(seed).execute_command("WAIT", 1, 5000)
        c.kill(seed)
        RedisCluster._wait(c.ok, "the replica to take over")
        assert retrying(lambda: client.get(key(pipeline, "k")), timeout=15)[0] == b"1"
        assert c.owner(slot) != seed


def test_a_commit_while_the_slot_migrates_is_retried_not_a_fault(tmp_path, batches, redis_client):
    """While the slot migrates, the commit script of a batch whose entities are all known (its
    declared keys are here) touches undeclared keys (seen sets, snapshots) the node no longer, or
    not yet, serves: the node fails that command in the script. That is a redirect to retry until
    the move ends, not a fault that stops the worker. The script probes those keys before its
    first write, so the refused attempt leaves nothing applied: the retry serves every event
    once, with what a standalone server serves (had the states been written without the
    snapshots, the retry would serve read-only values that already hold the events)."""
    with RedisCluster(masters=3, replicas=0) as c:
        client = slot_client(c.url, PIPELINE)
        proc = processor(tmp_path, client)
        warm = batches[0]
        score(proc, warm, 0)
        slot = int(c.client(c.ports[0]).execute_command("CLUSTER KEYSLOT", key(PIPELINE, "x")))
        source = c.owner(slot)
        target = next(p for p in c.masters() if p != source)
        src, dst = c.client(source), c.client(target)
        for seen in src.keys(key(PIPELINE, "seen", "*")):  # the previous period's set too (a steady state)
            prefix, period = seen.rsplit(b":", 1)
            src.sadd(prefix + b":" + str(int(period) - 1).encode(), b"-")
        again = [dict(e, event_id=f"{e['event_id']}-again", ts=e["ts"] + 1) for e in warm]
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src.execute_command("CLUSTER MYID"))
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst.execute_command("CLUSTER MYID"))
        with pytest.raises(StateStoreError) as failed:
            score(proc, again, len(warm))
        assert isinstance(failed.value.__cause__, redis.ConnectionError)  # retried by the worker
        while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        for port in c.masters():
            c.client(port).execute_command("CLUSTER SETSLOT", slot, "NODE", dst.execute_command("CLUSTER MYID"))
        served_again = retrying(lambda: score(proc, again, len(warm)))[0]
        assert sorted(s[0] for s in served_again if s[1] == "logreg") == sorted(e["event_id"] for e in again)
    standalone = processor(tmp_path / "standalone", redis_client)
    redis_client.delete(*redis_client.keys(key(PIPELINE, "*")) or ["-"])
    score(standalone, warm, 0)
    assert served_again == score(standalone, again, len(warm))


def test_readiness_pings_the_node_that_serves_the_slot():
    """`/ready`'s Redis check follows the pipeline's slot: the URL's node dying (not the slot's)
    leaves it ready; it used to PING the URL's node only."""
    from streams.observability.readiness import redis_check

    with RedisCluster(masters=3, replicas=1) as c:
        owner = c.owner(slot_of(c))
        seed = next(p for p in c.masters() if p != owner)
        check = redis_check(f"redis://127.0.0.1:{seed}/0", pipeline=PIPELINE)
        check()
        c.kill(seed)
        check()  # raises if it pings the dead node


def test_several_seed_nodes_the_first_that_answers_gives_the_slot_map(cluster):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    client = slot_client(f"{dead},{cluster.url}", PIPELINE)
    client.set(key(PIPELINE, "seeded"), b"1")
    assert cluster.client(cluster.owner(slot_of(cluster))).get(key(PIPELINE, "seeded")) == b"1"
    with pytest.raises(redis.ConnectionError):
        slot_client(f"{dead},{dead}", PIPELINE)
