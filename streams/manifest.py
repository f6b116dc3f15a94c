"""Run manifests: everything needed to reproduce a run, stored in ClickHouse ``runs``.

A manifest names the run (``run_id``, ``pipeline``, ``kind`` live|replay, ``created_at`` ms), the
pipeline config as YAML and its hash (`PipelineConfig.digest`), the code version (``git
describe`` of the source tree, else the package version), the versions of the packages that shape
results, the schema ids of the subjects the run used, the seeds, the inputs (source, topics,
partitions and first/last offsets, time range, counts, and for replays the prediction
fingerprint) and, for back-tests, the run whose inputs it replayed (``like_run``).

>>> from streams.config import PipelineConfig
>>> cfg = PipelineConfig.model_validate({
...     "pipeline": "demo",
...     "event": {"schema": "event.avsc", "id_field": "id", "key_field": "k", "time_field": "ts"},
...     "features": {"passthrough": [{"name": "a", "field": "a"}]},
...     "models": {"task": "binary", "champion": {"name": "lr", "model": "logreg"}}})
>>> m = build_manifest(cfg, "r1", kind="replay", created_at=0, inputs={"source": "kafka"})
>>> m.config().digest() == cfg.digest() == m.config_hash
True
>>> Manifest.from_row(m.row()) == m
True
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from analytics.sqltext import literal
from streams.config import PipelineConfig
from streams.exceptions import ConfigError, ReplayError

#: Distributions whose versions change results or their encoding.
PACKAGES = ("eddy-streams", "river", "numpy", "numba", "fastavro", "faust-streaming", "chdb", "pydantic",
            "aiokafka", "confluent-kafka", "redis", "clickhouse-connect", "scipy")

_SRC = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Manifest:
    """One row of ``runs``; see the module doc."""

    run_id: str
    pipeline: str
    kind: str
    created_at: int
    config_yaml: str
    config_hash: str
    code_version: str
    packages: dict[str, str] = field(default_factory=dict)
    schema_ids: dict[str, int] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    like_run: str | None = None

    def config(self, base_dir: str | None = None) -> PipelineConfig:
        """The run's config, rebuilt from its YAML (``base_dir``: where relative schema paths live)."""
        raw = yaml.safe_load(self.config_yaml)
        raw["base_dir"] = base_dir or self.inputs.get("config_dir") or "."
        try:
            return PipelineConfig.model_validate(raw)
        except ValueError as exc:
            raise ConfigError(f"run {self.run_id}'s stored config no longer validates ({exc}); "
                              "replay it with the Eddy version in its manifest") from exc

    def row(self) -> dict[str, Any]:
        """The ``runs`` row (raw: times in ms, inputs as a dict)."""
        return {"run_id": self.run_id, "pipeline": self.pipeline, "kind": self.kind, "created_at": self.created_at,
                "config_yaml": self.config_yaml, "config_hash": self.config_hash, "code_version": self.code_version,
                "packages": dict(self.packages), "schema_ids": dict(self.schema_ids), "seeds": dict(self.seeds),
                "inputs": dict(self.inputs), "like_run": self.like_run}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Manifest:
        inputs = row.get("inputs") or {}
        if isinstance(inputs, str):
            inputs = json.loads(inputs or "{}")
        return cls(run_id=row["run_id"], pipeline=row["pipeline"], kind=row["kind"], created_at=int(row["created_at"]),
                   config_yaml=row["config_yaml"], config_hash=row["config_hash"], code_version=row["code_version"],
                   packages=dict(row.get("packages") or {}),
                   schema_ids={k: int(v) for k, v in (row.get("schema_ids") or {}).items()},
                   seeds={k: int(v) for k, v in (row.get("seeds") or {}).items()},
                   inputs=inputs, like_run=row.get("like_run"))

    def with_inputs(self, **extra: Any) -> Manifest:
        """A copy whose ``inputs`` has `extra` merged in."""
        return Manifest(**{**self.__dict__, "inputs": {**self.inputs, **extra}})


def config_yaml(cfg: PipelineConfig) -> str:
    """The config as YAML that validates back to the same `digest()` (durations in ms)."""
    data = cfg.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
    return yaml.safe_dump(data, sort_keys=False)


def code_version() -> str:
    """``git describe --always --dirty`` of the source tree, else ``v<package version>``."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=_SRC, capture_output=True,
                             text=True, timeout=5, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from eddy import __version__

    return f"v{__version__}"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of `names` (missing ones are left out), plus ``python``."""
    import platform

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def build_manifest(cfg: PipelineConfig, run_id: str, *, kind: str, created_at: int, inputs: dict[str, Any] | None = None,
                   schema_ids: dict[str, int] | None = None, like_run: str | None = None,
                   extra_seeds: dict[str, int] | None = None) -> Manifest:
    """A manifest for `cfg` (``created_at`` is passed in: the caller owns the clock)."""
    return Manifest(
        run_id=run_id, pipeline=cfg.pipeline, kind=kind, created_at=int(created_at), config_yaml=config_yaml(cfg),
        config_hash=cfg.digest(), code_version=code_version(), packages=package_versions(),
        schema_ids=dict(schema_ids or {}), seeds={"models": int(cfg.models.seed), **(extra_seeds or {})},
        inputs={"config_dir": cfg.base_dir, **(inputs or {})}, like_run=like_run,
    )


# ------------------------------------------------------------------ ClickHouse
_COLUMNS = ("run_id, pipeline, kind, toUnixTimestamp64Milli(created_at) AS created_at, config_yaml, config_hash, "
            "code_version, packages, schema_ids, seeds, inputs, like_run")


def save_manifest(backend: Any, db: str, manifest: Manifest) -> None:
    """Insert (or replace: ``runs`` keeps the newest row per run id) a manifest."""
    from analytics.rows import encode_row

    backend.insert(f"{db}.runs", [encode_row("runs", manifest.row())])


def load_manifest(backend: Any, db: str, run_id: str) -> Manifest:
    """The manifest of `run_id`; `ReplayError` if there is none."""
    rows = backend.query(f"SELECT {_COLUMNS} FROM {db}.runs FINAL WHERE run_id = {literal(run_id)}")
    if not rows:
        raise ReplayError(f"no manifest for run {run_id!r} in {db}.runs; list runs with `eddy runs ls`")
    return Manifest.from_row(rows[0])


def list_manifests(backend: Any, db: str, pipeline: str | None = None, limit: int = 100) -> list[Manifest]:
    """Manifests, newest first (optionally of one pipeline)."""
    where = f"WHERE pipeline = {literal(pipeline)}" if pipeline else ""
    rows = backend.query(f"SELECT {_COLUMNS} FROM {db}.runs FINAL {where} ORDER BY created_at DESC, run_id LIMIT {int(limit)}")
    return [Manifest.from_row(r) for r in rows]


def live_run_id(pipeline: str, given: str | None = None) -> str:
    """The run id of `pipeline`'s live run: `given` (``--run-id``, ``EDDY_RUN_ID``), else ``<p>-live``,
    stable across restarts so redeliveries dedup.

    >>> live_run_id("fraud"), live_run_id("fraud", "prod-7")
    ('fraud-live', 'prod-7')
    """
    return given or f"{pipeline}-live"


def run_kind(backend: Any, db: str, run_id: str) -> str | None:
    """The kind (``live`` | ``replay``) of `run_id`'s manifest; None when it has none."""
    rows = backend.query(f"SELECT kind FROM {db}.runs FINAL WHERE run_id = {literal(run_id)} LIMIT 1")
    return str(rows[0]["kind"]) if rows else None


def live_manifest(cfg: PipelineConfig, run_id: str, *, created_at: int, schema_ids: dict[str, int] | None = None) -> Manifest:
    """The manifest a live worker records when it starts (inputs: the topics it consumes).

    >>> from streams.config import PipelineConfig
    >>> cfg = PipelineConfig.model_validate({"pipeline": "demo",
    ...     "event": {"schema": "e.avsc", "id_field": "id", "key_field": "k", "time_field": "ts"},
    ...     "features": {"passthrough": [{"name": "a", "field": "a"}]},
    ...     "models": {"task": "binary", "champion": {"name": "lr", "model": "logreg"}}})
    >>> live_manifest(cfg, "demo-live", created_at=0).inputs["events"]
    {'topic': 'demo.events', 'partitions': {}}
    """
    t = cfg.topics
    return build_manifest(cfg, run_id, kind="live", created_at=created_at, schema_ids=schema_ids,
                          inputs={"source": "kafka", "pipeline": cfg.pipeline, "events": {"topic": t.events, "partitions": {}},
                                  "labels": {"topic": t.labels, "partitions": {}}})
