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

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streams.kafka_security import KafkaSecurity


def last_versions(servers: str, topic: str, decode: Callable[[bytes], dict[str, Any]], *, idle: float = 0.5,
                  timeout: float = 60.0) -> dict[str, int]:
    """The highest version of each model named on `topic` (`<p>.model-events`; {} if it is
    empty), read from its start until it has been quiet for `idle` s. Reads with `assign()`, no
    consumer group. (Not from the high watermark: Tansu reports batches there, librdkafka reads 1
    for 21 records.) Runs only when a start finds a model without a version counter."""
    consumer = Consumer({"bootstrap.servers": servers, "group.id": "eddy-lost-state", "enable.auto.commit": False,
                         **KafkaSecurity.from_env().librdkafka()})
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or not meta.partitions:
            return {}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        versions: dict[str, int] = {}
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            quiet_since = time.monotonic()
            try:
                rec = decode(msg.value())
                name, version = str(rec["model"]), int(rec["version"])
            except Exception:  # noqa: BLE001 - a record Eddy cannot read names no version
                name, version = "", 0
            if name and version > versions.get(name, 0):
                versions[name] = version
        return versions
    finally:
        consumer.close()
