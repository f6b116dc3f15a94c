"""``eddy replay --verify R``: replay run R's inputs with R's manifest and compare bit for bit.

The stored config is rebuilt from the manifest (its hash must match), the exact inputs the
manifest records are read again (same source, same partitions and offsets, same labels), the
replay runs in memory, and every prediction is compared with the stored one by ``float.hex``:
the report says "identical", or names the first difference in replay order (or a missing/extra
prediction). Package versions that differ from the manifest's are listed as likely causes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analytics.sqltext import literal
from streams.manifest import Manifest, package_versions
from streams.replay.inputs import Selection, read_inputs
from streams.replay.runner import ReplayResult, replay_inputs
from streams.wiring import Codecs


@dataclass
class VerifyReport:
    """The outcome of a verification."""

    run_id: str
    identical: bool
    replayed: int
    stored: int
    digest: str
    stored_digest: str | None
    config_hash_ok: bool
    first_difference: dict[str, Any] | None = None
    package_changes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A human-readable report."""
        out = [(f"run {self.run_id}: {'IDENTICAL' if self.identical else 'DIFFERENT'} "
               f"({self.replayed} replayed predictions, {self.stored} stored)"),
               f"  fingerprint replayed {self.digest}" + (f", manifest {self.stored_digest}" if self.stored_digest else "")]
        if not self.config_hash_ok:
            out.append("  the stored config no longer hashes to the manifest's config_hash (config schema changed?)")
        if self.first_difference:
            out.append("  first difference: " + ", ".join(f"{k}={v}" for k, v in self.first_difference.items()))
        for name, (was, now) in sorted(self.package_changes.items()):
            out.append(f"  package {name}: {was} at record time, {now} now")
        return out


def stored_predictions(backend: Any, db: str, run_id: str) -> dict[tuple[str, str], tuple[int, float, str | None]]:
    """``(model, event_id) -> (version, prediction, predicted_label)`` of a run, read FINAL."""
    rows = backend.query(f"SELECT model, event_id, model_version, prediction, predicted_label FROM {db}.predictions FINAL "
                         f"WHERE run_id = {literal(run_id)}")
    return {(r["model"], r["event_id"]): (int(r["model_version"]), float(r["prediction"]), r["predicted_label"])
            for r in rows}


def compare_predictions(replayed: list[tuple[str, str, int, float, str | None]],
                        stored: dict[tuple[str, str], tuple[int, float, str | None]]) -> dict[str, Any] | None:
    """The first difference (replay order) between replayed rows and stored ones, or None.

    >>> compare_predictions([("m", "e1", 0, 0.5, None)], {("m", "e1"): (0, 0.5, None)}) is None
    True
    >>> compare_predictions([("m", "e1", 0, 0.5, None)], {("m", "e1"): (0, 0.5000000000000001, None)})["what"]
    'prediction differs'
    """
    seen = set()
    for i, (model, event_id, version, pred, label) in enumerate(replayed):
        key = (model, event_id)
        seen.add(key)
        want = stored.get(key)
        base = {"index": i, "model": model, "event_id": event_id}
        if want is None:
            return {**base, "what": "missing in the stored run", "replayed": pred.hex()}
        if want[1].hex() != float(pred).hex():
            return {**base, "what": "prediction differs", "stored": f"{want[1]!r} ({want[1].hex()})",
                    "replayed": f"{pred!r} ({float(pred).hex()})"}
        if want[0] != version or (want[2] or None) != (label or None):
            return {**base, "what": "version/label differs", "stored": want, "replayed": (version, label)}
    extra = [k for k in stored if k not in seen]
    if extra:
        return {"what": f"{len(extra)} stored prediction(s) not replayed", "model": extra[0][0], "event_id": extra[0][1]}
    return None


def verify_run(manifest: Manifest, codecs_for: Any, backend: Any, db: str, *, kafka: str | None = None,
               batch_size: int = 2000, progress: Any = None) -> tuple[VerifyReport, ReplayResult]:
    """Replay `manifest`'s run in memory and compare with its stored predictions.

    ``codecs_for(cfg) -> Codecs`` builds the codec (the CLI binds the schema registry).
    """
    cfg = manifest.config()
    codecs: Codecs = codecs_for(cfg)
    inputs = read_inputs(cfg, codecs, manifest.inputs.get("source", "kafka"), Selection(), kafka=kafka, backend=backend,
                         db=db, like=manifest.inputs)
    rows: list[tuple[str, str, int, float, str | None]] = []

    def collect(records: list[dict[str, Any]]) -> None:
        rows.extend((r["model"], r["event_id"], int(r["model_version"]), r["prediction"], r["predicted_label"])
                    for r in records)

    result = replay_inputs(cfg, manifest.run_id, inputs, on_scores=collect, batch_size=batch_size, progress=progress)
    stored = stored_predictions(backend, db, manifest.run_id)
    first = compare_predictions(rows, stored)
    now = package_versions()
    changes = {k: (manifest.packages.get(k), now.get(k)) for k in set(manifest.packages) | set(now)
               if manifest.packages.get(k) != now.get(k)}
    stored_digest = (manifest.inputs.get("result") or {}).get("digest")
    report = VerifyReport(
        run_id=manifest.run_id, identical=first is None and len(rows) == len(stored), replayed=len(rows),
        stored=len(stored), digest=result.digest.hexdigest(), stored_digest=stored_digest,
        config_hash_ok=cfg.digest() == manifest.config_hash, first_difference=first, package_changes=changes,
    )
    return report, result
