"""Replay throughput (events/s) on the fraud example, in memory (no Kafka, no ClickHouse).

    .venv/bin/python benchmarks/replay_bench.py [--events 20000] [--repeat 3] [--profile]

Variants: the example as configured (6 windowed features + passthrough + derived; logistic
regression champion, Hoeffding-tree challenger, baseline) and logistic regression alone, each
with every event labelled (labels at ts + a delay, learned in time order) and without labels
(scoring only); plus per-batch features (``feature_chunk=0``) to show what priming buys.
Each variant runs ``--repeat`` times (fresh processor each time); the best run is shown, wall
and CPU separately (the machine is shared: the best run is the least disturbed one).
Target (issue 7): >= 20k events/s for logistic regression with 6 windowed features.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.config import load_config  # noqa: E402
from streams.harness import example_generator  # noqa: E402
from streams.replay import Item, ReplayLoop, merge_inputs  # noqa: E402
from streams.wiring import memory_processor  # noqa: E402


def fraud_data(n: int, seed: int = 7) -> tuple[list[dict], list[dict]]:
    return example_generator("fraud").generate(n, seed=seed)


def items(events: list[dict], labels: list[dict]) -> list[Item]:
    evs = [Item("event", e["ts"], 0, i, dict(e)) for i, e in enumerate(events)]
    labs = [Item("label", lab["ts"], 0, i, dict(lab)) for i, lab in enumerate(labels)]
    return merge_inputs(evs, labs)


def run(cfg, events, labels, feature_chunk: int = 5000, profile: bool = False) -> tuple[float, float]:  # noqa: ANN001
    """(events per wall second, events per CPU second of this process: less sensitive to a busy machine)."""
    p = memory_processor(cfg, "bench")
    its = items(events, labels)
    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    stats = ReplayLoop(p, feature_chunk=feature_chunk).run(its)
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return stats.events / (time.perf_counter() - t0), stats.events / max(time.process_time() - c0, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per variant; the best is shown")
    ap.add_argument("--profile", action="store_true", help="cProfile the logistic-regression run with labels")
    args = ap.parse_args()
    full = load_config(ROOT / "examples" / "fraud" / "config.yaml")
    lr = full.model_copy(update={"models": full.models.model_copy(update={"challengers": []})})
    events, labels = fraud_data(args.events)
    run(lr, events[:2000], labels[:0])  # warm up: Numba compilation
    rows = [
        ("fraud config (logreg + tree + baseline), labelled", full, labels, 5000),
        ("logreg + baseline, labelled", lr, labels, 5000),
        ("logreg + baseline, labelled, per-batch features", lr, labels, 0),
        ("logreg + baseline, scoring only (no labels)", lr, [], 5000),
        ("fraud config, scoring only (no labels)", full, [], 5000),
    ]
    print(f"replay throughput, {args.events} events (fraud example, in memory, best of {args.repeat})")
    print(f"  {'variant':<52} {'events/s wall':>14} {'events/CPU-s':>14}")
    for name, cfg, labs, chunk in rows:
        runs = [run(cfg, events, labs, chunk) for _ in range(max(1, args.repeat))]
        wall, cpu = max(r[0] for r in runs), max(r[1] for r in runs)
        print(f"  {name:<52} {wall:>14,.0f} {cpu:>14,.0f}")
    if args.profile:
        run(lr, events, labels, profile=True)


if __name__ == "__main__":
    main()
