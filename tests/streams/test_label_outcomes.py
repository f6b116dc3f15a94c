"""Orphan labels become `orphan_label` dead letters (with their labels-topic identity) and a log line."""

from __future__ import annotations

import logging

from learners import LearnOutcome
from learners.config import JoinConfig, ModelsConfig
from learners.learner import Learner
from learners.model_set import ModelSet
from streams.label_outcomes import ORPHAN_CLASS, label_counts, orphan_letters


def test_an_orphan_is_a_dead_letter_with_its_position_and_reason(caplog):
    label = {"event_id": "e2", "label": 1.0, "ts": 5}
    outcomes = [LearnOutcome("e1", "learned", {}), LearnOutcome("e2", "orphan", label, detail="no snapshot after 9 ms",
                                                                 position=(3, 41)),
                LearnOutcome("e3", "orphan", {"event_id": "e3"}, detail="pending buffer full")]  # no position
    with caplog.at_level(logging.WARNING, logger="eddy.worker"):
        letters = orphan_letters("p", "p.labels", outcomes, lambda lab: repr(sorted(lab.items())).encode(), 77)
    assert label_counts(outcomes) == {"labels_learned": 1, "labels_orphan": 2}
    [letter] = letters
    assert (letter["source_topic"], letter["partition"], letter["offset"]) == ("p.labels", 3, 41)
    assert letter["error_class"] == ORPHAN_CLASS and letter["key"] == b"e2" and letter["ts"] == 77
    assert letter["value"] == repr(sorted(label.items())).encode()
    assert "no snapshot after 9 ms" in letter["reason"] and "snapshot_ttl" in letter["reason"]
    assert "2 orphan label(s), 1 dead-lettered as orphan_label" in caplog.text
    assert orphan_letters("p", "p.labels", outcomes[:1], bytes, 77) == []


def test_a_waiting_label_keeps_its_position_through_a_checkpoint():
    """The orphan found after a restart still names where its label was read."""
    config = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"})
    learner = Learner(ModelSet(config), JoinConfig(early_label_wait="1s"))
    learner.learn({"event_id": "e1", "label": 1.0, "ts": 5}, None, now_ms=0, partition=2, offset=9)
    other = Learner(ModelSet(config), JoinConfig(early_label_wait="1s"))
    other.load_state(learner.state())
    assert other.state() == learner.state()
    [orphan] = other.expire(now_ms=5_000)
    assert orphan.status == "orphan" and orphan.position == (2, 9)

