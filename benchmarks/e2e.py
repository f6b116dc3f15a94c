"""End to end: Eddy vs a naive Faust agent vs Quix Streams on the fraud example, one table.

For each system, on its own topics of one embedded stack (Tansu, redis-server, chDB server):

1. backlog: N events (+ their labels, merged by time) are produced first; the system starts and
   scores them; throughput = N / (last score's Kafka timestamp - first one's);
2. paced: M more events at a fixed offered rate (default 2,000 events/s); latency = score
   record's Kafka timestamp - the moment the producer sent the event; p50/p95/p99.

Eddy runs as one `eddy worker --roles score,learn` process (features in Redis, three models,
snapshots, learning); `--systems eddy-split` adds the two-process deployment (`--roles score` and
`--roles learn`), `eddy-all` the default one-process `eddy worker`, which also sinks every topic
into ClickHouse on the same core (its throughput counts scores; the sink may trail behind),
`eddy-own` the `score,learn` worker with River's prior as its only model: Eddy's own path per
event (Kafka, Avro, features, snapshots, labels, publishing), without the models' cost. With
`eddy`, `eddy-own` and the ceilings in one run, a line under the table splits Eddy's
microseconds per event into its own path and the models'. The peers do the same work one event at a time
(benchmarks/peers/).
The ceilings of benchmarks/limits.py (raw aiokafka consume, River in memory) are measured on the
same data and printed in the same table (`--no-limits` skips them), and so is the latency floor,
measured first in every run with a paced phase (send -> aiokafka `getmany` on the same broker at
the same rate and for as long): a system's p99 reads against it.

    .venv/bin/python benchmarks/e2e.py [--events 200000] [--paced-seconds 10] [--rate 2000]
                                       [--systems eddy,eddy-split,eddy-all,faust,quix] [--timeout 240]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.common import ROOT, Result, fraud_data, load_config, machine, measure, split_phases, write_config
from benchmarks.limits import kafka_consume_rate, kafka_latency_floor, river_rates
from streams.harness import EmbeddedStack

NAMES = {"eddy": "Eddy (score+learn, 1 process)", "eddy-split": "Eddy (score | learn, 2 processes)",
         "eddy-all": "Eddy (score+learn+sink, 1 process)", "eddy-own": "Eddy, prior model only (its own path)",
         "faust": "naive Faust agent", "quix": "Quix Streams"}
#: legend names in the latency plot
SHORT = {NAMES["eddy"]: "Eddy", NAMES["eddy-split"]: "Eddy split", NAMES["eddy-all"]: "Eddy + sink",
         NAMES["eddy-own"]: "Eddy own path"}
#: system -> (what `measure` starts, Eddy scorer processes: 1 = one process of the roles, 0 = one
#: score and one learn process, the roles of the one process)
STARTS = {"eddy": ("eddy", 1, "score,learn"), "eddy-split": ("eddy", 0, "score,learn"),
          "eddy-all": ("eddy", 1, "score,learn,sink"), "eddy-own": ("eddy", 1, "score,learn"),
          "faust": ("faust", 1, ""), "quix": ("quix", 1, "")}
#: config of `eddy-own`: River's prior as the champion and no challenger (the baseline stays), so
#: the models cost next to nothing and what is left is Eddy's own work per event
MODEL_FREE = {"models": {"champion": {"name": "prior", "model": "river.dummy:PriorClassifier"}, "challengers": []}}
#: issue 8's throughput target (events/s, one process)
TARGET = 20_000


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def fmt(v: float, spec: str = ",.0f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def table(results: list[Result], ceilings: dict[str, float], args: argparse.Namespace,
          floor: Result | None = None) -> Table:
    eddy = next((r for r in results if r.name.startswith("Eddy")), None)
    t = Table(title=f"End to end, fraud example: {args.events:,} events backlog, then {args.rate:,.0f} ev/s "
                    f"for {args.paced_seconds:.0f}s  |  {machine()}"
                    + (f"  |  Eddy with {', '.join(args.set)}" if args.set else ""))
    t.add_column("system")
    t.add_column("scored", justify="right")
    t.add_column("throughput ev/s", justify="right")
    t.add_column("Eddy ÷ this", justify="right")
    t.add_column("p50 ms", justify="right")
    t.add_column("p95 ms", justify="right")
    t.add_column("p99 ms", justify="right")
    t.add_column("wait/work/publish ms p50 | p99", justify="right")
    t.add_column("notes")
    for r in results:
        ratio = eddy.throughput / r.throughput if eddy and r is not eddy and r.throughput > 0 else float("nan")
        t.add_row(r.name, f"{r.scored:,}", fmt(r.throughput), fmt(ratio, ".1f") + ("x" if not math.isnan(ratio) else ""),
                  fmt(r.p50, ".1f"), fmt(r.p95, ".1f"), fmt(r.p99, ".1f"),
                  "/".join(fmt(v, ".0f") for v in r.stages_p50) + " | " + "/".join(fmt(v, ".0f") for v in r.stages_p99),
                  "; ".join(r.notes)[:200])
    for name, v in ceilings.items():
        share = f"Eddy = {eddy.throughput / v:.1%}" if eddy and v > 0 and not math.isnan(eddy.throughput) else ""
        t.add_row(f"[dim]ceiling: {name}[/dim]", "", fmt(v), "", "", "", "", "", share)
    if floor is not None:
        above = f"Eddy p99 = floor + {eddy.p99 - floor.p99:.1f} ms" if eddy and not math.isnan(eddy.p99) else ""
        t.add_row(f"[dim]{floor.name}[/dim]", "", "", "", fmt(floor.p50, ".1f"), fmt(floor.p95, ".1f"),
                  fmt(floor.p99, ".1f"), "", above)
    return t


def budget(results: list[Result], ceilings: dict[str, float]) -> str | None:
    """Eddy's microseconds per event split in its own path (`eddy-own`) and the models' share, next to
    River's own loop and the budget of `TARGET`; None unless the run has all three figures.

    >>> r = lambda name, ev_s: Result(name=name, scored=1, throughput=ev_s)
    >>> print(budget([r(NAMES["eddy"], 5000.0), r(NAMES["eddy-own"], 10000.0)],
    ...              {"river 3 models, predict+learn in memory": 25000.0}))
    per event on one core: Eddy 200 µs = its own path 100 + the models 100 (River's loop alone: 40); 20,000 ev/s allows 50
    """
    by_name = {r.name: r.throughput for r in results}
    eddy, own = by_name.get(NAMES["eddy"]), by_name.get(NAMES["eddy-own"])
    river = next((v for k, v in ceilings.items() if k.startswith("river 3 models")), None)
    if not (eddy and own and river) or any(math.isnan(v) for v in (eddy, own, river)):
        return None
    e, o, r, t = (1e6 / v for v in (eddy, own, river, TARGET))
    return (f"per event on one core: Eddy {e:.0f} µs = its own path {o:.0f} + the models {e - o:.0f} "
            f"(River's loop alone: {r:.0f}); {TARGET:,} ev/s allows {t:.0f}")


def latency_plot(results: list[Result], floor: Result | None, args: argparse.Namespace) -> str:
    """An SVG of p50 and p99 per 0.5 s of the paced phase: Eddy's deployments and the floor (the
    peers, seconds behind at this rate, would flatten the chart: their figures are in the table)."""
    from analytics.report.svg import line_chart

    series: dict[str, list[tuple[float, float | None]]] = {}
    for r in [*(r for r in results if r.name.startswith("Eddy")), *([floor] if floor else [])]:
        for col, q in ((2, "p99"), (1, "p50")):
            series[f"{SHORT.get(r.name, r.name.split(':')[0])} {q}"] = [(w[0], w[col]) for w in r.timeline]
    top = max((y for pts in series.values() for _, y in pts if y is not None), default=1.0)
    return line_chart(series, title=f"end-to-end latency at {args.rate:,.0f} ev/s (ms, per 0.5 s of sends)",
                      y_label="ms", y_range=(0.0, top))


def config_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["worker.publish_interval=5"]`` -> ``{"worker": {"publish_interval": 5}}``.

    >>> config_overrides(["worker.fetch_wait=0.005", "worker.pipeline_depth=0"])
    {'worker': {'fetch_wait': 0.005, 'pipeline_depth': 0}}
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section and name):
            raise SystemExit(f"--set {item!r}: give SECTION.KEY=VALUE, e.g. worker.publish_interval=5")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def eddy_config(system: str, overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The `--set` overrides of an Eddy system; `eddy-own` gets `MODEL_FREE`'s models on top.

    >>> eddy_config("eddy-own", {"models": {"threshold": 0.3}})["models"]["challengers"]
    []
    """
    if system != "eddy-own":
        return overrides
    return {**overrides, "models": {**overrides.get("models", {}), **MODEL_FREE["models"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000, help="backlog events (throughput)")
    ap.add_argument("--rate", type=float, default=2000.0, help="offered events/s of the paced phase (latency)")
    ap.add_argument("--paced-seconds", type=float, default=10.0)
    ap.add_argument("--systems", default="eddy,faust,quix", help=f"comma-separated, of {', '.join(NAMES)}")
    ap.add_argument("--timeout", type=float, default=240.0, help="max seconds to drain one system's backlog")
    ap.add_argument("--no-limits", action="store_true", help="skip the ceilings (limits.py; the latency floor stays)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override Eddy's config, e.g. --set worker.publish_interval=5 (YAML value; repeatable)")
    ap.add_argument("--plot", default=str(ROOT / ".eddy" / "benchmarks" / "e2e-latency.svg"),
                    help="where to write the paced phase's latency over time (SVG); '' for none")
    args = ap.parse_args()
    args.plot = Path(args.plot) if args.plot else None
    overrides = config_overrides(args.set)
    n_paced = int(args.rate * args.paced_seconds)
    events, labels = fraud_data(args.events + n_paced)
    phases = split_phases(events, labels, args.events)
    console = Console(width=220)
    results: list[Result] = []
    ceilings: dict[str, float] = {}
    floor = None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eddy-e2e-") as tmp, EmbeddedStack(Path(tmp)) as stack:
        if n_paced:  # first, on a fresh topic: the broker's part of the latencies below
            cfg = load_config(write_config(Path(tmp), "e2e_floor"))
            with console.status(f"latency floor: {args.rate:,.0f} messages/s for {args.paced_seconds:.0f}s"):
                floor = kafka_latency_floor(stack.endpoints.kafka, "e2e_floor.probe", args.rate, args.paced_seconds,
                                            cfg.topics.partitions, cfg.worker.fetch_wait)
        with progress_bar() as progress:
            for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
                kind, scorers, roles = STARTS[system]
                res = measure(kind, stack, f"e2e_{system.replace('-', '_')}", phases, rate=args.rate,
                              timeout=args.timeout, progress=progress, label=NAMES[system], scorers=scorers,
                              config_overrides=eddy_config(system, overrides) if kind == "eddy" else None,
                              roles=roles)
                results.append(res)
                progress.console.print(f"{res.name}: {fmt(res.throughput)} ev/s, p99 {fmt(res.p99, '.1f')} ms "
                                       f"{'; '.join(res.notes)[:300]}")
        if not args.no_limits:
            # (the first system's topics: `measure` names them with "_" for "-")
            cfg_path = write_config(Path(tmp), f"e2e_{args.systems.split(',')[0].strip().replace('-', '_')}")
            cfg = load_config(cfg_path)
            ceilings["aiokafka getmany, same topic"] = kafka_consume_rate(stack.endpoints.kafka, cfg.topics.events,
                                                                          len(events))
            n = min(len(events), 50_000)
            for k, v in river_rates(cfg_path, events[:n], labels).items():
                ceilings[f"{k}, predict+learn in memory"] = v
    console.print(table(results, ceilings, args, floor))
    if line := budget(results, ceilings):
        console.print(line)
    if args.plot and any(r.timeline for r in results):
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        args.plot.write_text(latency_plot(results, floor, args))
        console.print(f"latency during the paced phase, per 0.5 s (p50 and p99): {args.plot}")
    console.print(f"[dim]total {time.perf_counter() - t0:.0f}s[/dim]")


if __name__ == "__main__":
    main()
