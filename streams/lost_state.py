"""Notice at start that Redis lost a pipeline's state while no worker ran.

A running worker notices a loss by its epoch marker (`streams.state_guard`). A worker that starts
on an empty Redis cannot tell that from a first run by Redis alone: Kafka can. If `<p>.model-events`
holds versions (a learner saved models before) while Redis has no epoch marker, the state was
lost: the registry's versions continue from the highest the topic names (never from 1 again:
a version names one snapshot for good), and the worker raises the `state_lost` alert and flags
its first scores degraded, as after a loss while running. The models themselves and what they had
learned are gone with Redis: they start from the config (enable Redis persistence in production).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streams.kafka_io import KafkaIOError
from streams.kafka_security import KafkaSecurity


def last_versions(servers: str, topic: str, decode: Callable[[bytes], dict[str, Any]], *, idle: float = 0.5,
                  timeout: float = 60.0, stall: float = 60.0) -> dict[str, int]:
    """The highest version of each model named on `topic` (`<p>.model-events`; {} if it is
    empty). Reads with `assign()`, no consumer group. Runs only when a start finds a model
    without a version counter, or Redis lost the registry while running.

    It reads every partition to its end (librdkafka's partition EOF), however long that takes (a
    topic of months of checkpoints), then until the topic has been quiet for `idle` s (Tansu
    reports its last batch's base offset + 1 as the end), or `timeout` s in all have passed. A
    partition that delivers nothing for `stall` s before its end raises `KafkaIOError`, never
    a partial answer: versions continued from part of the topic could name a second snapshot.
    """
    consumer = Consumer({"bootstrap.servers": servers, "group.id": "eddy-lost-state", "enable.auto.commit": False,
                         "enable.partition.eof": True, **KafkaSecurity.from_env().librdkafka()})
    try:
        meta = consumer.list_topics(topic, timeout=stall).topics.get(topic)
        if meta is None or not meta.partitions:
            return {}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        behind = set(meta.partitions)  # partitions not read to their end yet
        versions: dict[str, int] = {}
        start = quiet_since = time.monotonic()
        while True:
            now = time.monotonic()
            if behind and now - quiet_since >= stall:
                raise KafkaIOError(f"reading {topic} stalled for {stall:.0f}s before the end of partition(s) "
                                   f"{sorted(behind)}; versions are not continued from part of it")
            if not behind and (now - quiet_since >= idle or now - start >= timeout):
                return versions
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    behind.discard(msg.partition())
                continue
            quiet_since = time.monotonic()
            try:
                rec = decode(msg.value())
                name, version = str(rec["model"]), int(rec["version"])
            except Exception:  # noqa: BLE001 - a record Eddy cannot read names no version
                name, version = "", 0
            if name and version > versions.get(name, 0):
                versions[name] = version
    finally:
        consumer.close()
