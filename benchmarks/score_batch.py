"""One worker's scoring step alone: `Processor.score` on micro-batches, real redis-server.

What a batch costs with the Redis round trips and nothing else in the way (no Kafka, no other
process): the live processor of the fraud example (6 windowed features, three models) scores
the bundled events in batches of 20 (2k ev/s paced) and of 500 (a backlog), and prints µs per
batch and per event. Batches of each size alternate in rounds, so a noisy host moves both.

    .venv/bin/python benchmarks/score_batch.py [--events 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.common import fraud_data, write_config  # noqa: E402
from benchmarks.features_bench import start_redis  # noqa: E402
from streams import gc_tuning  # noqa: E402
from streams.config import load_config  # noqa: E402
from streams.processor import Source  # noqa: E402
from streams.wiring import live_processor  # noqa: E402


def time_batches(proc, events: list[dict], size: int, offset: int) -> list[float]:  # noqa: ANN001
    """Seconds per `Processor.score` call over `events` cut in batches of `size`."""
    out = []
    for lo in range(0, len(events) - size + 1, size):
        batch = events[lo:lo + size]
        srcs = [Source("bench.events", 0, offset + lo + i) for i in range(len(batch))]
        now = int(batch[-1]["ts"]) + 1000
        t = time.perf_counter()
        proc.score(batch, srcs, now, received_ms=now, served_clock=lambda now=now: now)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="eddy-score-batch-"))
    server, port, workdir = start_redis()
    try:
        cfg = load_config(write_config(home, "bench"))
        events, _ = fraud_data(args.events * args.rounds * 2)
        gc_tuning.calm()
        times: dict[int, list[float]] = {20: [], 500: []}
        n = args.events
        for r in track(range(args.rounds), description="rounds"):
            for k, size in enumerate((20, 500)):
                client = redis.Redis(port=port, db=(2 * r + k) % 16)
                proc = live_processor(cfg, client, "bench", learner=False)
                lo = (2 * r + k) * n
                proc.score(events[lo:lo + size], [Source("warm", 0, i) for i in range(size)], int(events[lo]["ts"]))
                times[size] += time_batches(proc, events[lo + size:lo + n], size, lo + size)
        table = Table(title=f"Processor.score, fraud example, real redis-server ({args.rounds} rounds)")
        for col in ("batch", "batches", "median µs/batch", "p90 µs/batch", "µs/event", "events/s"):
            table.add_column(col, justify="right")
        for size, ts in times.items():
            med = statistics.median(ts)
            p90 = sorted(ts)[int(0.9 * len(ts))]
            table.add_row(str(size), str(len(ts)), f"{med * 1e6:,.0f}", f"{p90 * 1e6:,.0f}",
                          f"{med * 1e6 / size:,.1f}", f"{size / med:,.0f}")
        Console().print(table)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
