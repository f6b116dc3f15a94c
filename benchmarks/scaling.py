"""Scale-out: Eddy's backlog throughput with 1 and 2 scorer processes (plus one learner process).

Each run gets its own pipeline (topics, consumer group, Redis namespace) on one embedded stack.
The processes start first and join their groups (every scorer holding events partitions); then
a backlog is produced flat out and throughput is counted from the first to the last score
record: no group join or rebalance inside the window. Two sets of rows:

- *learner learning*: the backlog is events and their labels; the learner learns them meanwhile
  on the same cores (a deployment catching up);
- *scoring only*: the models are trained first on a warm-up (5,000 events and labels, learned
  and checkpointed), then the backlog is events alone: what another scorer adds by itself.

    .venv/bin/python benchmarks/scaling.py [--events 100000] [--max-scorers 2] [--set worker.KEY=VALUE]

100,000 events by default: two scorers drain 30,000 in under 2 s, a window in which the feeder's
last sends and the first fetches weigh as much as the scoring.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from benchmarks.common import (
    Feeder,
    Phases,
    Result,
    ScoreWatcher,
    fraud_data,
    load_config,
    machine,
    measure,
    split_phases,
    start_system,
    throughput,
    wait_joined,
    write_config,
)
from benchmarks.e2e import config_overrides, fmt, progress_bar
from streams.harness import EmbeddedStack, counters, labels_done
from streams.wiring import model_registry, redis_client

WARM_UP = 5_000  # events (and their labels) that train the models before a scoring-only backlog


def scoring_only(stack: EmbeddedStack, pipeline: str, warm: Phases, events: list[tuple[str, dict]], scorers: int,
                 timeout: float, progress: Any, overrides: dict | None = None) -> Result:
    """Scorers alone: `scorers` processes (and an idle learner) score a backlog of events without
    labels, with models trained first on `warm` (its labels learned and checkpointed): what adding
    scorers buys, without the learner competing for the same cores."""
    res = Result(f"{scorers} scorer process(es), scoring only")
    config_path = write_config(stack.home, pipeline, **(overrides or {}))
    cfg = load_config(config_path)
    feeder = Feeder(cfg, stack.endpoints.kafka, stack.home)
    procs = start_system("eddy", config_path, stack, scorers if scorers > 1 else 0, loglevel="info")
    alive = lambda: all(p.alive() for p in procs)  # noqa: E731
    task = progress.add_task(f"{res.name}: warm up", total=None)
    registry = model_registry(cfg, redis_client(stack.endpoints.redis, cfg.pipeline))
    settled: dict[str, Any] = {"heads": None, "since": 0.0}

    def serving_last_checkpoint() -> bool:
        """The learner's versions have not moved for 2.5 checkpoint intervals (its last one is
        written) and every scorer has hot-swapped to them."""
        heads = {name: h.version for name, h in registry.heads().items()}
        if heads != settled["heads"]:
            settled.update(heads=heads, since=time.monotonic())
            return False
        if time.monotonic() - settled["since"] < 2.5 * cfg.worker.publish_interval:
            return False
        return all(p.served_versions().get(name, 0) >= v for p in procs[1:] for name, v in heads.items())

    try:
        wait_joined(procs, cfg, alive)
        with ScoreWatcher(stack.endpoints.kafka, cfg.topics.scores) as watcher:
            feeder.send(warm.backlog)
            n_labels = sum(1 for k, _ in warm.backlog if k == "labels")
            learned = watcher.wait(warm.n_backlog, timeout, None, alive) and watcher.wait_for(
                lambda: labels_done(counters(cfg, stack.endpoints.redis)) >= n_labels, timeout, alive)
            if not learned:
                res.notes.append("warm-up not scored and learned in time")
                return res
            if not watcher.wait_for(serving_last_checkpoint, timeout, alive):
                res.notes.append("the scorers did not load the warm-up's last checkpoint in time")
                return res
            progress.update(task, description=f"{res.name}: score backlog", total=len(events), completed=0)
            feeder.send(events, progress=lambda k: progress.advance(task, k))
            done = watcher.wait(warm.n_backlog + len(events), timeout, None, alive)
            stamps = [ts for ts, _ in watcher.messages[warm.n_backlog:]]
            res.scored, res.throughput = len(stamps), throughput(stamps)
            if not done:
                res.notes.append(f"{len(stamps)}/{len(events)} scored in time")
    finally:
        for p in procs:
            p.stop()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--max-scorers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override Eddy's config, e.g. --set worker.pipeline_depth=4 (YAML value; repeatable)")
    args = ap.parse_args()
    overrides = config_overrides(args.set)
    events, labels = fraud_data(args.events)
    phases = split_phases(events, labels, args.events)
    e2, l2 = fraud_data(WARM_UP + args.events, seed=11)
    warm = split_phases(e2, l2, WARM_UP)
    events_only = [(k, r) for k, r in warm.paced if k == "events"]
    results = []
    with (tempfile.TemporaryDirectory(prefix="eddy-scaling-") as tmp, EmbeddedStack(Path(tmp)) as stack,
          progress_bar() as progress):
        for n in range(1, args.max_scorers + 1):
            # scorers=n>1 starts n `--roles score` processes + one `--roles learn`; for n=1 the same
            # split is used (scorers=-1 is not a thing), so the two rows differ only in scorers.
            res = measure("eddy", stack, f"scale{n}", phases, rate=0, timeout=args.timeout, progress=progress,
                          scorers=n if n > 1 else 0, label=f"{n} scorer process(es) + 1 learner learning",
                          joined_first=True, config_overrides=overrides)
            results.append(res)
        for n in range(1, args.max_scorers + 1):
            results.append(scoring_only(stack, f"scoreonly{n}", warm, events_only, n, args.timeout, progress,
                                        overrides))
    t = Table(title=f"Eddy scale-out, {args.events:,} events backlog  |  {machine()}")
    t.add_column("deployment")
    t.add_column("scored", justify="right")
    t.add_column("events/s", justify="right")
    t.add_column("vs 1 scorer", justify="right")
    t.add_column("notes")
    half = len(results) // 2
    for group in (results[:half], results[half:]):
        base = group[0].throughput
        for r in group:
            t.add_row(r.name, f"{r.scored:,}", fmt(r.throughput), f"{r.throughput / base:.2f}x", "; ".join(r.notes)[:120])
    Console(width=160).print(t)


if __name__ == "__main__":
    main()
