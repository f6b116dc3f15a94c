"""Dead-letter records (`eddy.DlqRecord`, `schemas/avro/dlq.avsc`).

>>> rec = make_dlq_record("fraud", "fraud.events", 0, 42, b"k", b"\\x01garbage", "bad_magic",
...                       "first byte is 0x01", now_ms=1_700_000_000_000)
>>> rec["error_class"], rec["offset"], rec["value"]
('bad_magic', 42, b'\\x01garbage')
"""

from __future__ import annotations

import contextlib
from typing import Any

from schemas.exceptions import ERROR_CLASSES, BadMagicError, TruncatedError
from schemas.failure import DecodeFailure
from schemas.wire import read_header

MAX_REASON_CHARS = 4000
#: the largest id `DlqRecord.schema_id` (an Avro int, ClickHouse Int32) holds
MAX_SCHEMA_ID = 2**31 - 1


def _as_bytes(x: bytes | bytearray | memoryview | str | None) -> bytes | None:
    if x is None:
        return None
    if isinstance(x, str):
        return x.encode("utf-8")
    return bytes(x)


def make_dlq_record(
    pipeline: str,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    value: bytes | str | None,
    error_class: str,
    reason: str,
    now_ms: int,
    schema_id: int | None = None,
) -> dict[str, Any]:
    """A dict matching `DlqRecord`: the original key/value bytes plus where and why it failed.

    `error_class` should be one of `ERROR_CLASSES` (others are accepted, for the worker's own
    classes). A `reason` longer than 4000 characters is cut. Without a `schema_id`, the id in
    the value's Confluent header is recorded, if it has one (a `rule_violation`, a `duplicate`).
    An id beyond `MAX_SCHEMA_ID` (the header's 4 bytes are unsigned: random bytes after a 0x00)
    is left out; the header stays in `value`. Every record it makes encodes: a letter that did not
    would stop the worker at the same message after every restart.

    >>> make_dlq_record("p", "p.events", 0, 7, None, b"\\x00\\x80\\x00\\x00\\x00x", "unknown_schema_id", "?", 1)["schema_id"] is None
    True
    """
    if not reason:
        raise ValueError("a DLQ record needs a human-readable reason")
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 3] + "..."
    # a lone surrogate (a custom model's error message) is no UTF-8: the letter would not encode
    reason = reason.encode("utf-8", "backslashreplace").decode("utf-8")
    raw = _as_bytes(value) or b""
    if schema_id is None:
        with contextlib.suppress(BadMagicError, TruncatedError):  # no header: no id
            schema_id = read_header(raw)
    if schema_id is not None and not 0 <= schema_id <= MAX_SCHEMA_ID:
        schema_id = None  # the header's 4 bytes are unsigned, the letter's field an int: it stays in `value`
    return {
        "pipeline": pipeline,
        "source_topic": source_topic,
        "partition": int(partition),
        "offset": int(offset),
        "key": _as_bytes(key),
        "value": raw,
        "error_class": str(error_class),
        "reason": reason,
        "ts": int(now_ms),
        "schema_id": None if schema_id is None else int(schema_id),
    }


def dlq_record_from_failure(
    pipeline: str,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    value: bytes | str | None,
    failure: DecodeFailure,
    now_ms: int,
) -> dict[str, Any]:
    """`make_dlq_record` from a `DecodeFailure` returned by `AvroCodec.decode_batch`."""
    return make_dlq_record(
        pipeline, source_topic, partition, offset, key, value,
        failure.error_class, failure.reason, now_ms, failure.schema_id,
    )


def is_known_error_class(error_class: str) -> bool:
    """True for the error classes this package defines.

    >>> is_known_error_class("truncated"), is_known_error_class("oops")
    (True, False)
    """
    return error_class in ERROR_CLASSES
