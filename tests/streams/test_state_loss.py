"""A state loss found with a batch's own states flags that very batch (`Processor.mark_state_lost`
called while the batch's state is loaded, `StateGuard.observe`)."""

from __future__ import annotations

from pathlib import Path

from streams.config import load_config
from streams.processor import Source
from streams.state_guard import StateGuard
from streams.wiring import memory_processor
from tests.integration.fixtures import fraud_generator, write_config


class FakeRedis:
    """A fake of the two string commands `StateGuard` uses."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def set(self, key: str, value: str, nx: bool = False) -> bool:
        if nx and key in self.data:
            return False
        self.data[key] = value.encode()
        return True

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)


def test_observe_is_check_on_a_value_read_elsewhere() -> None:
    r = FakeRedis()
    guard = StateGuard(r, "p", refill_ms=60_000)
    guard.start()
    epoch = r.get(guard.key)
    assert guard.observe(epoch, 1) is None
    del r.data[guard.key]  # Redis lost everything
    alert = guard.observe(None, 2)  # as read with a batch's states
    assert alert is not None and alert["kind"] == "state_lost" and alert["value"] == 60_000.0
    assert r.get(guard.key) not in (None, epoch) and guard.observe(r.get(guard.key), 3) is None
    other = StateGuard(r, "p", refill_ms=60_000)
    other.epoch = epoch  # another worker, still on the old marker: it finds the loss too, adopts the new one
    assert other.observe(r.get(guard.key), 4) is not None and other.epoch == guard.epoch


def test_the_batch_that_finds_the_loss_is_flagged(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "state_loss", partitions=1))
    events, _ = fraud_generator().generate(90, seed=3)
    proc = memory_processor(cfg, "run")
    lost_at = 1  # the second batch's load finds the marker gone
    batches = [events[i:i + 30] for i in range(0, 90, 30)]
    calls: list[int] = []
    process = proc.engine.process

    def process_reading_the_marker(batch: list[dict]):  # as the live store's `watch` does, in the load
        calls.append(len(calls))
        if len(calls) - 1 == lost_at:
            proc.mark_state_lost(refill_ms=10**12)  # every later event is within the refill
        return process(batch)

    proc.engine.process = process_reading_the_marker
    flagged = []
    for k, batch in enumerate(batches):
        out = proc.score(batch, [Source("e", 0, 30 * k + i) for i in range(len(batch))], now_ms=10**13)
        flagged.append({r["degraded"] for r in out.scores + out.shadow})
    assert calls == [0, 1, 2]
    assert flagged == [{False}, {True}, {True}]
