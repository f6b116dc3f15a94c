"""The pipeline config: one YAML file, parsed into one frozen, validated object.

Every section is a pydantic model with unknown keys forbidden, so a typo is an error that names the
key. Sections owned by other packages (features, models, ingestion rules) are their own models and
are composed here.

Example:
    >>> cfg = PipelineConfig.model_validate({
    ...     "pipeline": "demo",
    ...     "event": {"schema": "event.avsc", "id_field": "id", "key_field": "k", "time_field": "ts"},
    ...     "features": {"windows": [{"name": "n_10m", "entity": "k", "agg": "count",
    ...                               "window": "10m", "bucket": "1m"}]},
    ...     "models": {"task": "binary", "champion": {"name": "lr", "model": "logreg"}},
    ... })
    >>> cfg.topics.events, cfg.topics.scores
    ('demo.events', 'demo.scores')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features import FeatureSet
from features.durations import parse_duration
from learners import CATALOG, ModelsConfig
from schemas import IngestRules
from streams.exceptions import ConfigError

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EventConfig(_Frozen):
    """Where the events' contract and identity fields are."""

    schema_path: str = Field(alias="schema", description="Avro .avsc of the events (relative to the config file).")
    id_field: str = Field(description="Unique event id; the dedup and label-join key.")
    key_field: str = Field(description="Kafka message key and the score's `key` (usually the main entity).")
    time_field: str = Field(description="Event time, epoch milliseconds (long / timestamp-millis).")


class LabelConfig(_Frozen):
    """How delayed labels join the served features."""

    snapshot_ttl: int = Field(default=7 * 86_400_000, description="How long a served feature vector waits for its label (ms).")
    early_label_wait: int = Field(default=600_000, description="How long a label that arrived before its event is retried before it is an orphan (ms).")
    dedup_horizon: int = Field(default=7 * 86_400_000, description="A second label for the same event within this horizon is a duplicate (ms). At least `snapshot_ttl`; default: `snapshot_ttl`.")
    max_learned_ids: int = Field(default=1_000_000, ge=0, description="Learned event ids a live learner keeps in memory for that (~190 B each); older ones are looked up in their learned marks in Redis, kept as long as the snapshots. 0: no bound (memory grows with the label rate times dedup_horizon).")

    @model_validator(mode="before")
    @classmethod
    def _horizon_follows_ttl(cls, data: Any) -> Any:
        if isinstance(data, dict) and "dedup_horizon" not in data and "snapshot_ttl" in data:
            data = {**data, "dedup_horizon": data["snapshot_ttl"]}
        return data

    @field_validator("snapshot_ttl", "early_label_wait", "dedup_horizon", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v)

    @model_validator(mode="after")
    def _horizon_covers_ttl(self) -> LabelConfig:
        # a label is learned only while its event's snapshot lives; a learner that forgets the id
        # sooner would learn a label sent again in between a second time
        if self.dedup_horizon < self.snapshot_ttl:
            raise ValueError(
                f"labels.dedup_horizon ({self.dedup_horizon} ms) is shorter than labels.snapshot_ttl "
                f"({self.snapshot_ttl} ms): a label sent again after the learner forgot its event id, while "
                "the snapshot still lives, would be learned twice. Raise dedup_horizon to at least "
                "snapshot_ttl (or leave it out: it follows snapshot_ttl), or lower snapshot_ttl")
        return self


class TopicConfig(_Frozen):
    """Topic names (derived from the pipeline name) and partitioning."""

    prefix: str
    partitions: int = Field(default=4, ge=1, description="Partitions of the events topic (scoring parallelism).")

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def labels(self) -> str:
        return f"{self.prefix}.labels"

    @property
    def scores(self) -> str:
        return f"{self.prefix}.scores"

    @property
    def shadow_scores(self) -> str:
        return f"{self.prefix}.shadow-scores"

    @property
    def model_events(self) -> str:
        return f"{self.prefix}.model-events"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    def layout(self) -> dict[str, int]:
        """Every topic of the pipeline and its partition count.

        The labels topic has ONE partition on purpose: the worker that owns it is the single
        learner (see docs/models.md); events and scores scale with `partitions`.
        """
        return {self.events: self.partitions, self.labels: 1, self.scores: self.partitions,
                self.shadow_scores: self.partitions, self.model_events: 1, self.alerts: 1, self.dlq: 1}


class WorkerConfig(_Frozen):
    """Micro-batching and model hand-over of the worker."""

    batch_size: int = Field(default=1000, ge=1, description="Max events per micro-batch.")
    batch_window: float = Field(default=0.05, gt=0, description="Max seconds to wait to fill a micro-batch.")
    fetch_wait: float = Field(default=0.01, gt=0, description="Longest an events fetch waits at the broker while no event is there (s). The scorer takes whatever arrived, so this bounds the wait an idle-ish stream adds to latency (Tansu answers a fetch only when it expires); larger means fewer fetch requests.")
    pipeline_depth: int = Field(default=2, ge=0, description="Event batches whose broker acknowledgements may still be outstanding while the next batch is scored (0: each batch waits for its acks). Offsets are committed in order, each after its batch's acks.")
    session_timeout: float = Field(default=6.0, gt=0, description="Kafka consumer-group session timeout (s): how fast a dead worker's partitions move. Tansu holds a group join for about half of it; raise it (e.g. 30) on busy production clusters.")
    publish_every: int = Field(default=10_000, ge=1, description="The learner checkpoints (publishes a model version) after at most this many labels...")
    publish_interval: float = Field(default=1.0, gt=0, description="...or this many seconds, whichever comes first (and at once after a drift action, at a rebalance and at shutdown). Label offsets are committed only once a checkpoint covers them, so a restarted learner redoes at most this much.")
    model_refresh: float = Field(default=1.0, gt=0, description="Seconds between scorer checks for a newer published model (other processes).")
    labels_ahead: int = Field(default=5000, ge=0, description="Most early labels (labels whose event is not scored yet) a learner holds in memory while the scorers are behind (a catch-up): a `score,learn` worker watches its own events feed, a `--roles learn` worker the lag in the scorers' heartbeats (no heartbeat counts as behind). Beyond it the labels feed pauses until the events catch up, so labels wait in Kafka, not in the pending buffer: checkpoints stay small and a long catch-up orphans none. 0: never pause for this.")


class SinkConfig(_Frozen):
    """ClickHouse sink batching."""

    database: str = "eddy"
    batch_rows: int = Field(default=5000, ge=1)
    flush_interval: float = Field(default=0.5, gt=0)
    ttl_days: int = Field(default=90, ge=1)


class PipelineConfig(_Frozen):
    """A whole pipeline: events, features, models, labels, segments, rules."""

    pipeline: str = Field(description="Pipeline name; prefixes topics, Redis keys and ClickHouse rows.")
    event: EventConfig
    features: FeatureSet
    models: ModelsConfig
    labels: LabelConfig = LabelConfig()
    segments: list[str] = Field(default_factory=list, description="Event fields used for bias analysis.")
    rules: IngestRules = Field(default_factory=IngestRules)
    partitions: int = Field(default=4, ge=1)
    worker: WorkerConfig = WorkerConfig()
    sink: SinkConfig = SinkConfig()
    base_dir: str = Field(default=".", exclude=True, description="Folder of the config file (set by load_config).")

    @model_validator(mode="before")
    @classmethod
    def _reco_ids_exact(cls, data: Any) -> Any:
        """A recommendation's `user` and `item` features are ids: exact (`PassthroughFeature`)."""
        try:
            reco = data["models"]["task"] == "recommendation"
            passthrough = data["features"]["passthrough"]
        except (KeyError, TypeError):
            return data
        if reco and isinstance(passthrough, list):
            feats = {**data["features"], "passthrough": [
                {**p, "exact": p.get("exact", True)} if isinstance(p, dict) and p.get("name") in ("user", "item") else p
                for p in passthrough]}
            data = {**data, "features": feats}
        return data

    @field_validator("pipeline")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"pipeline name {v!r} must match {_NAME.pattern} (it prefixes topic names)")
        return v

    @model_validator(mode="after")
    def _models_exist(self) -> PipelineConfig:
        for spec in self.models.specs:
            if ":" not in spec.model and spec.model not in CATALOG:
                raise ValueError(f"models: {spec.name!r} uses unknown model {spec.model!r}; use one of "
                                 f"{', '.join(sorted(CATALOG))} or an import path 'package.module:factory'")
        if self.models.task == "recommendation":
            missing = [k for k in ("user", "item") if k not in self.features.names]
            if missing:
                raise ValueError(
                    f"features: a recommendation pipeline's models read features named 'user' and 'item' "
                    f"(the ids); {' and '.join(repr(m) for m in missing)} missing: add a passthrough, e.g. "
                    f"{{name: {missing[0]}, field: <the event's {missing[0]} id field>}}")
        return self

    @property
    def topics(self) -> TopicConfig:
        return TopicConfig(prefix=self.pipeline, partitions=self.partitions)

    @property
    def schema_file(self) -> Path:
        return (Path(self.base_dir) / self.event.schema_path).resolve()

    def digest(self) -> str:
        """A stable hash of everything in the config that changes results, not of where files
        are: a config saved elsewhere with an absolute schema path (`eddy runs show --config`)
        hashes the same. (The event schema's content is pinned by the run manifest's schema ids.)"""
        payload = self.model_dump_json(exclude={"base_dir": True, "event": {"schema_path": True}})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def unknown_fields(config: PipelineConfig, event_schema: Mapping[str, Any]) -> list[str]:
    """The config's references to event fields that `event_schema` (a record) does not have: a
    typo there would dead-letter every event, or silently leave keys and segments empty.

    >>> cfg = PipelineConfig.model_validate({"pipeline": "p",
    ...     "event": {"schema": "e.avsc", "id_field": "id", "key_field": "user", "time_field": "ts"},
    ...     "features": {"windows": [{"name": "n", "entity": "userid", "agg": "count", "window": "10m",
    ...                               "bucket": "1m"}]},
    ...     "segments": ["devise"], "models": {"task": "binary", "champion": {"name": "lr", "model": "logreg"}}})
    >>> unknown_fields(cfg, {"type": "record", "name": "E", "fields": [
    ...     {"name": n, "type": "string"} for n in ("id", "user", "ts", "device")]})
    ["features.windows 'n'.entity: 'userid'", "segments: 'devise'"]
    """
    known = {f["name"] for f in event_schema.get("fields", [])}
    ev, feats, rules = config.event, config.features, config.rules
    refs: list[tuple[str, str | None]] = [
        ("event.id_field", ev.id_field), ("event.key_field", ev.key_field), ("event.time_field", ev.time_field)]
    for w in feats.windows:
        refs += [(f"features.windows {w.name!r}.entity", w.entity), (f"features.windows {w.name!r}.field", w.field)]
    refs += [(f"features.passthrough {p.name!r}.field", p.field) for p in feats.passthrough]
    refs += [("segments", s) for s in config.segments]
    refs += [("rules.required", f) for f in rules.required]
    refs += [(f"rules.{part}", f) for part in ("ranges", "allowed", "max_length") for f in getattr(rules, part)]
    refs.append(("rules.ts_field", rules.ts_field))
    return [f"{where}: {name!r}" for where, name in refs if name is not None and name not in known]


def lateness_warnings(config: PipelineConfig) -> list[str]:
    """What a scorer should warn of: window features keyed by another field than the topic key
    see one key's events from several partitions, out of order, and with no allowed lateness an
    event older than its key's newest bucket is left out of the windows.

    >>> cfg = PipelineConfig.model_validate({"pipeline": "p", "partitions": 4,
    ...     "event": {"schema": "e.avsc", "id_field": "id", "key_field": "card", "time_field": "ts"},
    ...     "features": {"windows": [{"name": "n", "entity": "merchant", "agg": "count", "window": "10m",
    ...                               "bucket": "1m"}]},
    ...     "models": {"task": "binary", "champion": {"name": "lr", "model": "logreg"}}})
    >>> lateness_warnings(cfg)[0][:60]
    "window features keyed by 'merchant', not by the topic key 'c"
    """
    features = config.features
    others = sorted({w.entity for w in features.windows if w.entity != config.event.key_field})
    if config.partitions < 2 or features.allowed_lateness > 0 or not others:
        return []
    return [(f"window features keyed by {', '.join(repr(e) for e in others)}, not by the topic key "
            f"{config.event.key_field!r}, read one key's events from {config.partitions} partitions, out of order, "
            "and features.allowed_lateness is 0: an event older than its key's newest bucket is scored but left "
            "out of the windows (counted late). Set allowed_lateness to the disorder you expect (docs/features.md)")]


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline YAML file; errors name the file and the bad key."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {p} does not exist; pass -c PATH (see examples/fraud/config.yaml)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{p} must hold a mapping at the top level, got {type(raw).__name__}")
    raw["base_dir"] = str(p.resolve().parent)
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{p} is not a valid pipeline config:"]
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"])
            lines.append(f"  - {where}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from exc
