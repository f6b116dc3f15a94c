"""Scale-out: Eddy's backlog throughput with 1 and 2 scorer processes (plus one learner process).

Each run gets its own pipeline (topics, consumer group, Redis namespace) on one embedded stack;
the same backlog (events + labels merged by time) is produced first, then the processes start and
throughput is counted from the first to the last score record.

    .venv/bin/python benchmarks/scaling.py [--events 30000] [--max-scorers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.common import fraud_data, machine, measure, split_phases  # noqa: E402
from benchmarks.e2e import fmt, progress_bar  # noqa: E402
from streams.harness import EmbeddedStack  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--max-scorers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=180.0)
    args = ap.parse_args()
    events, labels = fraud_data(args.events)
    phases = split_phases(events, labels, args.events)
    results = []
    with tempfile.TemporaryDirectory(prefix="eddy-scaling-") as tmp, EmbeddedStack(Path(tmp)) as stack:
        with progress_bar() as progress:
            for n in range(1, args.max_scorers + 1):
                # scorers=n>1 starts n `--roles score` processes + one `--roles learn`; for n=1 the same
                # split is used (scorers=-1 is not a thing), so the two rows differ only in scorers.
                res = measure("eddy", stack, f"scale{n}", phases, rate=0, timeout=args.timeout, progress=progress,
                              scorers=n if n > 1 else 0, label=f"{n} scorer process(es) + 1 learner")
                results.append(res)
    t = Table(title=f"Eddy scale-out, {args.events:,} events backlog  |  {machine()}")
    t.add_column("deployment")
    t.add_column("scored", justify="right")
    t.add_column("events/s", justify="right")
    t.add_column("vs 1 scorer", justify="right")
    t.add_column("notes")
    base = results[0].throughput
    for r in results:
        t.add_row(r.name, f"{r.scored:,}", fmt(r.throughput), f"{r.throughput / base:.2f}x", "; ".join(r.notes)[:120])
    Console(width=160).print(t)


if __name__ == "__main__":
    main()
