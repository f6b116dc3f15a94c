"""Run a replay end to end: inputs -> merged order -> `ReplayLoop` on a fresh in-memory processor.

The processor comes from `streams.wiring.memory_processor`: in-memory feature state, in-memory
snapshots (`ReplaySnapshots`: they expire after ``labels.snapshot_ttl`` of event time, as in
Redis) and fresh models seeded from the config, so a replay never reads or writes the live
run's Redis state or model versions, and two replays of the same inputs and config are identical.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.config import PipelineConfig
from streams.replay.digest import PredictionDigest
from streams.replay.inputs import Inputs
from streams.replay.loop import DriftSink, Progress, ReplayLoop, ReplayStats
from streams.replay.merge import merge_inputs
from streams.replay.snapshots import ReplaySnapshots
from streams.wiring import memory_processor


@dataclass
class ReplayResult:
    """Stats, the predictions' fingerprint and the wall time of one replay."""

    run_id: str
    stats: ReplayStats
    digest: PredictionDigest
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.stats.events / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-able result stored in the manifest's inputs (``result``)."""
        return {"digest": self.digest.hexdigest(), "predictions": self.digest.count, "events": self.stats.events,
                "scored": self.stats.scored, "dlq": self.stats.dlq, "labels": self.stats.labels,
                "outcomes": dict(self.stats.outcomes), "pending_at_end": self.stats.pending_at_end}


def replay_inputs(cfg: PipelineConfig, run_id: str, inputs: Inputs, *,
                  on_scores: Callable[[list[dict[str, Any]]], None] | None = None, on_drift: DriftSink | None = None,
                  batch_size: int = 2000, progress: Progress | None = None) -> ReplayResult:
    """Replay `inputs` through `cfg` under `run_id`; every score record goes to `on_scores`, the
    drift monitor's alerts and actions to `on_drift`."""
    processor = memory_processor(cfg, run_id)
    processor.snapshots = ReplaySnapshots(cfg.labels.snapshot_ttl)  # expire like Redis, on event time
    items = merge_inputs(inputs.events, inputs.labels)
    digest = PredictionDigest()

    def sink(records: list[dict[str, Any]]) -> None:
        digest.add_records(records)
        if on_scores is not None:
            on_scores(records)

    t0 = time.perf_counter()  # wall time for the throughput figure only; the replay clock is event time
    stats = ReplayLoop(processor, on_scores=sink, on_drift=on_drift, batch_size=batch_size, progress=progress).run(items)
    seconds = time.perf_counter() - t0
    stats.dlq += len(inputs.undecodable)
    return ReplayResult(run_id, stats, digest, seconds)
