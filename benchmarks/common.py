"""Shared pieces of the end-to-end benchmarks: data, configs, timed producing, score watching.

Every benchmark drives real processes against its own `EmbeddedStack` (Tansu, redis-server,
chDB server) and measures on the topics, so Eddy and the peers are timed the same way:

- throughput: scores of a backlog (all events produced before the consumer starts), counted
  from the first score record's Kafka timestamp to the last one's;
- latency: at a fixed offered rate, Kafka timestamp of the score record minus the time the
  producer sent the event (same host clock), p50/p95/p99.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams import gc_tuning  # noqa: E402
from streams.config import PipelineConfig, load_config  # noqa: E402
from streams.harness import example_config, example_generator, merge_by_time  # noqa: E402
from streams.kafka_io import assigned_consumer, ensure_topics, make_producer  # noqa: E402
from streams.pacing import pace  # noqa: E402
from streams.wiring import Codecs, schema_registry  # noqa: E402

FRAUD = ROOT / "examples" / "fraud"


def fraud_data(n_events: int, seed: int = 7) -> tuple[list[dict], list[dict]]:
    """The bundled fraud example's (events, labels), `n_events` payments."""
    return example_generator("fraud").generate(n_events, seed)


def write_config(home: Path, pipeline: str, **overrides: Any) -> Path:
    """The fraud example's config under `pipeline`, with top-level overrides merged in."""
    return example_config(Path(home), pipeline, "fraud", **overrides)


@dataclass
class Phases:
    """The data split in a backlog phase (throughput) and a paced phase (latency)."""

    backlog: list[tuple[str, dict]]
    paced: list[tuple[str, dict]]
    n_backlog: int
    n_paced: int


def split_phases(events: Sequence[dict], labels: Sequence[dict], n_backlog: int) -> Phases:
    """Time-merged events+labels, cut after the `n_backlog`-th event."""
    merged = merge_by_time(events, labels, "ts")
    seen = 0
    cut = len(merged)
    for i, (kind, _rec) in enumerate(merged):
        if kind == "events":
            seen += 1
            if seen > n_backlog:
                cut = i
                break
    return Phases(merged[:cut], merged[cut:], n_backlog, len(events) - n_backlog)


class Feeder:
    """Produce a pipeline's events and labels (Avro, wire format) and remember when each event left."""

    def __init__(self, config: PipelineConfig, kafka: str, home: Path) -> None:
        self.config = config
        self.codecs = Codecs.build(config, schema_registry(None, home))
        ensure_topics(kafka, config.topics.layout())
        self.producer = make_producer(kafka)
        self.sent_ms: dict[str, float] = {}

    def send(self, records: Sequence[tuple[str, dict]], rate: float = 0.0,
             progress: Callable[[int], None] | None = None) -> int:
        """Send `(kind, record)` pairs; `rate` = events/s (labels ride along), 0 = flat out."""
        topics = {"events": self.config.topics.events, "labels": self.config.topics.labels}
        key_of = {"events": self.config.event.key_field, "labels": "event_id"}
        enc = self.codecs.encode
        # encoded before the clock starts: at a paced rate the load generator's own CPU competes
        # with the system under test for the same two cores
        encoded = [(kind, rec, enc(kind, rec)) for kind, rec in records]
        t0 = time.perf_counter()
        n_events = 0
        for kind, rec, value in encoded:
            if kind == "events":
                n_events += 1
                pace(n_events, rate, t0)
                self.sent_ms[rec["event_id"]] = time.time() * 1000.0
                if progress is not None and n_events % 500 == 0:
                    progress(500)
            self.producer.send(topics[kind], str(rec[key_of[kind]]).encode(), value)
        self.producer.flush()
        if progress is not None:
            progress(n_events % 500)
        return n_events


class ScoreWatcher:
    """Read `<p>.scores` from the beginning in a background thread (aiokafka, no group)."""

    def __init__(self, kafka: str, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.messages: list[tuple[int, bytes]] = []  # (kafka timestamp ms, value)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> ScoreWatcher:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def count(self) -> int:
        return len(self.messages)

    async def _run(self) -> None:
        try:
            async with assigned_consumer(self.kafka, self.topic, wait_for_topic=True,
                                         auto_offset_reset="earliest") as consumer:
                self._ready.set()
                while not self._stop.is_set():
                    batch = await consumer.getmany(timeout_ms=100, max_records=20000)
                    for msgs in batch.values():
                        self.messages.extend((m.timestamp, m.value) for m in msgs)
        finally:
            self._ready.set()

    def wait(self, n: int, timeout: float, progress: Callable[[int], None] | None = None,
             alive: Callable[[], bool] | None = None) -> bool:
        """Wait until `n` scores arrived; False on timeout or when `alive()` turns false."""
        last = [0]

        def arrived() -> bool:
            c = self.count
            if progress is not None and c > last[0]:
                progress(c - last[0])
                last[0] = c
            return c >= n

        return self.wait_for(arrived, timeout, alive)

    @staticmethod
    def wait_for(done: Callable[[], bool], timeout: float, alive: Callable[[], bool] | None = None) -> bool:
        """Poll `done()` every 0.2 s; False on timeout or when `alive()` turns false."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            if alive is not None and not alive():
                return False
            time.sleep(0.2)
        return False


@dataclass
class Result:
    """One system's figures."""

    name: str
    scored: int = 0
    throughput: float = float("nan")  # events/s, first to last score of the backlog
    p50: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    lat_n: int = 0
    stages_p50: tuple[float, float, float] = (float("nan"),) * 3  # consume wait, in worker, publish
    stages_p99: tuple[float, float, float] = (float("nan"),) * 3
    #: (seconds since the first paced send, p50 ms, p99 ms) per window of the paced phase (`timeline`)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def throughput(stamps: Sequence[int]) -> float:
    """Events per second between the first and last of `stamps` (ms)."""
    if len(stamps) < 2:
        return float("nan")
    span = (max(stamps) - min(stamps)) / 1000.0
    return len(stamps) / span if span > 0 else float("nan")


def latencies(messages: Sequence[tuple[int, bytes]], sent_ms: dict[str, float], codecs: Codecs) -> np.ndarray:
    """Per score whose event is in `sent_ms` (ms): [score Kafka ts - send time, send -> consumed
    (served_ts - latency_ms - sent), consumed -> served (latency_ms), served -> Kafka ts, send time]."""
    out = []
    codec = codecs.codec
    for ts, value in messages:
        rec = codec.decode(value)
        sent = sent_ms.get(rec["event_id"])
        if sent is not None:
            served = rec["served_ts"]
            served = served.timestamp() * 1000 if hasattr(served, "timestamp") else served
            out.append((ts - sent, served - rec["latency_ms"] - sent, rec["latency_ms"], ts - served, sent))
    return np.asarray(out, dtype=float).reshape(-1, 5)


def timeline(sent_ms: np.ndarray, lat: np.ndarray, step: float = 0.5) -> list[tuple[float, float, float]]:
    """(seconds since the first send, p50, p99) of `lat` per `step` s window of send times: how a
    latency moves during a run (checkpoint spikes, a broker slowing down).

    >>> timeline(np.array([0.0, 100.0, 600.0]), np.array([1.0, 3.0, 5.0]))
    [(0.0, 2.0, 2.98), (0.5, 5.0, 5.0)]
    """
    if sent_ms.size == 0:
        return []
    window = ((sent_ms - sent_ms.min()) / 1000.0 // step).astype(int)
    out = []
    for w in np.unique(window):
        p50, p99 = np.percentile(lat[window == w], [50, 99])
        out.append((round(float(w * step), 3), round(float(p50), 3), round(float(p99), 3)))
    return out


def percentiles(lat: np.ndarray) -> tuple[float, float, float]:
    if lat.size == 0:
        return float("nan"), float("nan"), float("nan")
    p = np.percentile(lat, [50, 95, 99])
    return float(p[0]), float(p[1]), float(p[2])


def machine() -> str:
    """One line about this machine: CPUs, Python, OS."""
    import platform

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def bench_env() -> dict[str, str]:
    """Environment for child processes: the repo importable, quiet logs."""
    return {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}




# ---------------------------------------------------------------------------- running systems
import subprocess  # noqa: E402

from streams.harness import EmbeddedStack, WorkerProcess, counters, labels_done  # noqa: E402
from streams.stack.process import terminate  # noqa: E402


class PeerProcess:
    """`python -m benchmarks.peers.<module> CONFIG KAFKA REDIS HOME` as a child process."""

    def __init__(self, module: str, config_path: Path, stack: EmbeddedStack) -> None:
        self.log_path = stack.home / "logs" / f"{module}-{config_path.stem}.log"
        self.argv = [sys.executable, "-m", f"benchmarks.peers.{module}", str(config_path), stack.endpoints.kafka,
                     stack.endpoints.redis, str(stack.home)]
        self.env = {**os.environ, **stack.env(), **bench_env()}
        self.proc: subprocess.Popen | None = None

    def start(self) -> PeerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            terminate(self.proc.pid, grace=10)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def start_system(kind: str, config_path: Path, stack: EmbeddedStack, scorers: int = 1,
                 loglevel: str = "warning", roles: str = "score,learn") -> list[Any]:
    """Start `kind` (eddy | faust | quix).

    Eddy: `scorers=1` is one `--roles <roles>` process (`score,learn`, or with `sink` too: the
    default `eddy worker`); `scorers=0` is one `--roles score` and one `--roles learn` process;
    `scorers=n>1` is n score processes and one learn process (first).
    `loglevel` info logs each process's partition assignments (`WorkerProcess.assigned`).
    """
    if kind == "eddy":
        env = bench_env()
        logs = stack.home / "logs"

        def worker(roles: str, name: str) -> WorkerProcess:
            return WorkerProcess(config_path, stack, logs / f"eddy-{config_path.stem}{name}.log",
                                 ["--roles", roles, "--loglevel", loglevel], env).start()

        if scorers == 1:
            return [worker(roles, "")]
        return [worker("learn", "-learn"), *(worker("score", f"-score{i}") for i in range(max(scorers, 1)))]
    module = {"faust": "faust_peer", "quix": "quix_peer"}[kind]
    return [PeerProcess(module, config_path, stack).start()]


def wait_joined(procs: Sequence[WorkerProcess], cfg: PipelineConfig, alive: Callable[[], bool],
                timeout: float = 120.0) -> None:
    """Wait until the Eddy processes of `start_system` hold their partitions: each scorer some of
    the events topic's (all of them between the scorers), the learner the labels topic's."""
    topics = cfg.topics
    scorers = procs if len(procs) == 1 else procs[1:]

    def joined() -> bool:
        parts = [w.assigned(topics.events) for w in scorers]
        return (all(parts) and sorted(p for ps in parts for p in ps) == list(range(topics.partitions))
                and bool(procs[0].assigned(topics.labels)))

    if not ScoreWatcher.wait_for(joined, timeout, alive):
        raise RuntimeError("the Eddy processes did not all join their groups: "
                           + " | ".join(p.log_tail(300) for p in procs))


def sink_rows(backend: Any, cfg: PipelineConfig) -> int:
    """Rows of `cfg`'s pipeline in the sink's three big tables (events archived, predictions,
    labels; duplicates counted once); 0 before the sink made its tables."""
    from analytics.exceptions import QueryError

    try:
        return sum(int(backend.query(f"SELECT count() AS n FROM {cfg.sink.database}.{table} FINAL "
                                     f"WHERE pipeline = '{cfg.pipeline}'")[0]["n"])
                   for table in ("events_archive", "predictions", "labels"))
    except QueryError:  # the sink has not made its tables yet
        return 0


def sink_progress(stack: EmbeddedStack, cfg: PipelineConfig, phases: Phases, settle_s: float = 60.0) -> str:
    """How far an Eddy sink is behind once the last score is out: its rows in ClickHouse then
    (events archived, predictions, labels), and how long it took to write the rest (up to `settle_s`)."""
    from analytics import connect

    backend = connect(stack.endpoints.clickhouse)
    n_events = phases.n_backlog + phases.n_paced
    n_labels = sum(1 for kind, _r in phases.backlog + phases.paced if kind == "labels")
    expected = n_events * (1 + cfg.models.n_models) + n_labels
    at_end, t0 = sink_rows(backend, cfg), time.monotonic()
    done = ScoreWatcher.wait_for(lambda: sink_rows(backend, cfg) >= expected, settle_s)
    rest = (f"the rest {time.monotonic() - t0:.1f}s later" if done
            else f"{sink_rows(backend, cfg):,} after {settle_s:.0f}s more")
    return f"sink: {at_end:,}/{expected:,} rows in ClickHouse at the last score, {rest}"


def measure(kind: str, stack: EmbeddedStack, pipeline: str, phases: Phases, *, rate: float, timeout: float,
            progress: Any = None, scorers: int = 1, label: str | None = None,
            config_overrides: dict | None = None, joined_first: bool = False, roles: str = "score,learn") -> Result:
    """Backlog throughput, then latency at `rate` events/s, of one system on its own topics.

    `joined_first` (Eddy): start the processes, wait until every scorer holds events partitions
    (all of them between them) and the learner the labels, then produce the backlog flat out; a
    scale-out figure then holds no consumer-group join or rebalance (seconds with Tansu).
    Otherwise the backlog is produced first and the system started on it.
    """
    gc_tuning.calm()  # this process timestamps the sends: its own GC pauses would count as latency
    home = stack.home
    config_path = write_config(home, pipeline, **(config_overrides or {}))
    cfg = load_config(config_path)
    res = Result(label or kind)
    feeder = Feeder(cfg, stack.endpoints.kafka, home)
    task = progress.add_task(f"{res.name}: produce backlog", total=phases.n_backlog) if progress else None
    adv = (lambda k: progress.advance(task, k)) if progress else None
    if joined_first:
        procs = start_system(kind, config_path, stack, scorers, loglevel="info", roles=roles)
        alive = lambda: all(p.alive() for p in procs)  # noqa: E731
        wait_joined(procs, cfg, alive)
        feeder.send(phases.backlog, progress=adv)
    else:
        feeder.send(phases.backlog, progress=adv)
        procs = start_system(kind, config_path, stack, scorers, roles=roles)
        alive = lambda: all(p.alive() for p in procs)  # noqa: E731
    try:
        with ScoreWatcher(stack.endpoints.kafka, cfg.topics.scores) as watcher:
            if progress:
                progress.update(task, description=f"{res.name}: score backlog", completed=0)
            done = watcher.wait(phases.n_backlog, timeout, adv, alive)
            backlog = list(watcher.messages)
            res.scored = len(backlog)
            res.throughput = throughput([ts for ts, _ in backlog])
            if kind == "eddy":  # how much of the backlog's learning was done by then (it shares the process)
                n_labels = sum(1 for k, _r in phases.backlog if k == "labels")
                res.notes.append(f"labels done at backlog end: {labels_done(counters(cfg, stack.endpoints.redis)):,}"
                                 f"/{n_labels:,}")
                # The paced phase measures a steady state: Eddy first finishes learning the backlog's
                # labels (the peers' learning cannot be observed; they are saturated anyway).
                t_learn = time.monotonic()
                learned = watcher.wait_for(lambda: labels_done(counters(cfg, stack.endpoints.redis)) >= n_labels,
                                           timeout, alive)
                res.notes.append(f"backlog labels {'learned' if learned else 'NOT learned'} "
                                 f"{time.monotonic() - t_learn:.1f}s later")
                orphans = counters(cfg, stack.endpoints.redis).get("labels_orphan", 0)
                if orphans:
                    res.notes.append(f"{orphans:,} labels orphaned (not learned)")
            if not done:
                why = "a process died" if not alive() else f"not drained in {timeout:.0f}s"
                res.notes.append(f"backlog: {len(backlog)}/{phases.n_backlog} scored ({why})")
                if not alive():
                    res.notes.append(" | ".join(p.log_tail(300) for p in procs))
                return res
            if phases.n_paced:
                feeder.sent_ms.clear()
                gc_tuning.settle()  # no full collection of this process's heap between a send and its timestamp
                if progress:
                    progress.update(task, description=f"{res.name}: {rate:,.0f} ev/s paced", completed=0,
                                    total=phases.n_paced)
                feeder.send(phases.paced, rate=rate, progress=adv)
                ok = watcher.wait(phases.n_backlog + phases.n_paced, max(10.0, timeout / 4), None, alive)
                paced = watcher.messages[len(backlog):]
                lat = latencies(paced, feeder.sent_ms, feeder.codecs)
                res.lat_n = int(lat.shape[0])
                res.p50, res.p95, res.p99 = percentiles(lat[:, 0])
                if lat.shape[0]:
                    res.stages_p50 = tuple(float(np.percentile(lat[:, k], 50)) for k in (1, 2, 3))
                    res.stages_p99 = tuple(float(np.percentile(lat[:, k], 99)) for k in (1, 2, 3))
                    res.timeline = timeline(lat[:, 4], lat[:, 0])
                if not ok:
                    res.notes.append(f"paced: {len(paced)}/{phases.n_paced} scored in time")
            if "sink" in roles.split(","):
                res.notes.append(sink_progress(stack, cfg, phases))
    finally:
        for p in procs:
            p.stop()
    return res


__all__ = ["FRAUD", "ROOT", "Feeder", "PeerProcess", "Phases", "Result", "ScoreWatcher", "bench_env", "fraud_data",
           "latencies", "load_config", "machine", "measure", "percentiles", "sink_rows", "split_phases", "start_system",
           "throughput", "timeline", "write_config"]
