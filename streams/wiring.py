"""Build the runtime objects of a pipeline from its config and endpoints.

One place decides how a Redis client, a schema registry, the Avro codec, the feature engine, the
model set, the learner and the processor are made, so the worker, replay and the CLI agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import redis

from features import FeatureEngine, MemoryStateStore, RedisStateStore
from learners import DriftMonitor, JoinConfig, Learner, ModelRegistry, ModelSet
from schemas import AvroCodec, ConfluentRegistry, FolderRegistry, SchemaRegistry, load_avsc, load_builtin
from streams.config import PipelineConfig
from streams.endpoints import default_home
from streams.processor import Processor
from streams.snapshots import MemorySnapshots, RedisSnapshots

#: Eddy's own topics and the built-in schema of their values.
OWN_SCHEMAS = {"scores": "score", "shadow_scores": "score", "labels": "label", "model_events": "model_event",
               "alerts": "alert", "dlq": "dlq"}


def redis_client(url: str) -> redis.Redis:
    """A Redis client for `redis://` / `rediss://` URLs (passwords stay in the URL, never logged)."""
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


def schema_registry(spec: str | None = None, home: Path | None = None) -> SchemaRegistry:
    """`http(s)://...` -> Confluent Schema Registry; anything else -> a local folder registry.

    Default: `$EDDY_SCHEMA_REGISTRY`, else `<stack home>/registry`.
    """
    spec = spec or os.environ.get("EDDY_SCHEMA_REGISTRY")
    if spec and spec.startswith(("http://", "https://")):
        return ConfluentRegistry(spec)
    path = Path(spec) if spec else (home or default_home()) / "registry"
    path.mkdir(parents=True, exist_ok=True)
    return FolderRegistry(path)


@dataclass
class Codecs:
    """The Avro codecs plus the subjects and reader schemas of one pipeline.

    `inputs` decodes what producers send (`<p>.events`, `<p>.labels`) and enforces
    `rules.max_message_bytes`; `codec` reads and writes Eddy's own records without that limit
    (a DLQ record wrapping an oversized message is itself larger than the limit).
    """

    codec: AvroCodec
    config: PipelineConfig
    inputs: AvroCodec

    @classmethod
    def build(cls, config: PipelineConfig, registry: SchemaRegistry) -> Codecs:
        codecs = cls(AvroCodec(registry), config, AvroCodec(registry, max_bytes=config.rules.max_message_bytes))
        codecs.codec.register(codecs.subject("events"), codecs.event_schema)
        for attr, name in OWN_SCHEMAS.items():
            codecs.codec.register(codecs.subject(attr), load_builtin(name))
        return codecs

    @property
    def event_schema(self) -> dict:
        return load_avsc(self.config.schema_file)

    def subject(self, attr: str) -> str:
        return f"{getattr(self.config.topics, attr)}-value"

    def encode(self, attr: str, record: dict, trusted: bool = False) -> bytes:
        """Wire-format bytes for the value of topic `attr`; `trusted` skips validation (own records)."""
        return self.codec.encode(self.subject(attr), record, validate=not trusted)


def namespace(config: PipelineConfig, run_id: str | None = None, replay: bool = False) -> str:
    """Redis namespace: the pipeline for live runs, `<pipeline>:replay:<run>` for replays."""
    return f"{config.pipeline}:replay:{run_id}" if replay else config.pipeline


def build_models(config: PipelineConfig) -> ModelSet:
    return ModelSet(config.models, seed=config.models.seed)


def build_learner(config: PipelineConfig, models: ModelSet) -> Learner:
    join = JoinConfig(early_label_wait=config.labels.early_label_wait, dedupe_horizon=config.labels.dedup_horizon)
    drift = DriftMonitor(config.models.drift) if config.models.drift.enabled else None
    return Learner(models, join, drift=drift)


def live_processor(config: PipelineConfig, client: redis.Redis, run_id: str, learner: bool = True) -> Processor:
    """A processor whose state, snapshots and models live in Redis (the live worker)."""
    ns = namespace(config)
    engine = FeatureEngine(config.features, RedisStateStore(client, ns), config.event.time_field, config.event.id_field)
    models = build_models(config)
    return Processor(config, engine, models, build_learner(config, models) if learner else None,
                     RedisSnapshots(client, ns, config.labels.snapshot_ttl), run_id)


def memory_processor(config: PipelineConfig, run_id: str) -> Processor:
    """A processor on in-process state (replay and tests): deterministic and isolated."""
    engine = FeatureEngine(config.features, MemoryStateStore(), config.event.time_field, config.event.id_field)
    models = build_models(config)
    return Processor(config, engine, models, build_learner(config, models), MemorySnapshots(), run_id)


def model_registry(config: PipelineConfig, client: redis.Redis) -> ModelRegistry:
    return ModelRegistry(client, namespace(config))
