"""Build the runtime objects of a pipeline from its config and endpoints.

One place decides how a Redis client, a schema registry, the Avro codec, the feature engine, the
model set, the learner and the processor are made, so the worker, replay and the CLI agree.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from pathlib import Path

import redis

from features import FeatureEngine, MemoryStateStore, RedisStateStore
from learners import DriftMonitor, JoinConfig, Learner, ModelRegistry, ModelSet
from schemas import AvroCodec, ConfluentRegistry, FolderRegistry, SchemaRegistry, load_avsc, load_builtin
from schemas.flat_writer import compile_fields
from streams import keyspace
from streams.config import PipelineConfig, unknown_fields
from streams.endpoints import default_home
from streams.exceptions import ConfigError
from streams.processor import Processor
from streams.redis_slot import slot_client
from streams.snapshots import MemorySnapshots, RedisSnapshots

#: Eddy's own topics and the built-in schema of their values.
OWN_SCHEMAS = {"scores": "score", "shadow_scores": "score", "labels": "label", "model_events": "model_event",
               "alerts": "alert", "dlq": "dlq"}


def redis_client(url: str, pipeline: str | None = None) -> redis.Redis:
    """A Redis client for `redis://` / `rediss://` URLs (passwords stay in the URL, never logged).

    On a Redis Cluster, `pipeline`'s client serves that pipeline's hash slot wherever it moves
    (`streams.redis_slot`)."""
    return slot_client(url, pipeline)


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
        event_schema = codecs.event_schema  # (reads the .avsc)
        unknown = unknown_fields(config, event_schema)
        if unknown:
            raise ConfigError(f"the config names fields that event schema {config.event.schema_path} does not have: "
                              f"{'; '.join(unknown)}. Fix the spelling, or add the fields to the schema")
        codecs.codec.register(codecs.subject("events"), event_schema)
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


class ScoreEncoder:
    """Wire-format bytes of score records, the parts one event's records share encoded once.

    An event's champion and shadow records (one per model) differ only in the model fields
    (`model` .. `predicted_label`). Avro writes a record as its fields one after the other, so a
    record's bytes are header + shared head + model part + shared tail, the tail holding the
    feature and segment maps. Records share a cached head and tail when their shared scalars are
    equal and their `features` / `segments` are the same dict objects (as `Processor` builds
    them); anything else is encoded whole. The bytes equal `Codecs.encode`'s (tested).
    """

    def __init__(self, codecs: Codecs) -> None:
        from fastavro import schemaless_writer

        from schemas import header, parse, strip_time_logical_types
        from schemas.avsc import clean

        self._codecs = codecs
        self._write = schemaless_writer
        self._header = {attr: header(codecs.codec.schema_for(codecs.subject(attr))[0])
                        for attr in ("scores", "shadow_scores")}
        fields = clean(strip_time_logical_types(codecs.codec.schema_for(codecs.subject("scores"))[1]))["fields"]
        names = [f["name"] for f in fields]
        i, j = names.index("model"), names.index("predicted_label") + 1
        cut = [fields[:i], fields[i:j], fields[j:]]
        self._shared = itemgetter(*[f["name"] for f in fields[:i] + fields[j:] if f["name"] not in ("features", "segments")])
        # each part written by a compiled flat writer (schemas.flat_writer), else by fastavro
        self._parts = [compile_fields(fs) or partial(self._bytes, parse({"type": "record", "fields": fs,
                                                                          "name": f"eddy.score_part{k}"}))
                       for k, fs in enumerate(cut)]

    def encode(self, attr: str, records: list[dict], cache: dict | None = None) -> list[bytes]:
        """Bytes of `records` for topic `attr` (scores / shadow_scores); pass one `cache` dict to
        the calls of one batch so the champion and shadow records of an event share their parts."""
        cache = {} if cache is None else cache
        head, model, tail = self._parts
        hdr, shared_of = self._header[attr], self._shared
        out = []
        for rec in records:
            try:
                features, segments = rec["features"], rec["segments"]
                key = (shared_of(rec), id(features), id(segments))
                shared = cache.get(key)
                if shared is None or shared[2] is not features or shared[3] is not segments:
                    shared = cache[key] = (head(rec), tail(rec), features, segments)
                out.append(b"".join((hdr, shared[0], model(rec), shared[1])))
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError, struct.error):
                out.append(self._codecs.encode(attr, rec, trusted=True))  # raises naming the bad field
        return out

    def _bytes(self, schema: dict, rec: dict) -> bytes:
        buf = io.BytesIO()
        self._write(buf, schema, rec)
        return buf.getvalue()


def namespace(config: PipelineConfig, run_id: str | None = None, replay: bool = False) -> str:
    """Redis namespace: ``{<pipeline>}`` for live runs, ``{<pipeline>:replay:<run>}`` for replays
    (hash-tagged: one Redis Cluster slot each, see `streams.keyspace`)."""
    return keyspace.namespace(config.pipeline, run_id, replay)


def build_models(config: PipelineConfig) -> ModelSet:
    return ModelSet(config.models, seed=config.models.seed)


def build_learner(config: PipelineConfig, models: ModelSet) -> Learner:
    join = JoinConfig(early_label_wait=config.labels.early_label_wait, dedupe_horizon=config.labels.dedup_horizon,
                      max_learned=config.labels.max_learned_ids)
    drift = DriftMonitor(config.models.drift) if config.models.drift.enabled else None
    return Learner(models, join, drift=drift)


def live_processor(config: PipelineConfig, client: redis.Redis, run_id: str, learner: bool = True) -> Processor:
    """A processor whose state, snapshots and models live in Redis (the live worker)."""
    ns = namespace(config)
    engine = FeatureEngine(config.features, RedisStateStore(client, ns), config.event.time_field, config.event.id_field)
    # The learner trains models of its own; scoring serves the versions it saved (the worker
    # hot-swaps them after each checkpoint), so every score names the snapshot that made it.
    return Processor(config, engine, build_models(config), build_learner(config, build_models(config)) if learner else None,
                     RedisSnapshots(client, ns, config.labels.snapshot_ttl), run_id, snapshots_with_state=True)


def memory_processor(config: PipelineConfig, run_id: str) -> Processor:
    """A processor on in-process state (replay and tests): deterministic and isolated."""
    engine = FeatureEngine(config.features, MemoryStateStore(), config.event.time_field, config.event.id_field)
    models = build_models(config)
    return Processor(config, engine, models, build_learner(config, models), MemorySnapshots(), run_id)


def model_registry(config: PipelineConfig, client: redis.Redis) -> ModelRegistry:
    versions = config.models.versions
    return ModelRegistry(client, namespace(config), keep=versions.keep_last, keep_every_ms=versions.keep_every_ms,
                         keep_for_ms=versions.keep_for_ms)
