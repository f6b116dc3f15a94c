"""Distribution drift (PSI, KS) of features, predictions and labels."""

from __future__ import annotations

from typing import Any

from analytics.backends.base import Backend
from analytics.metrics.common import MAX_MS, time_range
from analytics.queries import run_query


def _window_params(backend: Backend, db: str, pipeline: str, run_id: str, window_ms: int,
                   ref_from_ms: int | None, ref_to_ms: int | None,
                   to_ms: int) -> dict[str, Any]:
    if ref_from_ms is None:
        n, lo, _ = time_range(backend, db, pipeline=pipeline, run_id=run_id)
        ref_from_ms = (lo // window_ms) * window_ms if n else 0
    if ref_to_ms is None:
        ref_to_ms = ref_from_ms + window_ms
    return {"pipeline": pipeline, "run_id": run_id, "ref_from_ms": int(ref_from_ms),
            "ref_to_ms": int(ref_to_ms), "window_ms": int(window_ms), "to_ms": int(to_ms)}


def drift_psi(backend: Backend, db: str = "eddy", *, window_ms: int, pipeline: str = "",
              run_id: str = "", ref_from_ms: int | None = None, ref_to_ms: int | None = None,
              to_ms: int = MAX_MS, psi_threshold: float = 0.2) -> list[dict[str, Any]]:
    """PSI per (kind, name, window). The reference defaults to the first ``window_ms``-aligned
    window holding data; later windows start at ``ref_to_ms``."""
    params = _window_params(backend, db, pipeline, run_id, window_ms, ref_from_ms, ref_to_ms, to_ms)
    return run_query(backend, "drift_psi", db, {**params, "psi_threshold": float(psi_threshold)})


def drift_ks(backend: Backend, db: str = "eddy", *, window_ms: int, pipeline: str = "",
             run_id: str = "", ref_from_ms: int | None = None, ref_to_ms: int | None = None,
             to_ms: int = MAX_MS, alpha: float = 0.001) -> list[dict[str, Any]]:
    """KS statistic per (kind, name, window), with its critical value at level ``alpha``."""
    params = _window_params(backend, db, pipeline, run_id, window_ms, ref_from_ms, ref_to_ms, to_ms)
    return run_query(backend, "drift_ks", db, {**params, "alpha": float(alpha)})


def drift(backend: Backend, db: str = "eddy", *, window_ms: int, pipeline: str = "",
          run_id: str = "", ref_from_ms: int | None = None, ref_to_ms: int | None = None,
          to_ms: int = MAX_MS, psi_threshold: float = 0.2,
          alpha: float = 0.001) -> list[dict[str, Any]]:
    """PSI and KS side by side: rows kind, name, window_ms, n_ref, n, psi, psi_drifted, ks,
    ks_critical, ks_drifted, drifted (both tests agree)."""
    params = _window_params(backend, db, pipeline, run_id, window_ms, ref_from_ms, ref_to_ms, to_ms)
    psi = run_query(backend, "drift_psi", db, {**params, "psi_threshold": float(psi_threshold)})
    ks = {(r["kind"], r["name"], r["window_ms"]): r
          for r in run_query(backend, "drift_ks", db, {**params, "alpha": float(alpha)})}
    out = []
    for r in psi:
        k = ks.get((r["kind"], r["name"], r["window_ms"]), {})
        row = {key: r[key] for key in ("kind", "name", "window_ms", "n_ref", "n", "psi")}
        row["psi_drifted"] = bool(r["drifted"])
        row["ks"] = k.get("ks")
        row["ks_critical"] = k.get("ks_critical")
        row["ks_drifted"] = bool(k.get("drifted", False))
        row["drifted"] = row["psi_drifted"] and row["ks_drifted"]
        out.append(row)
    return out


def first_drift(rows: list[dict[str, Any]], flag: str = "drifted") -> dict[tuple[str, str], int]:
    """From ``drift``/``drift_psi`` rows: (kind, name) -> start (ms) of its first drifted window.

    >>> first_drift([{"kind": "feature", "name": "x", "window_ms": 5, "drifted": True}])
    {('feature', 'x'): 5}
    """
    out: dict[tuple[str, str], int] = {}
    for r in sorted(rows, key=lambda r: r["window_ms"]):
        if r[flag] and (r["kind"], r["name"]) not in out:
            out[(r["kind"], r["name"])] = int(r["window_ms"])
    return out
