import base64

import pytest

from analytics.exceptions import RowError
from analytics.rows import encode_row, json_each_row, key_of, ms_text


def test_ms_text_is_exact():
    assert ms_text(1767225600001) == "1767225600.001"
    assert ms_text(0) == "0.000"


def test_encode_dlq_row_base64_and_nulls():
    row = encode_row("dlq", {"pipeline": "p", "source_topic": "p.events", "partition": 0,
                             "offset": 9, "key": None, "value": b"\x00\xff", "error_class": "x",
                             "reason": "r", "ts": 5, "schema_id": None})
    assert row["value"] == base64.b64encode(b"\x00\xff").decode()
    assert row["key"] is None and row["ts"] == "0.005"


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
