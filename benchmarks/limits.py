"""This machine's ceilings on the benchmark's own data, so Eddy's figure reads as a fraction of each.

- raw aiokafka `getmany` consume rate of `<p>.events` on the same broker (no decode, no work);
- River's own in-memory loop on the same features: `predict_proba_one` + `learn_one` of the
  champion alone, and of all three models (champion, challenger, baseline);
- the latency floor: send (the benchmark's producer) -> an aiokafka `getmany` on the same broker,
  at the paced phase's rate and for its length, on a fresh topic: what any consumer of this broker
  waits before it does any work (Tansu's memory storage answers slower as a partition's stored
  batches grow: see BENCHMARKS.md, twelfth round).

    .venv/bin/python benchmarks/limits.py [--events 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import (
    Feeder,
    Result,
    fraud_data,
    load_config,
    machine,
    percentiles,
    split_phases,
    timeline,
    write_config,
)
from streams.kafka_io import assigned_consumer, ensure_topics, make_producer
from streams.pacing import pace


async def _consume(kafka: str, topic: str, expected: int) -> tuple[int, float]:
    async with assigned_consumer(kafka, topic, auto_offset_reset="earliest", max_partition_fetch_bytes=8 << 20,
                                 fetch_max_bytes=64 << 20, fetch_max_wait_ms=50) as c:
        n, t0, idle = 0, time.perf_counter(), 0
        while n < expected and idle < 20:
            batch = await c.getmany(timeout_ms=100, max_records=20000)
            got = sum(len(v) for v in batch.values())
            idle = 0 if got else idle + 1
            n += got
        return n, time.perf_counter() - t0


def kafka_consume_rate(kafka: str, topic: str, expected: int) -> float:
    """Messages/s of aiokafka `getmany` reading `topic` from the beginning (first message to last)."""
    n, secs = asyncio.run(_consume(kafka, topic, expected))
    return n / secs if secs and secs > 0 else float("nan")


async def _receive_times(kafka: str, topic: str, fetch_wait_ms: int, ready: threading.Event, stop: threading.Event,
                         out: list[tuple[float, float]]) -> None:
    """Append `(sent, received - sent)` (ms) of each message of `topic` read from its end until `stop`."""
    async with assigned_consumer(kafka, topic, from_end=True, fetch_max_wait_ms=fetch_wait_ms) as c:
        ready.set()
        while not stop.is_set():
            batch = await c.getmany(timeout_ms=50, max_records=5000)
            now = time.time() * 1000.0
            sent = [struct.unpack_from("<d", m.value)[0] for msgs in batch.values() for m in msgs]
            out.extend((t, now - t) for t in sent)


def kafka_latency_floor(kafka: str, topic: str, rate: float, seconds: float, partitions: int,
                        fetch_wait: float) -> Result:
    """p50/p95/p99 ms (and their `timeline`) from a send to an aiokafka `getmany` (with
    `fetch_wait`, like Eddy's events feed) on a fresh `topic`, at `rate` messages/s for `seconds`:
    the broker's part of any end-to-end latency on this machine. Messages of 120 bytes, keyed
    like events."""
    ensure_topics(kafka, {topic: partitions})
    lat: list[tuple[float, float]] = []
    ready, stop = threading.Event(), threading.Event()
    reader = threading.Thread(target=lambda: asyncio.run(
        _receive_times(kafka, topic, max(1, int(fetch_wait * 1000)), ready, stop, lat)), daemon=True)
    reader.start()
    ready.wait(30)
    producer = make_producer(kafka)  # as `Feeder`: the same batching (linger) as the systems' events
    pad = bytes(112)
    n = int(rate * seconds)
    t0 = time.perf_counter()
    for i in range(n):
        pace(i, rate, t0)
        producer.send(topic, str(i % 1000).encode(), struct.pack("<d", time.time() * 1000.0) + pad)
    producer.flush()
    del producer  # its client is destroyed now, not at exit after the broker stopped (connect errors)
    deadline = time.monotonic() + 10
    while len(lat) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join(10)
    got = np.asarray(lat, dtype=float).reshape(-1, 2)
    floor = Result("floor: send -> aiokafka getmany, same broker and rate", scored=len(got))
    floor.p50, floor.p95, floor.p99 = percentiles(got[:, 1])
    floor.timeline = timeline(got[:, 0], got[:, 1])
    return floor


def river_rates(config_path: Path, events: list[dict], labels: list[dict]) -> dict[str, float]:
    """Events/s of River predict+learn in memory on the pipeline's features (champion / all models).

    Features come from Eddy's in-memory processor beforehand (not timed); each event is
    predicted and then learned with its own label (the cheapest possible order).
    """
    from learners import ModelSet
    from streams.wiring import memory_processor

    cfg = load_config(config_path)
    proc = memory_processor(cfg, "limits")
    xs: list[dict] = []
    for i in range(0, len(events), 1000):
        fb = proc.engine.process(events[i:i + 1000])
        xs.extend(proc.engine.rows(fb))
    y = {lab["event_id"]: bool(lab["label"]) for lab in labels}
    ys = [y.get(e["event_id"], False) for e in events]
    out = {}
    for label, only_champion in (("river champion", True), ("river 3 models", False)):
        ms = ModelSet(cfg.models, seed=cfg.models.seed)
        models = [ms.model(ms.champion_name)] if only_champion else list(ms.models.values())
        t0 = time.perf_counter()
        for x, target in zip(xs, ys):
            for m in models:
                m.predict_proba_one(x)
                m.learn_one(x, target)
        out[label] = len(xs) / (time.perf_counter() - t0)
    return out


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from streams.harness import EmbeddedStack

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--rate", type=float, default=2000.0, help="messages/s of the latency floor")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the latency floor's run")
    args = ap.parse_args()
    events, labels = fraud_data(args.events)
    with tempfile.TemporaryDirectory(prefix="eddy-limits-") as tmp, EmbeddedStack(Path(tmp)) as stack:
        cfg_path = write_config(Path(tmp), "lim")
        cfg = load_config(cfg_path)
        floor = kafka_latency_floor(stack.endpoints.kafka, "lim.floor", args.rate, args.seconds,
                                    cfg.topics.partitions, cfg.worker.fetch_wait)
        feeder = Feeder(cfg, stack.endpoints.kafka, stack.home)
        feeder.send(split_phases(events, [], len(events)).backlog)
        del feeder  # (as the floor's producer)
        kafka_rate = kafka_consume_rate(stack.endpoints.kafka, cfg.topics.events, len(events))
        rr = river_rates(cfg_path, events, labels)
    table = Table(title=f"Ceilings and the latency floor on this machine ({machine()})")
    table.add_column("what")
    table.add_column("events/s", justify="right")
    table.add_column("p50 / p95 / p99 ms", justify="right")
    table.add_row("aiokafka getmany, raw bytes", f"{kafka_rate:,.0f}", "")
    for k, v in rr.items():
        table.add_row(f"{k}: predict_proba_one + learn_one, in memory", f"{v:,.0f}", "")
    table.add_row(f"floor: send -> aiokafka getmany, {args.rate:,.0f}/s for {args.seconds:.0f}s", "",
                  " / ".join(f"{v:.1f}" for v in (floor.p50, floor.p95, floor.p99)))
    Console().print(table)


if __name__ == "__main__":
    main()
