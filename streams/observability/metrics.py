"""`WorkerMetrics`: a worker's Prometheus registry plus the rolling state behind the dashboard.

The agents call one `observe_*` method at the end of each batch (after its outputs were
published), so the counters count what was written to the topics, which is what ClickHouse
ingests: `eddy_predictions_total{model}` equals `count() FROM eddy.predictions FINAL` per model,
`eddy_dlq_total` the DLQ rows, `eddy_events_scored_total` the rows of `eddy.scores`.

>>> m = WorkerMetrics("demo", ("score",), clock=lambda: 1000.0)
>>> m.observe_score_batch(3, [{"model": "lr", "prediction": 0.9, "predicted_label": True, "segments": {"country": "FR"}}],
...                       [{"model": "nb"}], dlq=[{"error_class": "decode", "reason": "bad magic"}], scored=1,
...                       stages={"decode": 0.001, "score": 0.002, "produce": 0.003})
>>> m.value("eddy_predictions_total", model="lr"), m.value("eddy_dlq_total", error_class="decode", source="events")
(1.0, 1.0)
>>> m.summary()["totals"]["dlq"], m.summary()["segments"]["country"][0]["value"]
(1, 'FR')
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PCounter

from streams.observability.logs import lifecycle
from streams.observability.rolling import RollingCounts, RollingSamples, percentiles

log = logging.getLogger("eddy.observability")

STAGES = ("decode", "features", "predict", "snapshot", "snapshot_fetch", "score", "produce", "batch", "learn", "sink_flush")
_LAT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


class WorkerMetrics:
    """Counters, histograms and gauges of one worker process (own `CollectorRegistry`).

    Thread-safe: agents update it on the event loop, the HTTP server reads it from its thread.
    `clock` (seconds, wall time) is only used for the dashboard's rolling windows.
    """

    def __init__(self, pipeline: str, roles: Iterable[str], *, clock: Callable[[], float] = time.time,
                 segment_window: int = 5000, loss_window: int = 1000, version_log_every: float = 60.0) -> None:
        self.pipeline = pipeline
        self.roles = tuple(sorted(roles))
        self.clock = clock
        self.started = clock()
        self.url: str | None = None  # where the metrics server answers, once started
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        r, p = self.registry, ["pipeline"]

        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> PCounter:
            return PCounter(name, doc, [*p, *labels], registry=r)

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
            return Gauge(name, doc, [*p, *labels], registry=r)

        self.events_in = counter("eddy_events_in", "Messages consumed from <p>.events (valid or not).")
        self.events_scored = counter("eddy_events_scored", "Events scored for the first time (rows of eddy.scores).")
        self.scores_out = counter("eddy_scores_published", "Champion score records published on <p>.scores (redeliveries included).")
        self.predictions = counter("eddy_predictions", "Score records published per model (champion, challengers, baseline).", ["model"])
        self.dlq = counter("eddy_dlq", "Records sent to <p>.dlq.", ["source", "error_class"])
        self.late = counter("eddy_late_events", "Events older than the allowed lateness (scored, state untouched).")
        self.redelivered = counter("eddy_redelivered_events", "Redelivered events re-published as first served.")
        self.labels_in = counter("eddy_labels_in", "Messages consumed from <p>.labels (valid or not).")
        self.labels = counter("eddy_labels", "Label outcomes: learned, orphan, duplicate, early (waiting; counted again when final).",
                              ["status"])
        self.alerts = counter("eddy_drift_alerts", "Alerts raised: drift (per model and kind) and lost Redis state (kind state_lost).", ["model", "kind"])
        self.sink_rows = counter("eddy_sink_records", "Records routed to ClickHouse by the sink agent, per topic.", ["topic"])
        self.redis_errors = counter("eddy_redis_errors", "Redis calls that failed (retried with backoff).", ["step"])
        self.clickhouse_errors = counter("eddy_clickhouse_errors", "Sink flushes that failed (batch held, retried).")
        self.batch_size = Histogram("eddy_batch_size", "Records per micro-batch.", ["pipeline", "agent"],
                                    buckets=_SIZE_BUCKETS, registry=r)
        self.stage_seconds = Histogram("eddy_stage_seconds", "Wall time of one batch step.", ["pipeline", "stage"],
                                       buckets=_LAT_BUCKETS, registry=r)
        self.lag = gauge("eddy_consumer_lag", "Highwater minus the next offset to process.", ["topic", "partition"])
        self.highwater = gauge("eddy_consumer_highwater", "Highwater offset seen by the consumer.", ["topic", "partition"])
        self.position = gauge("eddy_consumer_position", "Next offset this worker will process.", ["topic", "partition"])
        self.model_version = gauge("eddy_model_version", "Registry version each model was last loaded from or saved as.", ["model"])
        self.model_champion = gauge("eddy_model_champion", "1 for the current champion, else 0.", ["model"])
        self.model_metric = gauge("eddy_model_metric", "Prequential online metric of each model (ModelSet.metrics()).", ["model", "metric"])
        self.outage = gauge("eddy_outage", "1 while a dependency is failing.", ["service"])
        self.up = gauge("eddy_worker_up", "1 while the worker runs; labels name its roles.", ["roles"])
        self.up.labels(pipeline, ",".join(self.roles)).set(1)
        # rolling state for the dashboard
        self._rolling = RollingCounts(horizon_s=300)
        self._lat = {s: RollingSamples(60.0) for s in STAGES}
        self._segments: deque[tuple[tuple[tuple[str, str], ...], float, bool]] = deque(maxlen=segment_window)
        self._losses: dict[str, deque[float]] = {}
        self._loss_window = loss_window
        self._alerts: deque[dict[str, Any]] = deque(maxlen=20)
        self._dlq_reasons: dict[str, dict[str, Any]] = {}
        self._totals: Counter[str] = Counter()
        self._per_model: Counter[str] = Counter()
        self._positions: dict[tuple[str, int], int] = {}
        self._lag: dict[tuple[str, int], dict[str, int]] = {}
        self._models: dict[str, dict[str, Any]] = {}
        self._outages: dict[str, str] = {}
        self._outage_at: dict[str, float] = {}  # service -> clock of the outage's first failure
        self._version_logged: dict[str, float] = {}
        self.version_log_every = version_log_every

    # ------------------------------------------------------------------ batch observations
    def observe_score_batch(self, n_in: int, scores: Sequence[Mapping[str, Any]], shadow: Sequence[Mapping[str, Any]],
                            dlq: Sequence[Any] = (), *, scored: int = 0, late: int = 0, redelivered: int = 0,
                            stages: Mapping[str, float] | None = None, learned: Sequence[Any] = (),
                            positions: Mapping[tuple[str, int], int] | None = None,
                            redis_ok_at: float | None = None) -> None:
        """One published score batch: `n_in` messages in, the score/shadow/DLQ records out, and the
        early labels `learned` once their event was scored. `redis_ok_at` (this clock): when the
        batch's Redis work succeeded; a batch observed after a later failure (its tail runs
        while the next batch already fails) does not end that outage."""
        now = self.clock()
        p = self.pipeline
        self._recovered("redis", now, ok_at=redis_ok_at)
        self.events_in.labels(p).inc(n_in)
        self.events_scored.labels(p).inc(scored)
        self.scores_out.labels(p).inc(len(scores))
        self.late.labels(p).inc(late)
        self.redelivered.labels(p).inc(redelivered)
        self.batch_size.labels(p, "score").observe(n_in)
        if learned:
            self.observe_learn_batch(0, learned, [a for o in learned for a in (getattr(o, "alerts", None) or [])])
        per_model = Counter(str(rec["model"]) for rec in (*scores, *shadow))
        for model, n in per_model.items():
            self.predictions.labels(p, model).inc(n)
        with self._lock:
            self._per_model.update(per_model)
            self._totals.update(events_in=n_in, scored=scored, late=late, redelivered=redelivered)
            self._rolling.add(now, events=n_in, scored=scored, dlq=len(dlq))
            for rec in scores:
                segs = tuple(sorted((str(k), str(v)) for k, v in (rec.get("segments") or {}).items()))
                self._segments.append((segs, float(rec.get("prediction") or 0.0), bool(rec.get("predicted_label"))))
            for (topic, part), off in (positions or {}).items():
                self._positions[(topic, part)] = max(off + 1, self._positions.get((topic, part), 0))
        self._observe_dlq("events", dlq, now)
        self._observe_stages(stages, now)

    def observe_learn_batch(self, n_in: int, outcomes: Sequence[Any], alerts: Sequence[Mapping[str, Any]] = (),
                            dlq: Sequence[Any] = (), *, n_dlq: int | None = None,
                            stages: Mapping[str, float] | None = None,
                            positions: Mapping[tuple[str, int], int] | None = None) -> None:
        """One learn batch (or a retry of pending labels with `n_in=0`): label outcomes and alerts.

        `dlq` holds DLQ records or `DecodeFailure`s; when `n_dlq` is larger, the rest count as
        `rule_violation` (labels rejected after decoding, e.g. an empty event_id).
        """
        now = self.clock()
        dlq = list(dlq)
        if n_dlq is not None and n_dlq > len(dlq):
            dlq += [{"error_class": "rule_violation", "reason": "label rejected after decoding"}] * (n_dlq - len(dlq))
        p = self.pipeline
        self._recovered("redis", now)
        if n_in:
            self.batch_size.labels(p, "learn").observe(n_in)
            self.labels_in.labels(p).inc(n_in)
        statuses = Counter(str(o.status) for o in outcomes)
        for status, n in statuses.items():
            self.labels.labels(p, status).inc(n)
        with self._lock:
            self._totals.update(labels_in=n_in, **{f"labels_{s}": n for s, n in statuses.items()})
            self._rolling.add(now, labels=n_in, learned=statuses.get("learned", 0), dlq=len(dlq))
            for o in outcomes:
                for model, loss in (getattr(o, "losses", None) or {}).items():
                    self._losses.setdefault(model, deque(maxlen=self._loss_window)).append(float(loss))
            for (topic, part), off in (positions or {}).items():
                self._positions[(topic, part)] = max(off + 1, self._positions.get((topic, part), 0))
        for a in alerts:
            self.observe_alert(a)
        self._observe_dlq("labels", dlq, now)
        self._observe_stages(stages, now)

    def observe_sink_batch(self, topics: Iterable[str], *, flush_s: float | None = None) -> None:
        """One sink batch written to ClickHouse: the topic of each record, the flush wall time."""
        now = self.clock()
        p = self.pipeline
        topics = Counter(topics)
        n = sum(topics.values())
        self.batch_size.labels(p, "sink").observe(n)
        for topic, k in topics.items():
            self.sink_rows.labels(p, topic).inc(k)
        with self._lock:
            self._totals.update(sink_records=n)
            self._rolling.add(now, sunk=n)
        self._recovered("clickhouse", now)
        self._observe_stages({"sink_flush": flush_s} if flush_s is not None else None, now)

    def observe_alert(self, alert: Mapping[str, Any]) -> None:
        """An alert (drift, lost state): counted, kept for the dashboard, logged as a lifecycle event."""
        model, kind = str(alert.get("model", "")), str(alert.get("kind", ""))
        self.alerts.labels(self.pipeline, model, kind).inc()
        rec = {"model": model, "kind": kind, "ts": int(alert.get("ts") or 0), "value": float(alert.get("value") or 0.0),
               "action": str(alert.get("action", "none")), "detail": str(alert.get("detail", ""))}
        with self._lock:
            self._alerts.appendleft(rec)
            self._totals.update(alerts=1)
        lifecycle("drift_alert" if "drift" in kind else "alert", level=logging.WARNING, pipeline=self.pipeline, **rec)

    # ------------------------------------------------------------------ failures
    def redis_error(self, step: str, exc: BaseException) -> None:
        """A failed Redis call (the caller retries); the first one of an outage is logged."""
        self.redis_errors.labels(self.pipeline, step).inc()
        self._outage_begins("redis", f"{step}: {type(exc).__name__}")

    def clickhouse_error(self, detail: str = "") -> None:
        """A failed sink flush (the batch is held and retried)."""
        self.clickhouse_errors.labels(self.pipeline).inc()
        self._outage_begins("clickhouse", detail)

    def _outage_begins(self, service: str, detail: str) -> None:
        with self._lock:
            new = service not in self._outages
            self._outages.setdefault(service, detail)
            if new:
                self._outage_at[service] = self.clock()
        self.outage.labels(self.pipeline, service).set(1)
        if new:
            lifecycle("outage_begin", level=logging.WARNING, pipeline=self.pipeline, service=service, detail=detail)

    def _recovered(self, service: str, now: float, ok_at: float | None = None) -> None:
        if service not in self._outages:
            return
        with self._lock:
            if ok_at is not None and ok_at < self._outage_at.get(service, float("-inf")):
                return  # that success came before the outage began
            detail = self._outages.pop(service, None)
        if detail is not None:
            self.outage.labels(self.pipeline, service).set(0)
            lifecycle("outage_end", pipeline=self.pipeline, service=service, detail=detail)

    # ------------------------------------------------------------------ gauges
    def set_lag(self, topic: str, partition: int, highwater: int | None, committed: int | None = None) -> None:
        """Lag of one assigned partition: highwater minus the next offset to process."""
        with self._lock:
            pos = self._positions.get((topic, partition))
            if pos is None and committed is not None:
                pos = committed
            if highwater is None or pos is None:
                return
            lag = max(0, int(highwater) - int(pos))
            self._lag[(topic, partition)] = {"highwater": int(highwater), "position": int(pos), "lag": lag}
        labels = (self.pipeline, topic, str(partition))
        self.highwater.labels(*labels).set(highwater)
        self.position.labels(*labels).set(pos)
        self.lag.labels(*labels).set(lag)

    def set_models(self, versions: Mapping[str, int], roles: Mapping[str, str],
                   online: Mapping[str, Mapping[str, float]] | None = None) -> None:
        """Model versions, roles and online metrics (from a `learners.ModelSet`)."""
        p = self.pipeline
        changed = []
        now = self.clock()
        with self._lock:
            for name, version in versions.items():
                old = self._models.get(name, {})
                # A learner saves a version per label batch: log the first, role changes, and at most
                # one version line per model every `version_log_every` seconds (Prometheus has them all).
                if old.get("role") != roles.get(name) or (
                        old.get("version") != int(version) and now - self._version_logged.get(name, -1e18) >= self.version_log_every):
                    changed.append((name, int(version), roles.get(name), old.get("version")))
                    self._version_logged[name] = now
                self._models[name] = {"version": int(version), "role": roles.get(name, ""),
                                      "metrics": dict((online or {}).get(name, {}))}
        for name, version in versions.items():
            self.model_version.labels(p, name).set(version)
            self.model_champion.labels(p, name).set(1 if roles.get(name) == "champion" else 0)
            for metric, value in (online or {}).get(name, {}).items():
                self.model_metric.labels(p, name, metric).set(value)
        for name, version, role, before in changed:
            lifecycle("model_version", pipeline=p, model=name, version=version, role=role, previous=before)

    def set_models_from(self, models: Any) -> None:
        """`set_models` from a `learners.ModelSet` (versions, roles, metrics())."""
        self.set_models(models.versions, models.roles, models.metrics())

    # ------------------------------------------------------------------ reading
    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value (tests, `eddy status`); `_total` names for counters."""
        return self.registry.get_sample_value(name, {"pipeline": self.pipeline, **labels})

    def _observe_dlq(self, source: str, dlq: Sequence[Any], now: float) -> None:
        for rec in dlq:
            if not isinstance(rec, Mapping):  # a schemas.DecodeFailure
                rec = {"error_class": rec.error_class, "reason": rec.reason}
            cls = str(rec.get("error_class", "unknown"))
            self.dlq.labels(self.pipeline, source, cls).inc()
            with self._lock:
                entry = self._dlq_reasons.setdefault(cls, {"error_class": cls, "count": 0, "last_reason": "", "source": source})
                entry["count"] += 1
                entry["last_reason"] = str(rec.get("reason", ""))[:300]
                entry["last_seen"] = now
                self._totals.update(dlq=1)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """One timing of `stage` (see `streams.observability.instrument`)."""
        self._observe_stages({stage: seconds}, self.clock())

    def _observe_stages(self, stages: Mapping[str, float | None] | None, now: float) -> None:
        for stage, seconds in (stages or {}).items():
            if seconds is None:
                continue
            self.stage_seconds.labels(self.pipeline, stage).observe(seconds)
            with self._lock:
                self._lat.setdefault(stage, RollingSamples(60.0)).add(now, seconds)

    def summary(self) -> dict[str, Any]:
        """The dashboard's JSON: totals, throughput, latency percentiles, lag, models, segments, alerts, DLQ."""
        now = self.clock()
        with self._lock:
            latency = {}
            for stage, samples in self._lat.items():
                vals = samples.values(now)
                if vals:
                    latency[stage] = {k: round(v * 1000, 3) for k, v in percentiles(vals).items()} | {"n": len(vals)}
            segments: dict[str, dict[str, list[float]]] = {}
            for segs, score, positive in self._segments:
                for field, value in segs:
                    acc = segments.setdefault(field, {}).setdefault(value, [0, 0.0, 0])
                    acc[0] += 1
                    acc[1] += score
                    acc[2] += positive
            models = []
            for name, info in self._models.items():
                losses = self._losses.get(name)
                models.append({"name": name, **info, "predictions": self._per_model.get(name, 0),
                               "rolling_loss": (sum(losses) / len(losses)) if losses else None,
                               "rolling_n": len(losses) if losses else 0})
            for name in self._per_model:
                if name not in self._models:
                    models.append({"name": name, "version": None, "role": "", "metrics": {},
                                   "predictions": self._per_model[name], "rolling_loss": None, "rolling_n": 0})
            return {
                "pipeline": self.pipeline,
                "roles": list(self.roles),
                "now": now,
                "uptime_s": round(now - self.started, 1),
                "totals": dict(self._totals) | {"predictions": dict(self._per_model)},
                "throughput": {
                    "events_per_s": self._rolling.rate("events", now, 10),
                    "labels_per_s": self._rolling.rate("labels", now, 10),
                    "sunk_per_s": self._rolling.rate("sunk", now, 10),
                    "series": {k: self._rolling.series(k, now, 120) for k in ("events", "labels", "dlq", "sunk")},
                },
                "latency_ms": latency,
                "lag": [{"topic": t, "partition": p, **v} for (t, p), v in sorted(self._lag.items())],
                "models": models,
                "segments": {f: sorted(({"value": v, "n": a[0], "mean_score": a[1] / a[0], "positive_rate": a[2] / a[0]}
                                        for v, a in vals.items()), key=lambda d: -d["n"])[:20]
                             for f, vals in sorted(segments.items())},
                "alerts": list(self._alerts),
                "dlq_reasons": sorted(self._dlq_reasons.values(), key=lambda d: -d["count"]),
                "outages": dict(self._outages),
            }



def _redis_outage(exc: BaseException) -> bool:
    import redis

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (redis.ConnectionError, redis.TimeoutError)):
            return True
        seen = seen.__cause__
    return False


def watch_redis(metrics: WorkerMetrics, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, counting each Redis outage error (also wrapped ones) in `metrics` before re-raising.

    The caller's retry loop stays in charge; this only makes the failures visible.
    """

    def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if _redis_outage(exc):
                metrics.redis_error(step, exc)
            raise

    return watched
