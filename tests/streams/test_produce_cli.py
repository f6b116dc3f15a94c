"""`eddy produce` rejects what the worker would dead-letter (schema, the config's rules, labels
the task cannot learn) with line numbers, and `--strict` sends nothing unless every row passes.

Kafka is replaced by a recording producer: these tests are about what is sent, not how."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import streams.cli.produce as produce_cli
from streams.cli.main import app
from streams.harness import example_generator

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "fraud" / "config.yaml"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.topics_created = 0

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def kafka(monkeypatch) -> Recorder:
    rec = Recorder()

    def ensure_topics(servers, layout):
        rec.topics_created += 1

    monkeypatch.setattr(produce_cli, "make_producer", lambda servers: rec)
    monkeypatch.setattr(produce_cli, "ensure_topics", ensure_topics)
    return rec


@pytest.fixture(scope="module")
def day():
    return example_generator("fraud").generate(6, 1)


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(tmp_path: Path, *args: str):
    return CliRunner().invoke(app, ["produce", "-c", str(CONFIG), "--kafka", "unused:9092",
                                    "--registry", str(tmp_path / "registry"), *args])


def test_rule_violations_are_rejected_with_their_line_numbers(tmp_path, kafka, day):
    events, _ = day
    rows = [dict(r) for r in events]
    rows[1]["amount"] = -5.0  # rules.ranges.amount.min: 0
    rows[3]["channel"] = "mail"  # rules.allowed.channel
    rows[4]["amount"] = "12"  # the schema: a double
    result = run(tmp_path, str(write(tmp_path / "events.jsonl", rows)))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "line 2: rejected: rule violation: amount=-5.0 is below min 0" in out
    assert "line 4: rejected: rule violation: channel='mail' is not one of" in out
    assert "line 5: rejected:" in out
    assert "sent 3 record(s) to fraud.events; rejected 3" in out
    assert [key for _t, key, _v in kafka.sent] == [r["card_id"].encode() for i, r in enumerate(rows) if i in (0, 2, 5)]


def test_labels_the_task_cannot_learn_are_rejected(tmp_path, kafka, day):
    _, labels = day
    rows = [dict(r) for r in labels]
    rows[0]["label"] = 2.0  # the fraud task is binary
    result = run(tmp_path, "-t", "labels", str(write(tmp_path / "labels.jsonl", rows)))
    assert result.exit_code == 0, result.output
    assert "line 1: rejected: rule violation: binary label 2.0 is not 0 or 1" in result.output
    assert f"sent {len(rows) - 1} record(s) to fraud.labels; rejected 1" in result.output
    assert {t for t, _k, _v in kafka.sent} == {"fraud.labels"}


def test_strict_sends_nothing_when_any_row_is_rejected(tmp_path, kafka, day):
    events, _ = day
    rows = [dict(r) for r in events]
    rows[2]["amount"] = -1.0
    rows[5]["amount"] = -2.0
    result = run(tmp_path, "--strict", str(write(tmp_path / "events.jsonl", rows)))
    assert result.exit_code == 1, result.output
    assert "line 3: rejected" in result.output and "line 6: rejected" in result.output  # every bad row
    assert "rejected 2 row(s); sent nothing to fraud.events (--strict)" in result.output
    assert kafka.sent == [] and kafka.topics_created == 0


def test_strict_sends_a_clean_file_whole(tmp_path, kafka, day):
    events, _ = day
    result = run(tmp_path, "--strict", str(write(tmp_path / "events.jsonl", events)))
    assert result.exit_code == 0, result.output
    assert f"sent {len(events)} record(s) to fraud.events; rejected 0" in result.output
    assert len(kafka.sent) == len(events)
