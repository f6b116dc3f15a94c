"""A test kit that ships with Eddy: run a real pipeline end to end from Python.

Used by `eddy demo`, the integration tests and the benchmarks, so they all drive the same path a
user does: the embedded stack, `eddy worker` as a separate process, Avro records on the topics.

    with EmbeddedStack(tmp_path) as stack:
        with WorkerProcess(config_path, stack) as worker:
            produce_merged(cfg, stack, events, labels)
            wait_for_counters(cfg, stack.endpoints.redis, worker, scored=len(events), labels=len(labels))
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from streams.config import PipelineConfig
from streams.counters import counters_key
from streams.endpoints import Endpoints
from streams.exceptions import StreamsError
from streams.kafka_io import ensure_topics, make_producer
from streams.pacing import pace
from streams.stack import down, up
from streams.stack.process import terminate
from streams.wiring import Codecs, redis_client, schema_registry


class EmbeddedStack:
    """`eddy up` in `home` on free ports; `eddy down` on exit (also on errors)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home).resolve()
        self.state = None

    def __enter__(self) -> EmbeddedStack:
        self.state = up(self.home)
        return self

    def __exit__(self, *exc: object) -> None:
        down(self.home)

    @property
    def endpoints(self) -> Endpoints:
        assert self.state is not None
        return Endpoints(self.state.kafka, self.state.redis, self.state.clickhouse)

    def env(self) -> dict[str, str]:
        """Environment for child processes: the stack's endpoints and home."""
        e = self.endpoints
        return {"EDDY_HOME": str(self.home), "EDDY_KAFKA": e.kafka, "EDDY_REDIS": e.redis, "EDDY_CLICKHOUSE": e.clickhouse}


class WorkerProcess:
    """`eddy worker -c CONFIG` as a child process with its log in `log_path`."""

    def __init__(self, config_path: Path, stack: EmbeddedStack, log_path: Path | None = None,
                 extra_args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        self.config_path = Path(config_path)
        self.stack = stack
        self.log_path = log_path or stack.home / "logs" / f"worker-{os.getpid()}-{time.monotonic_ns()}.log"
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self._log_start = 0

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0  # logs append
        argv = [sys.executable, "-m", "streams.cli.main", "worker", "-c", str(self.config_path), *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **self.stack.env(), **self.env}, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is not None:
            terminate(self.proc.pid, grace=grace)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def consuming(self, topics: Sequence[str]) -> bool:
        """True once the worker's latest `assignment` log line holds a partition of each of `topics`
        (its consumers have joined their groups: what is produced now is consumed live)."""
        line = self._last_assignment()
        return bool(line) and all(f"{t}:" in line for t in topics)

    def assigned(self, topic: str) -> list[int]:
        """Partitions of `topic` in the worker's latest assignment (its `assignment` lifecycle log
        line, logged at ``--loglevel info``)."""
        return sorted(int(p) for p in re.findall(re.escape(topic) + r":(\d+)", self._last_assignment()))

    def served_versions(self) -> dict[str, int]:
        """The newest version of each model this scoring worker hot-swapped to (its `hot-swapped`
        log lines, logged at ``--loglevel info``); empty before its first swap."""
        out: dict[str, int] = {}
        for line in self._log_lines("hot-swapped {"):
            for name, version in ast.literal_eval(line[line.index("hot-swapped {") + len("hot-swapped "):]).items():
                out[name] = max(out.get(name, 0), int(version))
        return out

    def _log_lines(self, marker: str) -> list[str]:
        """This run's log lines that hold `marker`."""
        if not self.log_path.exists():
            return []
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            text = log.read().decode(errors="replace")
        return [ln for ln in text.splitlines() if marker in ln]

    def _last_assignment(self) -> str:
        lines = self._log_lines("assignment pipeline=")
        return lines[-1] if lines else ""

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WorkerGroup:
    """Worker processes started and stopped together, named (e.g. by role)."""

    def __init__(self, workers: Mapping[str, WorkerProcess]) -> None:
        self.workers = dict(workers)

    @classmethod
    def per_role(cls, config_path: Path, stack: EmbeddedStack, roles: Sequence[str] = ("score", "learn", "sink"),
                 env: dict[str, str] | None = None) -> WorkerGroup:
        """One `eddy worker --roles R` process per role: the deployment that uses every core."""
        return cls({r: WorkerProcess(config_path, stack, stack.home / "logs" / f"worker-{r}.log", ["--roles", r], env)
                    for r in roles})

    @classmethod
    def of(cls, workers: Sequence[WorkerProcess]) -> WorkerGroup:
        """A group of worker processes built elsewhere (other role sets, arguments or logs),
        named by their position."""
        return cls({str(i): w for i, w in enumerate(workers)})

    def __enter__(self) -> WorkerGroup:
        for w in self.workers.values():
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for w in self.workers.values():
            w.stop()

    def alive(self) -> bool:
        return all(w.alive() for w in self.workers.values())

    def log_tail(self) -> str:
        return "\n".join(f"--- {r} ---\n{w.log_tail(1500)}" for r, w in self.workers.items())

    def wait_consuming(self, config: PipelineConfig, timeout: float = 120.0) -> None:
        """Wait until each role's consumers hold their input topic (score: events, learn: labels,
        sink: scores), so that traffic produced afterwards is processed live, not as a backlog."""
        inputs = {"score": config.topics.events, "learn": config.topics.labels, "sink": config.topics.scores}

        def ready() -> bool:
            if not self.alive():
                raise StreamsError(f"a worker exited while joining; logs:\n{self.log_tail()}")
            return all(w.consuming([inputs[r]]) for r, w in self.workers.items() if r in inputs)

        wait_until(ready, timeout, "the workers to join their consumer groups")


def merge_by_time(events: Sequence[dict], labels: Sequence[dict], time_field: str) -> list[tuple[str, dict]]:
    """Events and labels in one time-ordered stream: a label whose ts <= an event's ts goes
    first; ties keep each input's order (the replay rule of docs/concepts.md).

    >>> merge_by_time([{"ts": 1}, {"ts": 3}], [{"ts": 1}, {"ts": 2}], "ts")
    [('labels', {'ts': 1}), ('events', {'ts': 1}), ('labels', {'ts': 2}), ('events', {'ts': 3})]
    """
    out: list[tuple[str, dict]] = []
    i = j = 0
    while i < len(events) or j < len(labels):
        if j < len(labels) and (i >= len(events) or labels[j]["ts"] <= events[i][time_field]):
            out.append(("labels", labels[j]))
            j += 1
        else:
            out.append(("events", events[i]))
            i += 1
    return out


def produce_merged(config: PipelineConfig, stack_or_kafka: EmbeddedStack | str, events: Sequence[dict],
                   labels: Sequence[dict] = (), rate: float = 0.0, registry: Any = None,
                   progress: Callable[[int], None] | None = None, one_per_batch: bool = False) -> int:
    """Publish events and labels interleaved by time at `rate` records/s (0 = as fast as possible).

    `one_per_batch` sends every record as its own Kafka batch. Tansu 0.6 reports a partition's
    end as the last batch's base offset + 1, so a consumer restarted at a committed offset inside
    a multi-record last batch waits for new data; restart drills on the embedded broker use it.
    """
    kafka = stack_or_kafka.endpoints.kafka if isinstance(stack_or_kafka, EmbeddedStack) else stack_or_kafka
    home = stack_or_kafka.home if isinstance(stack_or_kafka, EmbeddedStack) else None
    codecs = Codecs.build(config, registry or schema_registry(None, home))
    ensure_topics(kafka, config.topics.layout())
    producer = make_producer(kafka, **({"linger.ms": 0, "batch.num.messages": 1} if one_per_batch else {}))
    topics = {"events": config.topics.events, "labels": config.topics.labels}
    key_of = {"events": config.event.key_field, "labels": "event_id"}
    t0 = time.perf_counter()
    n = 0
    for kind, rec in merge_by_time(events, labels, config.event.time_field):
        producer.send(topics[kind], str(rec[key_of[kind]]).encode(), codecs.encode(kind, rec))
        n += 1
        pace(n, rate, t0)
        if progress is not None and n % 1000 == 0:
            progress(n)
    producer.flush()
    if progress is not None:
        progress(n)
    return n


def counters(config: PipelineConfig, redis_url: str) -> dict[str, int]:
    """The live counters of a pipeline (`eddy:{<p>}:counters` in Redis)."""
    raw = redis_client(redis_url, config.pipeline).hgetall(counters_key(config.pipeline))
    return {k.decode(): int(v) for k, v in raw.items()}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25,
               on_tick: Callable[[], None] | None = None) -> None:
    """Poll `predicate` until true; raise StreamsError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if on_tick is not None:
            on_tick()
        time.sleep(interval)
    raise StreamsError(f"timed out after {timeout:.0f}s waiting for {what}")


def labels_done(c: dict[str, int]) -> int:
    """Labels with a final outcome (learned, orphan, duplicate); 'early' ones are still pending."""
    return sum(c.get(k, 0) for k in ("labels_learned", "labels_orphan", "labels_duplicate"))


def wait_for_counters(config: PipelineConfig, redis_url: str, worker: WorkerProcess | WorkerGroup, *,
                      scored: int = 0, labels: int = 0, timeout: float = 240.0) -> dict[str, int]:
    """Wait until the pipeline has scored `scored` events and finished `labels` labels (see
    `labels_done`), failing at once with the worker's log if it exits; returns the counters."""
    last: dict[str, int] = {}

    def reached() -> bool:
        assert worker.alive(), worker.log_tail()
        last.update(counters(config, redis_url))
        return last.get("scored", 0) >= scored and labels_done(last) >= labels

    wait_until(reached, timeout, f"{scored} events scored and {labels} labels done")
    return last


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example_generator(example: str = "fraud") -> Any:
    """The bundled example's `generate.py` as a module (`.generate(n_events, seed) -> (events, labels)`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"eddy_example_{example}", EXAMPLES / example / "generate.py")
    if spec is None or spec.loader is None:
        raise StreamsError(f"no generator for example {example!r} in {EXAMPLES}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def example_config(dest: Path, pipeline: str, example: str = "fraud", **overrides: Any) -> Path:
    """Write the bundled example's config under another pipeline name, with top-level overrides
    (a dict merges into the section it names); returns the new file's path."""
    import yaml

    raw = yaml.safe_load((EXAMPLES / example / "config.yaml").read_text())
    raw["pipeline"] = pipeline
    raw["event"]["schema"] = str(EXAMPLES / example / raw["event"]["schema"])
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = Path(dest) / f"{pipeline}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """One JSON object per line (creates the folder)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


def read_jsonl(path: Path) -> list[dict]:
    import json

    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def total(rows: Iterable[dict[str, Any]], key: str) -> int:
    return sum(int(r[key]) for r in rows)
