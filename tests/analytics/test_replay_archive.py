"""`eddy replay --source clickhouse` (`read_clickhouse`) against `--source kafka` (`read_kafka`) of
the same messages: the sink archives the events and labels into chDB (in process), the Kafka side
reads the very same messages (`read_topic` faked: no broker here)."""

from __future__ import annotations

from analytics.backends import ChdbBackend
from analytics.sink import Sink
from schemas import FolderRegistry
from streams.config import load_config
from streams.kafka_io import Message
from streams.replay.inputs import read_clickhouse, read_kafka
from streams.replay.merge import merge_inputs
from streams.replay.runner import replay_inputs
from streams.sink_rows import SinkRouter
from streams.wiring import Codecs
from tests.integration.fixtures import FRAUD, fraud_generator

CFG = load_config(FRAUD / "config.yaml")
TIE = 12  # events (and their labels) per ts


def tied_topics(codecs: Codecs, n: int = 480) -> dict[str, list[Message]]:
    """Events 12 per ts over 2 partitions; their labels 2 s later, 12 per ts over 2 partitions,
    each tie group sent in descending event id order (so topic order is not event id order), and
    at the end a second, different label of the first event."""
    events, labels = fraud_generator().generate(n, seed=7)
    t0 = events[0]["ts"]
    events = [{**e, "ts": t0 + (i // TIE) * 1000} for i, e in enumerate(events)]
    label_of = {lab["event_id"]: lab for lab in labels}
    labels = [{**label_of[e["event_id"]], "ts": e["ts"] + 2000} for e in events]
    labels = [lab for g in range(0, n, TIE) for lab in reversed(labels[g:g + TIE])]
    ev_t, lab_t = CFG.topics.events, CFG.topics.labels
    first = labels[TIE - 1]  # the first event's label: partition 1, offset 5
    # a second, different label of the first event, same ts, later in the same partition (labels are
    # keyed by event): the first one wins, in the learner and in the archive (the sink skips the copy)
    copy = Message(lab_t, 1, n // 2, b"k", codecs.encode("labels", {**first, "label": 1.0 - first["label"]}),
                   first["ts"])
    return {ev_t: [Message(ev_t, i % 2, i // 2, b"k", codecs.encode("events", e), e["ts"])
                   for i, e in enumerate(events)],
            lab_t: [Message(lab_t, k % 2, k // 2, b"k", codecs.encode("labels", lab), lab["ts"])
                    for k, lab in enumerate(labels)] + [copy]}


def test_an_archive_replay_learns_same_ts_labels_in_topic_order_like_a_kafka_replay(
        chdb_backend: ChdbBackend, fresh_db: str, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    from streams import kafka_io

    codecs = Codecs.build(CFG, FolderRegistry(tmp_path / "registry"))
    topics = tied_topics(codecs)
    sink = Sink(chdb_backend, fresh_db, max_batch_rows=5000, max_buffered_rows=50_000)
    router = SinkRouter(CFG, codecs, sink)
    for msgs in topics.values():  # what the live sink agent does with these topics
        router.route([(m.topic, m.partition, m.offset, m.value) for m in msgs], 0)
    sink.flush(0)
    monkeypatch.setattr(kafka_io, "read_topic", lambda servers, topic, *a, **kw: topics[topic])
    from_kafka = read_kafka(CFG, codecs, "127.0.0.1:9")
    from_archive = read_clickhouse(CFG, codecs, chdb_backend, fresh_db)

    def learning_order(inputs) -> list[tuple[str, int, int]]:  # noqa: ANN001
        return [(i.record["event_id"], i.partition, i.offset)
                for i in merge_inputs(inputs.events, inputs.labels) if i.kind == "label"]

    order = learning_order(from_archive)
    firsts = {}  # the Kafka replay's labels but the copy (a `duplicate` there)
    for lab in learning_order(from_kafka):
        firsts.setdefault(lab[0], lab)
    assert order == list(firsts.values())
    ids = [e for e, _, _ in order]
    assert ids[:TIE] != sorted(ids[:TIE])  # ties in topic order (partition, offset), not event id order
    a = replay_inputs(CFG, "k", from_kafka)
    b = replay_inputs(CFG, "ch", from_archive)
    assert b.stats.outcomes["learned"] == a.stats.outcomes["learned"] == 480
    assert a.stats.outcomes["duplicate"] == 1  # the archive holds the first label only (the sink skips the copy)
    assert b.digest.hexdigest() == a.digest.hexdigest()


def test_archive_labels_without_a_position_come_first_among_their_ties_by_event_id(
        chdb_backend: ChdbBackend, fresh_db: str, tmp_path) -> None:
    """Rows written before `labels` had `partition`/`offset` read back as -1/-1: a replay learns
    them before the positioned labels of the same ts, in event id order."""
    ts = "fromUnixTimestamp64Milli(toInt64(1767225600000), 'UTC')"
    p = CFG.pipeline
    chdb_backend.execute(
        f"INSERT INTO {fresh_db}.labels (pipeline, event_id, label, label_ts, `partition`, `offset`) VALUES "
        f"('{p}', 'a', 0, {ts}, 1, 3), ('{p}', 'b', 0, {ts}, 0, 9), ('{p}', 'c', 0, {ts}, 0, 4)")
    chdb_backend.execute(f"INSERT INTO {fresh_db}.labels (pipeline, event_id, label, label_ts) VALUES "
                         f"('{p}', 'z', 1, {ts}), ('{p}', 'y', 1, {ts})")
    codecs = Codecs.build(CFG, FolderRegistry(tmp_path / "registry"))
    inputs = read_clickhouse(CFG, codecs, chdb_backend, fresh_db)
    got = [(i.record["event_id"], i.partition, i.offset) for i in merge_inputs(inputs.events, inputs.labels)]
    assert got == [("y", -1, -1), ("z", -1, -1), ("c", 0, 4), ("b", 0, 9), ("a", 1, 3)]
