"""A synthetic scored stream with a known drift time and a known biased segment.

Used by the tests and handy for demos (``build_report`` on it shows every plot). Deterministic
for a given seed. Times are ms since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000


@dataclass
class SyntheticStream:
    """Rows per table plus the truth the analytics must recover."""

    predictions: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    model_events: list[dict[str, Any]]
    drift_ms: int
    drifted_features: tuple[str, ...]
    biased_segment: tuple[str, str]
    window_ms: int
    base_ms: int
    meta: dict[str, Any] = field(default_factory=dict)


def synthetic_stream(*, seed: int = 7, n_windows: int = 8, per_window: int = 1500,
                     window_ms: int = HOUR_MS, drift_at: float = 4.5, pipeline: str = "demo",
                     run_id: str = "run-live", base_ms: int = BASE_MS) -> SyntheticStream:
    """Generate a binary-classification stream scored by a champion and a shadow challenger.

    - ``f_drift`` shifts from N(0, 1) to N(1.5, 1) at ``base_ms + drift_at * window_ms``;
      ``f_stable``, ``f_amount`` and ``f_count`` keep their distribution. Labels follow the
      unshifted value, the models read the shifted one: predictions drift, quality drops.
    - The champion over-scores segment ``region = C`` (+2 on the logit): higher FPR and
      selection rate there.
    - 90% of events get a label, ``label_ts = event_ts + Exp(10 min)``.
    """
    rng = np.random.default_rng(seed)
    n = n_windows * per_window
    ts = np.sort(base_ms + rng.integers(0, n_windows * window_ms, size=n))
    drift_ms = int(base_ms + drift_at * window_ms)
    after = ts >= drift_ms
    f_drift = rng.normal(0.0, 1.0, n) + np.where(after, 1.5, 0.0)
    f_stable = rng.normal(0.0, 1.0, n)
    f_amount = rng.lognormal(3.0, 0.8, n)
    f_count = rng.poisson(4.0, n).astype(float)
    region = rng.choice(np.array(["A", "B", "C", "D"]), n)
    channel = rng.choice(np.array(["web", "app"]), n)
    # labels follow the latent (pre-shift) value; the models read the observed, shifted one
    logit = 1.4 * f_stable + 0.9 * (f_drift - after * 1.5) - 0.4 + 0.02 * (f_count - 4)
    seen = 1.4 * f_stable + 0.9 * f_drift - 0.4 + 0.02 * (f_count - 4)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    champ_logit = seen + rng.normal(0, 0.6, n) + np.where(region == "C", 2.0, 0.0)
    champ = 1 / (1 + np.exp(-champ_logit))
    chall = 1 / (1 + np.exp(-(0.6 * seen + rng.normal(0, 1.0, n))))
    labelled = rng.random(n) < 0.9
    delay = rng.exponential(600_000, n).astype(np.int64)
    predictions, labels = [], []
    for i in range(n):
        eid = f"e{i:06d}"
        common = {
            "run_id": run_id, "pipeline": pipeline, "event_id": eid, "key": f"k{i % 97}",
            "event_ts": int(ts[i]), "served_ts": int(ts[i]) + 3, "latency_ms": 3.0,
            "features": {"f_drift": float(f_drift[i]), "f_stable": float(f_stable[i]),
                         "f_amount": float(f_amount[i]), "f_count": float(f_count[i])},
            "segments": {"region": str(region[i]), "channel": str(channel[i])},
            "late": False, "degraded": False,
        }
        predictions.append({**common, "model": "champion", "model_version": 1 + i // 4000,
                            "role": "champion", "shadow": False, "prediction": float(champ[i]),
                            "predicted_label": "1" if champ[i] >= 0.5 else "0"})
        predictions.append({**common, "model": "challenger", "model_version": 1,
                            "role": "challenger", "shadow": True, "prediction": float(chall[i]),
                            "predicted_label": "1" if chall[i] >= 0.5 else "0"})
        if labelled[i]:
            labels.append({"pipeline": pipeline, "event_id": eid, "label": float(y[i]),
                           "label_ts": int(ts[i] + delay[i]), "source": "synthetic"})
    alerts = [{"pipeline": pipeline, "run_id": run_id, "model": "champion",
               "kind": "prediction_drift", "ts": drift_ms + window_ms // 3, "value": 0.31,
               "action": "none", "detail": "ADWIN on predictions"},
              {"pipeline": pipeline, "run_id": run_id, "model": "challenger",
               "kind": "loss_drift", "ts": drift_ms + window_ms, "value": 0.12,
               "action": "reset", "detail": "ADWIN on log loss"}]
    model_events = [{"pipeline": pipeline, "run_id": run_id, "model": "champion",
                     "version": v, "action": "snapshot", "ts": int(ts[min(n - 1, (v - 1) * 4000)]),
                     "detail": ""} for v in range(1, 1 + (n - 1) // 4000 + 1)]
    return SyntheticStream(predictions, labels, alerts, model_events, drift_ms, ("f_drift",),
                           ("region", "C"), window_ms, base_ms)
