"""The Faust worker: score, learn and sink agents over a pipeline's topics, built in a factory.

```
<p>.events  --score agent-->  <p>.scores (champion), <p>.shadow-scores, <p>.dlq
<p>.labels  --learn agent-->  model versions (Redis registry), <p>.model-events, <p>.alerts
<p>.events, .scores, .shadow-scores, .labels, .model-events, .alerts, .dlq  --sink agent-->  ClickHouse
```

Every input comes in micro-batches from consumer-group members of the worker's own, not Faust's
per-message path: the `EventFeed` (`<group>.events`), the `LabelFeed` (`<group>.labels`) and the
`SinkFeed` (`<group>.sink`), all aiokafka `getmany`. Each batch is decoded, scored and published
(or written to ClickHouse) as a whole (one Redis round trip for features, one for snapshots,
produce futures awaited together) and committed only after its outputs are written: at least
once, made exactly-once in effect by event-id dedup in the feature store, snapshots keyed by
source offset, and id-keyed ClickHouse tables. Faust keeps the producer, timers and the web views.

Learning: the labels topic has one partition, so exactly one worker of a group owns it and is the
learner. It saves a checkpoint (a model version of every model plus its bookkeeping) at most every
`worker.publish_every` labels or `publish_interval` seconds (`Checkpointer`), and commits labels
offsets only once a checkpoint covers them; every score names the exact version that made it;
other workers hot-swap to the newest version every `model_refresh` s.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import faust
import redis
from aiokafka.partitioner import DefaultPartitioner

from features import StateStoreError
from features.redis_store import RedisStateStore, roundtrip
from learners import (
    Learner,
    ModelRegistry,
    RegistryConflict,
    Snapshot,
    latest_meta,
    refresh,
    refresh_steps,
    restore,
    save_checkpoint,
)
from schemas import dlq_record_from_failure
from streams.batch_send import KeyedPartitions, send_batches
from streams.checkpointer import Checkpointer
from streams.config import PipelineConfig, lateness_warnings
from streams.counters import Counters, counters_key
from streams.endpoints import Endpoints, default_home
from streams.event_feed import EventFeed, leave_in_any_generation
from streams.kafka_security import KafkaSecurity
from streams.keyspace import sink_database_key
from streams.label_feed import LabelFeed
from streams.label_outcomes import label_counts, orphan_letters
from streams.label_rules import LABEL_SCHEMA, label_failure
from streams.lost_state import last_versions
from streams.observability import ScorersBehind, WorkerMetrics, attach, instrument
from streams.processor import MARKS_CLOCK_MARGIN_MS, Processor, Source
from streams.run_records import alert_record, model_event_record
from streams.sink_feed import SinkFeed
from streams.sink_rows import SinkRouter
from streams.state_guard import StateGuard
from streams.time_slices import TimeSlicer
from streams.wiring import Codecs, ScoreEncoder, live_processor, model_registry, redis_client

log = logging.getLogger("eddy.worker")

#: Learned event ids carried in each checkpoint (duplicates by id across a restart; older ones
#: are found by their learned marks in the snapshot store, see `WorkerRuntime.mark_learned`).
CHECKPOINT_LEARNED_IDS = 1_000


def _hook_faust_consumers(wait_ms: int) -> None:
    """Tune the aiokafka consumers Faust's driver builds for a worker (the leader assignor's topic:
    every input has a feed of its own).

    - Long-poll for at most `wait_ms` instead of a hardcoded 1500 ms. Tansu answers a fetch only
      when that wait expires, so an event waited ~0.4 s (p50) to 0.75 s (p99) in the broker before
      the worker even saw it (measured with aiokafka alone; 50 ms: p50 4 ms, p99 32 ms). We cap it
      at the micro-batch window: the worker never waits longer for a batch than it would to fill one.
    - Leave the group at stop in generation 0 too (`leave_in_any_generation`, as the events and
      labels feeds do): Tansu numbers a group's first generation 0, in which aiokafka sends no
      LeaveGroup, and a stopped member's partitions waited for the session timeout (~10 s).

    Idempotent; affects only consumers created afterwards.
    """
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(thread_cls, "_eddy_original_create", thread_cls._create_worker_consumer)

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait_ms  # read by AIOKafkaConsumer.start() to build its Fetcher
        start = consumer.start

        async def start_leaving_in_any_generation() -> None:
            await start()
            leave_in_any_generation(consumer)  # its coordinator exists once started

        consumer.start = start_leaving_in_any_generation
        return consumer

    thread_cls._eddy_original_create = original
    thread_cls._create_worker_consumer = create


async def every(interval: float, fn: Callable[[], Awaitable[None]], *,
                ready: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Await `fn()` every `interval` s (after `ready()`), until cancelled; `fn` handles its errors."""
    if ready is not None:
        await ready()
    while True:
        await asyncio.sleep(interval)
        await fn()


def now_ms() -> int:
    return int(time.time() * 1000)


class WorkerRuntime:
    """Everything a worker holds besides the Faust app: processor, registry, codecs, counters."""

    def __init__(self, config: PipelineConfig, endpoints: Endpoints, codecs: Codecs, run_id: str,
                 learner: bool = True, scorer: bool = True) -> None:
        self.config = config
        self.redis = redis_client(endpoints.redis, config.pipeline)
        self.processor: Processor = live_processor(config, self.redis, run_id, learner=learner)
        self.registry: ModelRegistry = model_registry(config, self.redis)
        self.codecs = codecs
        self.run_id = run_id
        self.counters = Counters(partial(roundtrip, self.redis), counters_key(config.pipeline))
        refill = max((f.window for f in config.features.windows), default=0)
        self.guard = StateGuard(self.redis, config.pipeline, refill)
        #: the `state_lost` alert of a loss found at start (Redis emptied while no worker ran)
        self.lost_at_start: dict | None = None
        self._endpoints, self._codecs = endpoints, codecs
        if codecs is not None:  # (no codecs: the runtime alone, in tests)
            self._continue_versions()
        self.guard.start()
        #: the models the learner trains (its own copy when it shares the process with scoring)
        self.learning = self.processor.learner.model_set if self.processor.learner is not None else self.processor.models
        if self.processor.learner is not None:
            self.processor.learner.tracks_marks = True  # see `mark_learned`
            self.processor.learner.keeps_unsaved = True  # see `refresh_learning`
        #: whether this process scores: a learner apart serves no model, so it loads none to serve
        self.scorer = scorer
        if scorer:
            for warning in lateness_warnings(config):
                log.warning(warning)
        restore(self.registry, self.processor.models if scorer else self.learning)
        if scorer and self.learning is not self.processor.models:
            restore(self.registry, self.learning)
        #: set when labels partitions are assigned: the learner resumes from the newest checkpoint
        #: before it learns anything (`adopt_learning`); until then it holds nothing to learn
        self.adopt_pending = False
        #: how many of the learner's unmarked ids the last checkpoint covers (`mark_learned`)
        self.marks_due = 0

    def _named_versions(self) -> dict[str, int]:
        """The highest version of each model `<p>.model-events` names (reads the topic: blocks)."""
        return last_versions(self._endpoints.kafka, self.config.topics.model_events, self._codecs.codec.decode)

    def _continue_versions(self) -> None:
        """At start: a model the registry has no version counter for (a first run, or Redis
        emptied while no learner ran, `streams.lost_state`) continues from the highest version
        its model events name; no epoch marker as well means the state was lost: alert."""
        unmarked = not self.guard.marked()
        names = self.processor.models.names
        counted = self.redis.mget([self.registry.key(n, "seq") for n in names])
        if not unmarked and all(c is not None for c in counted):
            return
        versions = self._named_versions()
        if versions:
            self.registry.continue_from(versions)
            if unmarked:
                self.lost_at_start = self.guard.lost_at_start(now_ms(), versions)

    def continue_after_loss(self) -> None:
        """Redis lost the registry while running: let each model's next version follow every
        version it ever had, which the learner's own may not all be (a CLI rollback made a newer
        one that scorers served before this learner adopted it): the model events name them all,
        and a scorer in this process serves the newest it saw. Blocks (reads the topic)."""
        topic: dict[str, int] = {}
        if self._codecs is not None:
            try:
                topic = self._named_versions()
            except Exception as exc:  # noqa: BLE001 - Kafka unreachable: what this process holds
                log.warning("model events not read after the state loss (%s: %s); versions continue from "
                            "this process's models", type(exc).__name__, exc)
        self.registry.continue_from(topic)
        self.registry.continue_from(self.learning.versions)
        if self.scorer:
            self.registry.continue_from(self.processor.models.versions)

    def adopt_learning(self) -> None:
        """This process now owns the labels partitions: resume the learner from the newest
        checkpoint (models, bookkeeping, waiting labels, drift state), whoever wrote it.

        Only the owner learns: another process with the learn role (two default workers) holds
        no waiting label, so its scorer never learns one into a stale copy of the models, and
        it saves no checkpoint over the owner's.
        """
        learner = self.processor.learner
        if learner is None:
            return
        refresh(self.registry, self.learning)
        # the events of versions a learner saved but died before publishing: sent again with the
        # next checkpoint's (ClickHouse keeps one row of each), so every served version has its event
        self.registry.requeue_events(self.registry.saved_events(self.learning.names))
        latest = latest_meta(self.registry, self.learning.names)
        learner.load_state(latest[0] if latest is not None else {})
        self.processor.resume_offsets = learner.offsets
        # labels of events served before the newest checkpoint may have been learned by another
        # learner process (its checkpoints marked them, `mark_learned`); a minute's margin for the
        # scorers' clocks. No checkpoint yet: nothing was learned for good, nothing to look up.
        self.processor.marks_before_ms = latest[1] + MARKS_CLOCK_MARGIN_MS if latest is not None else None
        self.mark_learned()
        self.adopt_pending = False
        log.info("learning from the checkpoint of models %s (%d labels waiting for their events)",
                 self.learning.versions, learner.n_pending)

    def ensure_learning(self) -> None:
        """`adopt_learning` if labels partitions were assigned since (before learning anything)."""
        if self.adopt_pending:
            self.adopt_learning()

    def release_learning(self) -> None:
        """The labels partitions moved away, after the checkpoint that covers them: drop the
        waiting labels (the new owner resumes them) and learn nothing until assigned again."""
        if self.processor.learner is not None:
            self.processor.learner.release()
        self.adopt_pending = False

    def mark_learned(self, n: int | None = None) -> None:
        """Mark the first `n` (default: all) labels learned since the last marks as learned, in
        the snapshot store: the ones the last checkpoint covers (`marks_due`), never later ones."""
        learner = self.processor.learner
        ids = learner.unmarked()[:n] if learner is not None else []
        if ids:
            self.processor.snapshots.mark_learned(ids)
            learner.marked(len(ids))
            # (a retried `after_checkpoint` must not mark the ids learned after its checkpoint)
            self.marks_due = max(0, self.marks_due - len(ids))

    def refresh_models(self) -> dict:
        """Hot-swap what the registry moved: the served models (a scorer), and the learner's (CLI
        rollbacks); returns what the served set loaded (the learner's in a learner apart)."""
        loaded = refresh(self.registry, self.processor.models) if self.scorer else {}
        if self.learning is not self.processor.models:
            learned = self.refresh_learning()
            loaded = loaded if self.scorer else learned
        return loaded

    def refresh_learning(self) -> dict[str, Snapshot]:
        """Adopt what another process moved in the registry for the learner's models (a CLI
        rollback). A replaced model is taught again the labels that came after its new version
        was made, which this learner taught the copy it replaced (`Learner.reteach`): they are
        counted learned, and nothing would teach them to the restored content otherwise."""
        loaded = refresh(self.registry, self.learning)
        learner = self.processor.learner
        if learner is not None:
            for snap in loaded.values():
                n = learner.reteach(snap.name, snap.created_ms)
                log.info("model %s is now v%d (%s): taught it again the %d labels learned since",
                         snap.name, snap.version, snap.action, n)
        return loaded

    def count(self, **deltas: int) -> None:
        """Add to the pipeline's counters (written to Redis at most every 0.25 s, `Counters`)."""
        self.counters.add(**deltas)


def _retrying(what: str, on_error: Callable[[str, BaseException], None] | None = None) -> Callable:
    """Retry a batch step on Redis outages with backoff instead of crashing the agent
    (`on_error(what, exc)` sees each failure: the worker's metrics count them)."""

    def wrap(fn: Callable) -> Callable:
        async def run(*args: Any, **kwargs: Any) -> Any:
            delay = 0.2
            while True:
                try:
                    result = fn(*args, **kwargs)
                    return await result if inspect.isawaitable(result) else result
                except (redis.ConnectionError, redis.TimeoutError, StateStoreError) as exc:
                    cause = exc.__cause__ if isinstance(exc, StateStoreError) else exc
                    if not isinstance(cause, (redis.ConnectionError, redis.TimeoutError)):
                        raise  # corrupt or foreign state is not an outage: fail loudly
                    log.warning("%s: Redis unavailable (%s: %s); retrying in %.1fs", what, type(cause).__name__,
                                str(cause)[:200], delay)
                    if on_error is not None:
                        on_error(what, cause)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        return run

    return wrap


ROLES = ("score", "learn", "sink")


async def labels_wait(events_behind: Callable[[], Awaitable[bool]], learner: Learner, ahead: int,
                      batch: int) -> bool:
    """Whether the labels feed should read nothing for a window.

    - Always when one more batch of `batch` labels could overflow the learner's pending buffer
      (`max_pending`): a label that finds no room would be an orphan, never learned; waiting in
      Kafka loses nothing while pending labels are learned or expire.
    - When `ahead` (> 0) labels or more wait for their events and `events_behind()`: the
      scorers have not reached them yet (a catch-up). Reading on would pile them up in the
      pending buffer and in every checkpoint.
    """
    pending = learner.n_pending
    if pending + batch > learner.join.max_pending:
        return True
    return 0 < ahead <= pending and await events_behind()


def app_id(pipeline: str, roles: frozenset[str]) -> str:
    """The consumer group of a worker: one per set of roles, so role processes never share one.

    >>> app_id("fraud", frozenset(ROLES)), app_id("fraud", frozenset({"score"}))
    ('eddy-fraud', 'eddy-fraud-score')
    """
    if roles == frozenset(ROLES):
        return f"eddy-{pipeline}"
    return f"eddy-{pipeline}-" + "-".join(r for r in ROLES if r in roles)


def build_app(config: PipelineConfig, endpoints: Endpoints, codecs: Codecs, run_id: str, *,
              roles: frozenset[str] = frozenset(ROLES), sink: Any | None = None,
              web_port: int | None = None, home: Path | None = None) -> tuple[faust.App, WorkerRuntime]:
    """A Faust app with the agents of `roles` (score, learn, sink) of `config`.

    One process with every role is the simplest deployment: its feeds share one event loop (the
    sink's decoding waits while the events feed has a batch in hand). Running the roles as
    separate processes (`eddy worker --roles score`, `--roles learn`, `--roles sink`) removes
    that coupling and uses more cores. Scorers then hot-swap the
    learner's published versions every `worker.model_refresh` seconds. Faust's data folder is
    `<home>/faust/<app id>` (home: the stack home, `$EDDY_HOME` or `./.eddy`), not the cwd.
    """
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}: use some of {', '.join(ROLES)}")
    if "sink" in roles and sink is None:
        raise ValueError("the sink role needs a sink (see streams.sinking.build_sink)")
    topics = config.topics
    wc = config.worker
    the_id = app_id(config.pipeline, roles)
    datadir = (home or default_home()).resolve() / "faust" / the_id
    datadir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = faust.App(
        the_id,
        datadir=str(datadir),
        broker=endpoints.kafka_url,
        broker_credentials=KafkaSecurity.from_env().faust_credentials(),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_bind="127.0.0.1",
        broker_session_timeout=wc.session_timeout,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_max_poll_records=wc.batch_size * 4,
        stream_buffer_maxsize=wc.batch_size * 4,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
        producer_max_request_size=4_000_000,
    )
    _hook_faust_consumers(max(1, int(wc.batch_window * 1000)))
    rt = WorkerRuntime(config, endpoints, codecs, run_id, learner="learn" in roles, scorer="score" in roles)
    if "sink" in roles:  # `eddy status` reads the pipeline's alerts there
        rt.redis.set(sink_database_key(config.pipeline), config.sink.database)
    proc = rt.processor
    metrics = rt.metrics = WorkerMetrics(config.pipeline, roles)  # served by `eddy worker --metrics-port`
    feed_assigned = attach(app, metrics, rt.learning, heartbeat=rt.redis)  # gauges, lag, assignment logs, heartbeat
    instrument(proc, metrics)  # features / predict / snapshot timings inside Processor.score
    reader = codecs.event_schema

    def t(name: str, partitions: int | None = None) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions)

    scores_t = t(topics.scores, config.partitions)
    shadow_t = t(topics.shadow_scores, config.partitions)
    model_events_t = t(topics.model_events, 1)
    alerts_t = t(topics.alerts, 1)
    dlq_t = t(topics.dlq, 1)

    async def publish(pairs: list[tuple[faust.TopicT, bytes | None, bytes]]) -> None:
        """Send `pairs` and wait until every one is acknowledged."""
        await asyncio.gather(*await send(pairs))

    partitions = KeyedPartitions(DefaultPartitioner())  # aiokafka's default, each key hashed once

    async def send(pairs: list[tuple[faust.TopicT, bytes | None, bytes]]) -> list[asyncio.Future]:
        """Hand `pairs` to the producer (`streams.batch_send`); returns the futures of their
        acknowledgements."""
        producer = app.producer._ensure_producer()  # Faust's started aiokafka producer
        keyed = partitions.use(producer._partitioner)
        return await send_batches(producer, [(tp.get_topic_name(), k, v) for tp, k, v in pairs], keyed)

    score_encoder = ScoreEncoder(codecs)

    def enc(attr: str, rec: dict) -> bytes:
        return codecs.encode(attr, rec, trusted=True)

    def orphan_records(outcomes: list) -> list[dict]:
        """Dead letters of the orphan labels among `outcomes` (`streams.label_outcomes`)."""
        return orphan_letters(config.pipeline, topics.labels, outcomes, partial(codecs.encode, "labels"), now_ms())

    def dlq_pairs(letters: list[dict]) -> list[tuple[faust.TopicT, bytes | None, bytes]]:
        return [(dlq_t, rec["key"], enc("dlq", rec)) for rec in letters]

    def alert_records(alerts: list[dict]) -> list[tuple[faust.TopicT, bytes | None, bytes]]:
        pairs: list[tuple[faust.TopicT, bytes | None, bytes]] = []
        for alert in alerts:
            pairs.append((alerts_t, alert["model"].encode(), enc("alerts", alert_record(config.pipeline, run_id, alert))))
        return pairs

    async def publish_model_events() -> None:
        """Publish the registry's queued model events; undelivered ones go back in the queue."""
        events = rt.registry.drain_events()
        pairs = []
        for ev in events:
            pairs.append((model_events_t, ev["model"].encode(),
                          enc("model_events", model_event_record(config.pipeline, run_id, ev))))
        try:
            await publish(pairs)
        except BaseException:
            rt.registry.requeue_events(events)  # a repeat is harmless: ClickHouse dedups model events
            raise

    def checkpoint(actions: list[dict]) -> None:
        # Drift actions changed only this process's ModelSet: persist them in the registry so
        # scorers in other processes follow (and the next refresh does not undo a promotion).
        # A CLI rollback/promote made since our last refresh makes the save conflict: adopt it
        # (refresh), then save again.
        # The labels this checkpoint covers are committed next (never read again): count them first
        # (before the save, so a failed write retries the checkpoint without saving it twice).
        rt.counters.flush()
        t = now_ms()
        resets = {}
        for a in actions:
            if a.get("action") == "promote":
                rt.registry.promote(a["model"], now_ms=t)
            elif a.get("action") == "reset":
                resets[a["model"]] = "reset"
        try:
            save_checkpoint(rt.registry, rt.learning, learner_meta(), now_ms=t, actions=resets)
        except RegistryConflict as exc:
            log.info("checkpoint refused (%s): adopting the registry's models and saving again", exc)
            rt.refresh_learning()
            save_checkpoint(rt.registry, rt.learning, learner_meta(), now_ms=t, actions=resets)
        proc.learner.saved()
        # the ids this checkpoint covers are marked learned after it (`after_checkpoint`): a crash
        # in between leaves them in its meta; labels learned meanwhile wait for the next one
        rt.marks_due = len(proc.learner.unmarked())
        rt.counters.settle(**{f"labels_{status}": n for status, n in proc.learner.counts.items()})

    async def after_checkpoint() -> None:
        """Mark the checkpoint's labels learned, publish its model events, then serve its
        versions in this process too.

        Scoring here serves saved versions only (a score names the exact snapshot that made it,
        which the learner's live models are not between checkpoints). Only the save itself must
        not let learning in (its meta and models are one state); the rest lets the event loop
        run a batch of events between each step instead of stalling for all of it at once
        (paced traffic, round 12 of BENCHMARKS.md): marking a second's learned ids, the model
        events, loading each model it saved (a Hoeffding tree unpickles in a few ms).
        """
        try:
            await asyncio.sleep(0)
            rt.mark_learned(rt.marks_due)
            await publish_model_events()
        finally:
            for _ in refresh_steps(rt.registry, proc.models) if rt.scorer else ():
                await asyncio.sleep(0)

    ckpt = rt.checkpoints = Checkpointer(checkpoint, wc.publish_every, wc.publish_interval,
                                         after_save=after_checkpoint)

    async def checked_checkpoint() -> None:
        """A checkpoint, the state check first: a registry that Redis lost is republished with
        its versions continued, never saved over from version 1. (Label batches do not check on
        their own: a lost snapshot leaves a label pending either way, and the timer checks every
        `model_refresh` s; event batches check each time, to flag their scores degraded.)"""
        await check_state()
        await ckpt.flush()

    flush_checkpoint = _retrying("checkpoint", metrics.redis_error)(checked_checkpoint)

    def learner_meta() -> str:
        """The learner's bookkeeping for a checkpoint (JSON), kept small: redeliveries are
        recognised by offset (labels below the checkpoint offset), so only the most recent learned
        ids are kept for producer duplicates across a restart (the in-process set covers the
        horizon)."""
        return proc.learner.state_json(learned_tail=CHECKPOINT_LEARNED_IDS)

    # Label outcomes are counted as soon as these return, before any await (the calls complete
    # without suspending): a checkpoint settles the label counters to the learner's own counts
    # (`Counters.settle`), and an outcome counted after it would be counted twice.
    @_retrying("score", metrics.redis_error)
    def score_batch(records: list, sources: list[Source], received: int) -> Any:
        return proc.score(records, sources, now_ms(), received_ms=received, served_clock=now_ms)

    @_retrying("learn", metrics.redis_error)
    def learn_batch(labels: list[dict], positions: list[tuple[int, int]]) -> Any:
        out = proc.learn(labels, now_ms(), positions)
        ckpt.note(len(out.outcomes), out.actions)  # no await since the learning: the checkpoint sees it whole
        return out

    async def score(batch: list) -> Awaitable[None]:
        """Score one micro-batch of `<p>.events` messages (from the `EventFeed`) and hand its
        records to the producer; returns the batch's tail (acks, checkpoint, counters), which the
        feed awaits before committing while it already scores the next batch."""
        t0 = time.perf_counter()
        received = now_ms()
        values = [m.value or b"" for m in batch]  # a tombstone (null value) is an empty message
        records, failures = codecs.inputs.decode_batch(values, reader)
        t_decoded = time.perf_counter()
        sources = [Source(m.topic, m.partition, m.offset, m.key, m.value) for m in batch]
        pairs: list[tuple[faust.TopicT, bytes | None, bytes]] = []
        good, good_src = [], []
        for rec, fail, src in zip(records, failures, sources):
            if fail is not None:
                pairs.append((dlq_t, src.key, enc("dlq", dlq_record_from_failure(
                    config.pipeline, src.topic, src.partition, src.offset, src.key, src.value, fail, received))))
            else:
                good.append(rec)
                good_src.append(src)
        out = await score_batch(good, good_src, received)
        redis_ok_at = metrics.clock()
        if out.learned:  # early labels whose event this batch scored (counted now: see `score_batch`)
            rt.count(**label_counts(out.learned))
        if lost_found:  # the batch found the state lost: republish before anything saves a checkpoint
            await checked_state()
        t_scored = time.perf_counter()
        shared: dict = {}  # an event's champion and shadow records encode their common fields once
        for rec, value in zip(out.scores, score_encoder.encode("scores", out.scores, shared)):
            pairs.append((scores_t, rec["key"].encode(), value))
        for rec, value in zip(out.shadow, score_encoder.encode("shadow_scores", out.shadow, shared)):
            pairs.append((shadow_t, rec["key"].encode(), value))
        for rec in out.dlq:
            pairs.append((dlq_t, rec["key"], enc("dlq", rec)))
        if out.learned and proc.learner is not None:
            ckpt.note(len(out.learned), [a for o in out.learned for a in o.actions])
            # early labels learned here can raise drift alerts too: publish them like the learn agent
            pairs += alert_records([a for o in out.learned for a in o.alerts])
        acks = await send(pairs)

        async def tail() -> None:
            await asyncio.gather(*acks)
            if proc.learner is not None and ckpt.due():
                await flush_checkpoint()
            n_dlq = len(out.dlq) + sum(f is not None for f in failures)
            rt.count(events=len(batch), scored=len(out.snapshots), dlq=n_dlq, late=out.late,
                     redelivered=out.redelivered)
            t_done = time.perf_counter()
            metrics.observe_score_batch(
                len(batch), out.scores, out.shadow, [*out.dlq, *(f for f in failures if f is not None)],
                scored=len(out.snapshots), late=out.late, redelivered=out.redelivered, learned=out.learned,
                stages={"decode": t_decoded - t0, "score": t_scored - t_decoded, "produce": t_done - t_scored,
                        "batch": t_done - t0},
                positions={(m.topic, m.partition): m.offset for m in batch}, redis_ok_at=redis_ok_at)

        return tail()

    slicer = TimeSlicer()  # ~3 ms of learning at a time (at most 100 labels)

    ensure_learning = _retrying("learner resume", metrics.redis_error)(rt.ensure_learning)

    async def learn(batch: list) -> None:
        """Learn one micro-batch of `<p>.labels` messages (from the `LabelFeed`, which then holds
        their offsets until a checkpoint covers them), publish its dead letters and alerts."""
        await ensure_learning()  # labels partitions newly assigned: resume the newest checkpoint first
        values = [m.value or b"" for m in batch]  # a tombstone (null value) is an empty message
        records, failures = codecs.inputs.decode_batch(values, LABEL_SCHEMA)
        pairs: list[tuple[faust.TopicT, bytes | None, bytes]] = []
        labels, positions = [], []
        received = now_ms()
        task = config.models.task
        for m, rec, fail in zip(batch, records, failures):
            if fail is None:
                fail = label_failure(rec, task)
            if fail is not None:
                pairs.append((dlq_t, m.key, enc("dlq", dlq_record_from_failure(
                    config.pipeline, m.topic, m.partition, m.offset, m.key, m.value, fail, received))))
                continue
            labels.append(rec)
            positions.append((m.partition, m.offset))
        t_learn = time.perf_counter()
        outcomes, alerts = [], []
        # in time slices with the events' turn between them; each slice fetches its snapshots
        # (an event scored meanwhile has one by then)
        async for part in slicer.slices(range(len(labels))):
            out = await learn_batch([labels[k] for k in part], [positions[k] for k in part])
            rt.count(**label_counts(out.outcomes))  # now, before any await (see `score_batch`)
            if out.redelivered:
                rt.count(labels_redelivered=out.redelivered)
            outcomes += out.outcomes
            alerts += out.alerts
        orphans = orphan_records(outcomes)
        pairs += alert_records(alerts) + dlq_pairs(orphans)
        await publish(pairs)
        n_dlq = len(batch) - len(labels) + len(orphans)
        rt.count(labels=len(batch), dlq=n_dlq)
        metrics.observe_learn_batch(
            len(batch), outcomes, alerts, [f for f in failures if f is not None] + orphans, n_dlq=n_dlq,
            stages={"learn": time.perf_counter() - t_learn},
            positions={(m.topic, m.partition): m.offset for m in batch})

    lost_found: list[dict] = []  # state losses found, the registry not yet republished

    def found_lost(lost: dict | None) -> None:
        """A `StateGuard` answer: if the state was lost, flag scores from this batch on."""
        if lost is not None:
            proc.mark_state_lost(rt.guard.refill_ms)
            lost_found.append(lost)

    if rt.lost_at_start is not None:
        found_lost(rt.lost_at_start)  # handled by the first `check_state`, as a loss while running

    if isinstance(proc.engine.store, RedisStateStore):
        # the epoch marker as read with each batch's states: gone means that batch is the first
        # on an empty state, and its scores are flagged
        proc.engine.store.watch(rt.guard.key, lambda marker: found_lost(rt.guard.observe(marker, now_ms())))

    state_lock = asyncio.Lock()

    async def check_state() -> None:
        """Redis lost our state? Alert, flag scores degraded, republish the learner's models.

        A loss found by a batch is handled here too, before anything else may save a checkpoint
        (the score agent calls this right after such a batch, `checked_checkpoint` before saving).
        One check at a time: handling a loss reads the model events (in a thread) before the
        registry is republished, and a second caller then finds the loss handled.
        """
        async with state_lock:
            if not lost_found:
                found_lost(rt.guard.check(now_ms()))
                if not lost_found:
                    return
            lost = lost_found[-1]
            log.error("%s", lost["detail"])
            if proc.learner is not None:
                # The registry is gone too: continue its versions past every one ever named, republish.
                await asyncio.get_running_loop().run_in_executor(None, rt.continue_after_loss)
                versions = rt.registry.save_many(rt.learning.models, learner_meta(), now_ms=now_ms(),
                                                 roles=rt.learning.roles)  # no compare-and-set: nothing to compare
                rt.learning.set_versions(versions)
                proc.learner.saved()
                if rt.scorer:
                    refresh(rt.registry, proc.models)
            lost_found.clear()  # the registry is whole again; only the alert is left to send
            await publish(alert_records([lost]))
            await publish_model_events()
            metrics.observe_alert(lost)
            rt.count(state_lost=1)

    checked_state = _retrying("state check", metrics.redis_error)(check_state)

    async def housekeeping() -> None:
        """Early labels whose event has been scored since, orphan expiry, state check, hot-swap.

        A Redis outage skips a tick; any other failure is logged with its traceback, counted
        (`housekeeping_errors`) and retried next tick rather than killing the worker.
        """
        try:
            await check_state()
            if proc.learner is not None:
                rt.ensure_learning()  # (a quiet labels topic: its waiting labels still expire)
            if proc.learner is not None and proc.learner.has_pending:
                out = proc.retry_pending(now_ms())
                if out.outcomes:
                    ckpt.note(len(out.outcomes), out.actions)
                    rt.count(**label_counts(out.outcomes))  # now, before any await (see `score_batch`)
                    orphans = orphan_records(out.outcomes)
                    await publish(alert_records(out.alerts) + dlq_pairs(orphans))
                    rt.count(dlq=len(orphans))
                    metrics.observe_learn_batch(0, out.outcomes, out.alerts, orphans)
            if proc.learner is not None and ckpt.due():
                await ckpt.flush()
            loaded = rt.refresh_models()
            if loaded:
                log.info("hot-swapped %s", {n: s.version for n, s in loaded.items()})
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("housekeeping skipped: Redis unavailable (%s)", type(exc).__name__)
        except Exception:  # logged with traceback and counted, retried next tick
            log.exception("housekeeping failed; retrying at the next tick")
            try:
                rt.count(housekeeping_errors=1)
            except redis.RedisError:
                pass

    feeds: list[EventFeed] = []  # consumers of the worker's own, not Faust's per-message path
    feed_args = {"batch_size": wc.batch_size, "batch_window": wc.batch_window, "session_timeout": wc.session_timeout,
                 "on_lag": metrics.set_lag}
    if "score" in roles:
        rt.feed = EventFeed(endpoints.kafka, topics.events, f"{app.conf.id}.events", score, fetch_wait=wc.fetch_wait,
                            depth=wc.pipeline_depth,
                            on_assigned=partial(feed_assigned, feed="events"), **feed_args)
        feeds.append(rt.feed)
    if "learn" in roles:
        def labels_assigned(partitions: list) -> None:
            feed_assigned(partitions, feed="labels")
            rt.adopt_pending = bool(partitions)  # adopted before the next learn or housekeeping

        rt.labels_feed = LabelFeed(endpoints.kafka, topics.labels, f"{app.conf.id}.labels", learn, ckpt,
                                   flush_checkpoint, on_assigned=labels_assigned, on_released=rt.release_learning,
                                   **feed_args)
        feeds.append(rt.labels_feed)
        # a score,learn worker sees its own events feed; a learner apart reads the scorers' heartbeats
        events_behind = rt.feed.behind if "score" in roles else ScorersBehind(
            rt.redis, config.pipeline, topics.events, slack=wc.batch_size)
        rt.labels_feed.hold = partial(labels_wait, events_behind, proc.learner, wc.labels_ahead, wc.batch_size)
    if "sink" in roles:
        sink_topics = (topics.events, topics.scores, topics.shadow_scores, topics.labels, topics.model_events,
                       topics.alerts, topics.dlq)
        feeds.append(SinkFeed(endpoints.kafka, sink_topics, f"{app.conf.id}.sink", SinkRouter(config, codecs, sink),
                              metrics, clock=now_ms, yield_to=rt.feed.busy if "score" in roles else None,
                              batch_size=config.sink.batch_rows,
                              batch_window=config.sink.flush_interval,
                              session_timeout=wc.session_timeout, on_lag=metrics.set_lag,
                              on_assigned=partial(feed_assigned, feed="sink")))
    if feeds:
        faust_on_start, faust_on_stop = app.on_start, app.on_stop

        periodic: list[asyncio.Future] = []

        async def on_start() -> None:
            # The feeds join their groups while Faust joins its own (a join takes ~session_timeout/2
            # with Tansu), not after Faust's assignment as an `app.task` would; they handle batches
            # only once Faust's producer (which publishes their outputs) has started. So does the
            # housekeeping (hot-swaps, checkpoints): a Faust timer would start after Faust's join,
            # and a scorer would serve the models it started with while the learner moved on.
            await faust_on_start()
            for feed in feeds:
                app.add_future(feed.run(ready=app.producer._started.wait))
            if roles & {"score", "learn"}:
                periodic[:] = [app.add_future(every(wc.model_refresh, housekeeping, ready=app.producer._started.wait))]

        async def on_stop() -> None:
            # Before Faust stops its producer: the housekeeping stops, the events stop (no more
            # early labels), then the labels feed saves the final checkpoint, publishes its model
            # events and commits.
            for task in periodic:
                task.cancel()
            for feed in feeds:
                await feed.stop()
            try:
                rt.counters.flush()
            except redis.RedisError as exc:
                log.warning("counters not written at stop (%s): %s", type(exc).__name__, rt.counters.pending)
            await faust_on_stop()

        app.on_start = on_start  # mode calls it on every (re)start of the app
        app.on_stop = on_stop
    if roles & {"score", "learn"}:
        @app.timer(interval=rt.counters.interval)
        async def write_counters() -> None:
            """What the last batches counted, also once traffic has stopped."""
            try:
                rt.counters.flush()
            except redis.RedisError as exc:  # kept for the next write
                log.debug("counters not written (%s)", type(exc).__name__)
    return app, rt
