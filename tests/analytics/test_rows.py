import base64

import pytest

from analytics.exceptions import RowError
from analytics.rows import encode_row, json_each_row, key_of, ms_text


def test_ms_text_is_exact():
    assert ms_text(1767225600001) == "1767225600.001"
    assert ms_text(0) == "1970-01-01 00:00:00.000"
    assert ms_text(-1) == "1969-12-31 23:59:59.999"
    assert ms_text(-2_208_988_800_000) == "1900-01-01 00:00:00.000"
    with pytest.raises(RowError, match="1900-2299"):
        ms_text(10_413_792_000_000)


def test_times_before_1970_and_at_the_ends_of_the_range_round_trip(chdb_backend, fresh_db):
    """ClickHouse reads no negative, short or 11-digit seconds text: such a time used to stop the sink."""
    times = [-1, -1500, -2_208_988_800_000, 0, 2000, 999_999_999_999, 10_413_791_999_999, 1767225600001]
    chdb_backend.insert(f"{fresh_db}.labels", [encode_row("labels", {
        "pipeline": "p", "event_id": f"e{i}", "label": 1.0, "label_ts": t}) for i, t in enumerate(times)])
    rows = chdb_backend.query(f"SELECT event_id, toUnixTimestamp64Milli(label_ts) AS ms FROM {fresh_db}.labels FINAL")
    assert sorted(int(r["ms"]) for r in rows) == sorted(times)


def test_encode_dlq_row_base64_and_nulls():
    row = encode_row("dlq", {"pipeline": "p", "source_topic": "p.events", "partition": 0,
                             "offset": 9, "key": None, "value": b"\x00\xff", "error_class": "x",
                             "reason": "r", "ts": 5, "schema_id": None})
    assert row["value"] == base64.b64encode(b"\x00\xff").decode()
    assert row["key"] is None and row["ts"] == "1970-01-01 00:00:00.005"


def test_bad_rows_raise_with_the_column():
    with pytest.raises(RowError, match="lacks"):
        encode_row("labels", {"pipeline": "p"})
    with pytest.raises(RowError, match="unknown column"):
        encode_row("labels", {"pipeline": "p", "event_id": "e", "label": 1.0, "label_ts": 1,
                              "oops": 1})
    with pytest.raises(RowError, match="labels.label"):
        encode_row("labels", {"pipeline": "p", "event_id": "e", "label": "yes", "label_ts": 1})
    with pytest.raises(RowError, match="label_ts"):
        encode_row("labels", {"pipeline": "p", "event_id": "e", "label": 1.0, "label_ts": 1.5})


def test_json_each_row_and_keys():
    assert json_each_row([]) == b""
    assert json_each_row([{"a": 1}, {"a": 2}]) == b'{"a": 1}\n{"a": 2}\n'
    assert key_of("predictions", {"run_id": "r", "model": "m", "event_id": "e"}) == ("r", "m", "e")


def test_one_insert_may_span_more_than_100_days(chdb_backend, fresh_db):
    """Tables are partitioned by day; ClickHouse refuses more than 100 partitions per insert by
    default, which stopped the sink on a backlog of 150 daily events."""
    day = 86_400_000
    chdb_backend.insert(f"{fresh_db}.labels", [encode_row("labels", {
        "pipeline": "p", "event_id": f"e{i}", "label": 1.0, "label_ts": 1735689600000 + i * day}) for i in range(150)])
    assert chdb_backend.query(f"SELECT count() AS n FROM {fresh_db}.labels")[0]["n"] == 150
