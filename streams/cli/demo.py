"""`eddy demo`: the bundled fraud pipeline end to end on the embedded stack, with a summary.

The demo runs the fraud example under its own pipeline name, `fraud-demo` (topics
`fraud-demo.*`, its own Redis keys, ClickHouse rows with `pipeline = 'fraud-demo'`, live run
`fraud-demo-live`), so it never mixes with, nor deletes, what you run with
`examples/fraud/config.yaml` (pipeline `fraud`) in the same `$EDDY_HOME`.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics import connect
from streams.cli.options import HomeOpt, fail, home_of
from streams.config import load_config
from streams.exceptions import StreamsError
from streams.harness import (
    EmbeddedStack,
    WorkerGroup,
    counters,
    example_config,
    example_generator,
    labels_done,
    produce_merged,
    wait_until,
)
from streams.manifest import live_run_id
from streams.stack import status as stack_status

console = Console()

#: The demo's pipeline name: not the example's `fraud`, which the quickstart runs.
PIPELINE = "fraud-demo"

SUMMARY_SQL = """
SELECT model, any(role) AS role, count() AS labelled,
       round(avg(toUInt8(prediction >= {threshold}) = y), 4) AS accuracy,
       round(arrayAUC(groupArray(prediction), groupArray(y)), 4) AS roc_auc,
       round(avg(-(y * log(greatest(prediction, 1e-15)) + (1 - y) * log(greatest(1 - prediction, 1e-15)))), 4) AS log_loss
FROM {db}.labelled_predictions
WHERE pipeline = '{pipeline}' AND run_id = '{run_id}'
GROUP BY model ORDER BY role = 'champion' DESC, model
"""


def demo(
    home: HomeOpt = None,
    events: Annotated[int, typer.Option(help="How many payments to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 7,
    rate: Annotated[float, typer.Option(help="Records/s offered to Kafka (events + labels; 0 = as fast as possible).")] = 3_000.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the worker to finish.")] = 600.0,
) -> None:
    """Generate card payments with delayed fraud labels, score and learn them live (pipeline fraud-demo), report."""
    home = home_of(home)
    home.mkdir(parents=True, exist_ok=True)
    # The demo plays hours of payments in seconds: a model version published every second (the
    # production default) would be ~10 minutes of event time stale, so publish every 0.1 s.
    cfg_path = example_config(home, PIPELINE, worker={"publish_interval": 0.1, "model_refresh": 0.1})
    cfg = load_config(cfg_path)
    gen = example_generator("fraud")
    evs, labs = gen.generate(events, seed)
    console.print(f"[bold]Eddy demo[/bold]: {len(evs):,} payments ({int(sum(r['label'] for r in labs)):,} fraudulent), "
                  f"{len(labs):,} delayed labels, pipeline [cyan]{cfg.pipeline}[/cyan]")
    existing = stack_status(home)
    owns_stack = existing is None or not all(existing.health().values())
    stack = EmbeddedStack(home)
    try:
        with console.status("starting the embedded stack (Tansu, Redis, chDB)..."):
            stack.__enter__()
        eps = stack.endpoints
        console.print(f"stack: kafka {eps.kafka}  redis {eps.redis}  clickhouse {eps.clickhouse}")
        run_id = live_run_id(cfg.pipeline)
        cleared = _forget_previous_demo(connect(eps.clickhouse), cfg.sink.database, cfg.pipeline)
        if cleared:
            console.print(f"removed the rows of the previous demo (pipeline {cfg.pipeline}) from {cleared} ClickHouse tables")
        before = counters(cfg, eps.redis)
        with WorkerGroup.per_role(cfg_path, stack) as worker:
            with console.status("starting the score, learn and sink workers..."):
                worker.wait_consuming(cfg)  # live traffic, not a backlog the learner trails behind
            t0 = time.perf_counter()
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console) as bar:
                sent = bar.add_task("produce events+labels", total=len(evs) + len(labs))
                produce_merged(cfg, stack, evs, labs, rate=rate, progress=lambda n: bar.update(sent, completed=n))
                scored = bar.add_task("scored", total=len(evs))
                learned = bar.add_task("labels joined", total=len(labs))

                def tick() -> None:
                    c = counters(cfg, eps.redis)
                    bar.update(scored, completed=c.get("scored", 0) - before.get("scored", 0))
                    bar.update(learned, completed=labels_done(c) - labels_done(before))
                    if not worker.alive():
                        raise StreamsError(f"the worker exited; its log ends with:\n{worker.log_tail()}")

                def done() -> bool:
                    tick()
                    c = counters(cfg, eps.redis)
                    return (c.get("scored", 0) - before.get("scored", 0) >= len(evs)
                            and labels_done(c) - labels_done(before) >= len(labs))

                wait_until(done, timeout, "every event scored and every label joined")
            elapsed = time.perf_counter() - t0
            backend = connect(eps.clickhouse)
            db = cfg.sink.database
            champion = cfg.models.champion.name


            def in_clickhouse() -> bool:
                rows = backend.query(f"SELECT count() AS n FROM {db}.predictions FINAL WHERE pipeline = '{cfg.pipeline}' "
                                     f"AND run_id = '{run_id}'")
                return rows[0]["n"] >= len(evs) * cfg.models.n_models

            with console.status("waiting for the ClickHouse sink..."):
                wait_until(in_clickhouse, timeout, "the scores in ClickHouse")
                wait_until(lambda: backend.query(f"SELECT count() AS n FROM {db}.labels FINAL WHERE pipeline = '{cfg.pipeline}'")[0]["n"] >= len(labs),
                           timeout, "the labels in ClickHouse")
            span = backend.query(f"SELECT count() AS n, toUnixTimestamp64Milli(min(served_ts)) AS t0, toUnixTimestamp64Milli(max(served_ts)) AS t1 "
                                 f"FROM {db}.predictions FINAL WHERE pipeline = '{cfg.pipeline}' AND run_id = '{run_id}' AND model = '{champion}'")[0]
            summary = backend.query(SUMMARY_SQL.format(db=db, pipeline=cfg.pipeline, run_id=run_id, threshold=cfg.models.threshold))
        _report(cfg, evs, labs, elapsed, span, summary, counters(cfg, eps.redis), db, home, rate)
    except StreamsError as exc:
        fail(exc)
    finally:
        if owns_stack:
            stack.__exit__(None, None, None)
            console.print(f"stopped the embedded stack; the chDB data stays in {home}/chdb")


def _forget_previous_demo(backend, db: str, pipeline: str) -> int:  # noqa: ANN001 - an analytics Backend
    """Delete the rows an earlier demo left in the same home; returns the tables touched.

    Only the demo's own pipeline (`PIPELINE`), never the example's `fraud`: the live run id is
    fixed per pipeline (`<p>-live`) and the generator is seeded, so the sink would take a rerun's
    rows for redeliveries of the first run's and keep the old ones.
    """
    if pipeline != PIPELINE:
        raise ValueError(f"the demo deletes only its own pipeline's rows ({PIPELINE!r}), not {pipeline!r}")
    tables = backend.query(f"SELECT table FROM system.columns WHERE database = '{db}' AND name = 'pipeline' "
                           f"AND table IN (SELECT name FROM system.tables WHERE database = '{db}' "
                           f"AND engine LIKE '%MergeTree')")
    touched = 0
    for row in tables:
        if backend.query(f"SELECT count() AS n FROM {db}.{row['table']} WHERE pipeline = '{pipeline}'")[0]["n"]:
            backend.execute(f"ALTER TABLE {db}.{row['table']} DELETE WHERE pipeline = '{pipeline}' "
                            f"SETTINGS mutations_sync = 1")
            touched += 1
    return touched


def _report(cfg, evs, labs, elapsed, span, summary, c, db, home, rate) -> None:  # noqa: ANN001
    scoring_s = max((span["t1"] - span["t0"]) / 1000.0, 1e-3)
    console.print()
    console.print(f"[bold green]events produced: {len(evs):,}   events scored: {span['n']:,}   "
                  f"labels joined: {labels_done(c):,}[/bold green]")
    offered = rate * len(evs) / max(len(evs) + len(labs), 1)
    console.print(f"throughput: {span['n'] / scoring_s:,.0f} events/s scored (first to last score, {scoring_s:.1f}s), "
                  f"live: {offered:,.0f} events/s (+ labels) were offered; whole run {elapsed:.1f}s. "
                  f"Capacity and latency figures: BENCHMARKS.md")
    console.print(f"late: {c.get('late', 0)}   dead-lettered: {c.get('dlq', 0)}   early labels: {c.get('labels_early', 0)}   "
                  f"orphans: {c.get('labels_orphan', 0)}")
    table = Table(title="prequential metrics (each prediction made before its label was learned), from ClickHouse")
    for col in ("model", "role", "labelled", "accuracy", "roc_auc", "log_loss"):
        table.add_column(col)
    for r in summary:
        table.add_row(*(str(r[k]) for k in ("model", "role", "labelled", "accuracy", "roc_auc", "log_loss")))
    console.print(table)
    console.print("\nQuery further (the chDB folder is readable after the stack stops):")
    console.print(f"  eddy sql \"SELECT count() FROM {db}.scores WHERE run_id = '{cfg.pipeline}-live'\"")
    console.print(f"  eddy sql \"SELECT model, count(), avg(prediction) FROM {db}.labelled_predictions "
                  f"WHERE run_id = '{cfg.pipeline}-live' GROUP BY model\"")
    console.print("  see docs/analytics.md for the SQL cookbook (drift, bias, label delays)")
