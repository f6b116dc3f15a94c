"""Thin Kafka clients for the CLI, tests and replay (no consumer groups: Tansu joins are slow).

- `make_producer`: confluent-kafka producer (batched, fast), with `send` and `flush`.
- `read_topic`: read every message of a topic from the beginning until it goes quiet, with
  aiokafka and `assign()` (no group join).
- `assigned_consumer`: the aiokafka consumer `read_topic` reads with (every partition assigned,
  no group), for readers of their own (the benchmarks).
- `ensure_topics`: create a pipeline's topics with the right partition counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streams.exceptions import StreamsError
from streams.kafka_security import KafkaSecurity


class KafkaIOError(StreamsError):
    """Kafka could not be reached or refused a request."""


class _Producer:
    def __init__(self, servers: str, **extra: object) -> None:
        conf = {"bootstrap.servers": servers, "linger.ms": 5, "batch.num.messages": 10000,
                "queue.buffering.max.messages": 500000, "enable.idempotence": False,
                **KafkaSecurity.from_env().librdkafka(), **extra}
        self._p = Producer(conf)
        self._errors: list[str] = []

    def _report(self, err, _msg) -> None:  # noqa: ANN001
        if err is not None:
            self._errors.append(str(err))

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                self._p.produce(topic, value=value, key=key, on_delivery=self._report)
                break
            except BufferError:
                self._p.poll(0.05)
        self._p.poll(0)

    def flush(self, timeout: float = 60.0) -> None:
        left = self._p.flush(timeout)
        if left:
            raise KafkaIOError(f"{left} message(s) not delivered within {timeout:.0f}s: is the broker up?")
        if self._errors:
            raise KafkaIOError(f"{len(self._errors)} delivery error(s), first: {self._errors[0]}")

    def close(self) -> None:
        self._p.flush(5)


def make_producer(servers: str, **extra: object) -> _Producer:
    """A producer for `host:port[,host:port]`; `flush()` raises if anything was not delivered."""
    try:
        return _Producer(servers, **extra)
    except KafkaException as exc:
        raise KafkaIOError(f"cannot create a Kafka producer for {servers}: {exc}") from exc


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int


@asynccontextmanager
async def assigned_consumer(servers: str, topic: str, *, from_end: bool = False, wait_for_topic: bool = False,
                            **options: Any) -> AsyncIterator[Any]:
    """A started aiokafka consumer (no group) assigned every partition of `topic`, at its
    beginning (or `from_end`); stopped on exit. A topic that does not exist yet gets no
    assignment, unless `wait_for_topic`: then it waits until the topic has partitions.
    `options` go to `AIOKafkaConsumer` (with the `EDDY_KAFKA_*` security settings)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                                **KafkaSecurity.from_env().aiokafka(), **options)
    await consumer.start()
    try:
        while True:
            await consumer.topics()  # refresh metadata
            parts = consumer.partitions_for_topic(topic) or set()
            if parts or not wait_for_topic:
                break
            await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if tps:
            consumer.assign(tps)
            await (consumer.seek_to_end(*tps) if from_end else consumer.seek_to_beginning(*tps))
        yield consumer
    finally:
        await consumer.stop()


async def _read_topic(servers: str, topic: str, timeout: float, idle: float) -> list[Message]:
    async with assigned_consumer(servers, topic, auto_offset_reset="earliest") as consumer:
        if not consumer.assignment():
            return []
        # The end is where the topic goes quiet: Tansu's ListOffsets(latest) answers the base
        # offset of the last batch + 1, not the high watermark, so end_offsets() undercounts.
        out: list[Message] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since = loop.time()
        while loop.time() - quiet_since < idle:
            if loop.time() > deadline:
                raise KafkaIOError(f"reading {topic} did not finish within {timeout:.0f}s (messages keep arriving?)")
            batch = await consumer.getmany(timeout_ms=200, max_records=10000)
            if any(batch.values()):
                quiet_since = loop.time()
            for msgs in batch.values():
                out.extend(Message(topic, m.partition, m.offset, m.key, m.value, m.timestamp) for m in msgs)
        out.sort(key=lambda m: (m.partition, m.offset))
        return out


def read_topic(servers: str, topic: str, timeout: float = 120.0, idle: float = 1.0) -> list[Message]:
    """Every message of `topic` until it has been quiet for `idle` s, sorted by (partition, offset)."""
    return asyncio.run(_read_topic(servers, topic, timeout, idle))


def _why_unreachable(errors: list, security: KafkaSecurity) -> str:
    """What librdkafka's error callback saw, said in terms of Eddy's settings (never a password)."""
    codes = {e.code() for e in errors}
    if KafkaError._AUTHENTICATION in codes:
        first = next(e for e in errors if e.code() == KafkaError._AUTHENTICATION)
        return (f"the broker refused the credentials ({first.str()}): check EDDY_KAFKA_USERNAME, "
                f"EDDY_KAFKA_PASSWORD and EDDY_KAFKA_SASL_MECHANISM ({security.mechanism})")
    if KafkaError._SSL in codes:
        first = next(e for e in errors if e.code() == KafkaError._SSL)
        return f"the TLS handshake failed ({first.str()}): check EDDY_KAFKA_CA_FILE and the broker's certificate"
    hint = "; if the listener needs TLS or SASL set EDDY_KAFKA_SECURITY_PROTOCOL" if not (security.tls or security.sasl) else ""
    return f"is the broker up (EDDY_KAFKA_SECURITY_PROTOCOL={security.protocol}){hint}?"


def ensure_topics(servers: str, partitions: dict[str, int], timeout: float = 15.0) -> list[str]:
    """Create missing topics with the given partition counts; returns the ones created.

    Existing topics are left as they are (their partition count is not changed). A broker that
    refuses the credentials or the TLS handshake is reported at once, in those words.
    """
    from confluent_kafka.admin import AdminClient, NewTopic

    security = KafkaSecurity.from_env()
    errors: list = []
    admin = AdminClient({"bootstrap.servers": servers, **security.librdkafka(), "error_cb": errors.append})
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = set(admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic()))).topics)
            break
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb
            fatal = any(e.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL) for e in errors)
            if fatal or time.monotonic() >= deadline:
                raise KafkaIOError(f"cannot list topics on {servers}: {_why_unreachable(errors, security)}") from exc
    missing = [NewTopic(t, num_partitions=n, replication_factor=1) for t, n in partitions.items() if t not in existing]
    if not missing:
        return []
    created = []
    for topic, fut in admin.create_topics(missing, request_timeout=timeout).items():
        try:
            fut.result(timeout)
            created.append(topic)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise KafkaIOError(f"cannot create topic {topic}: {exc}") from exc
    return created
