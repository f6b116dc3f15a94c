"""Eddy's own contracts load, validate sample records, and `check_all` reports broken files."""

from __future__ import annotations

import pytest

from schemas import (
    BUILTIN_SCHEMAS,
    SchemaLoadError,
    check_all,
    load_avsc,
    load_builtin,
    validation_errors,
)

SAMPLES = {
    "score": dict(event_id="e1", key="k", event_ts=1, model="m", model_version=1, role="champion", shadow=False,
                  prediction=0.5, predicted_label="fraud", served_ts=2, latency_ms=0.4, run_id="live",
                  features={"a": 1.0}, segments={"country": "FR"}, late=False, degraded=False),
    "label": dict(event_id="e1", label=1.0, ts=5, source=None),
    "model_event": dict(pipeline="fraud", run_id="live", model="m", version=2, action="snapshot", ts=3, detail=""),
    "alert": dict(pipeline="fraud", run_id="live", model="m", kind="loss_drift", ts=4, value=0.3, action="none",
                  detail="ADWIN"),
    "dlq": dict(pipeline="fraud", source_topic="fraud.events", partition=0, offset=7, key=None, value=b"\x01",
                error_class="bad_magic", reason="first byte is 0x01", ts=6, schema_id=None),
}
NAMES = {"score": "eddy.Score", "label": "eddy.Label", "model_event": "eddy.ModelEvent", "alert": "eddy.Alert",
         "dlq": "eddy.DlqRecord"}


@pytest.mark.parametrize("name", sorted(BUILTIN_SCHEMAS))
def test_builtin_loads_and_accepts_sample(name):
    schema = load_builtin(name)
    assert schema["name"] == NAMES[name]
    assert validation_errors(SAMPLES[name], schema) == []


def test_record_name_alias():
    assert load_builtin("DlqRecord") is load_builtin("dlq")


def test_score_defaults():
    fields = {f["name"]: f for f in load_builtin("score")["fields"]}
    assert fields["predicted_label"]["default"] is None and fields["degraded"]["default"] is False
    sample = dict(SAMPLES["score"])
    del sample["degraded"], sample["predicted_label"]
    assert validation_errors(sample, load_builtin("score")) == []


def test_unknown_builtin():
    with pytest.raises(SchemaLoadError, match="no built-in schema 'nope'"):
        load_builtin("nope")


def test_check_all_returns_every_schema(tmp_path):
    (tmp_path / "event.avsc").write_text('{"type": "record", "name": "E", "fields": [{"name": "a", "type": "int"}]}')
    out = check_all([tmp_path])
    assert set(BUILTIN_SCHEMAS) <= set(out) and str(tmp_path / "event.avsc") in out


def test_check_all_lists_every_broken_file(tmp_path):
    (tmp_path / "a.avsc").write_text("{not json")
    (tmp_path / "b.avsc").write_text('{"type": "record", "name": "B", "fields": [{"name": "x", "type": "integer"}]}')
    with pytest.raises(SchemaLoadError) as err:
        check_all([tmp_path])
    assert "a.avsc is not valid JSON" in str(err.value) and "b.avsc" in str(err.value)


def test_load_avsc_missing_file(tmp_path):
    with pytest.raises(SchemaLoadError, match="cannot read schema file"):
        load_avsc(tmp_path / "missing.avsc")
