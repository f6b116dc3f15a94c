"""The ClickHouse sink: how fast one `eddy worker --roles sink` process drains a pipeline's topics.

A `score,learn` worker first scores a backlog of the fraud example and learns its labels (N
events, N labels, 3N score records, model events); it stops, and only then does a sink process
start on those topics, so the figure is the sink's alone. Its rows are counted in ClickHouse
every 0.1 s: throughput = rows / (time the last row arrived - time the first one did), start-up
and the consumer-group join outside the window. Rows are `events_archive` + `predictions` +
`labels` (the records of the input and output topics; model events and alerts are few).

    .venv/bin/python benchmarks/sink.py [--events 20000] [--runs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from analytics import connect
from benchmarks.common import (
    Feeder,
    ScoreWatcher,
    bench_env,
    fraud_data,
    load_config,
    machine,
    sink_rows,
    split_phases,
    write_config,
)
from benchmarks.e2e import progress_bar
from streams.harness import EmbeddedStack, WorkerProcess, counters, labels_done


def run(stack: EmbeddedStack, pipeline: str, n_events: int, timeout: float, progress) -> tuple[int, float, float]:  # noqa: ANN001
    """(rows, rows/s, seconds from the sink's start to its first row) of one sink process."""
    config_path = write_config(stack.home, pipeline)
    cfg = load_config(config_path)
    events, labels = fraud_data(n_events)
    phases = split_phases(events, labels, n_events)
    Feeder(cfg, stack.endpoints.kafka, stack.home).send(phases.backlog)
    logs = stack.home / "logs"
    task = progress.add_task(f"{pipeline}: score and learn the backlog", total=None)
    scorer = WorkerProcess(config_path, stack, logs / f"{pipeline}-score.log", ["--roles", "score,learn"],
                           bench_env()).start()
    try:
        done = ScoreWatcher.wait_for(lambda: labels_done(counters(cfg, stack.endpoints.redis)) >= len(labels)
                                     and counters(cfg, stack.endpoints.redis).get("scored", 0) >= n_events,
                                     timeout, scorer.alive)
        if not done:
            raise RuntimeError(f"the scorer did not finish: {scorer.log_tail(500)}")
    finally:
        scorer.stop()
    backend = connect(stack.endpoints.clickhouse)
    expected = n_events * (2 + cfg.models.n_models)  # archive, label, one prediction per model
    progress.update(task, description=f"{pipeline}: sink", total=expected, completed=0)
    sink = WorkerProcess(config_path, stack, logs / f"{pipeline}-sink.log", ["--roles", "sink"], bench_env()).start()
    t_start = time.monotonic()
    first = last = None
    n = 0
    try:
        deadline = t_start + timeout
        while time.monotonic() < deadline and sink.alive():
            n = sink_rows(backend, cfg)
            now = time.monotonic()
            progress.update(task, completed=n)
            if n and first is None:
                first = now
            if n >= expected:
                last = now
                break
            time.sleep(0.1)
    finally:
        sink.stop()
    if first is None or last is None or last <= first:
        raise RuntimeError(f"the sink wrote {n:,} of {expected:,} rows: {sink.log_tail(800)}")
    return n, n / (last - first), first - t_start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    t = Table(title=f"Eddy sink, {args.events:,} events' topics  |  {machine()}")
    for col in ("run", "rows", "rows/s", "events/s (rows / 5)", "start to first row, s"):
        t.add_column(col, justify="right")
    with (tempfile.TemporaryDirectory(prefix="eddy-sink-") as tmp, EmbeddedStack(Path(tmp)) as stack,
          progress_bar() as progress):
        for i in range(args.runs):
            n, rate, start = run(stack, f"sink{i}", args.events, args.timeout, progress)
            t.add_row(str(i + 1), f"{n:,}", f"{rate:,.0f}", f"{rate / 5:,.0f}", f"{start:.1f}")
    Console(width=160).print(t)


if __name__ == "__main__":
    main()
